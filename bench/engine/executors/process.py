"""The process-pool executor: tasks across local worker processes (``spawn``), each with its own copy of the plan.

Workers exit with their parent (a watchdog thread polls the parent pid the parent handed over), so ``kill -9`` of a
run leaves no orphans; torch threads are split between workers. At most ``2 x workers`` tasks are in flight, so the
driver never holds more than that many pending tasks (or re-scoring bitstreams) at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator

import torch

from bench.engine.executors.base import Executor, bounded_map
from bench.engine.measure import ItemResult, Task, run_task
from bench.engine.plan import Plan, build_plan
from bench.engine.suite import SuiteConfig
from bench.errors import BenchError

_worker_plan: Plan | None = None


def _exit_with_parent(parent_pid: int) -> None:
    """Ends a worker whose parent died (e.g. ``kill -9``): pool workers would otherwise wait forever."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def _start_worker(parent_pid: int, suite: SuiteConfig, run_id: str, threads: int) -> None:
    global _worker_plan
    # The parent's pid comes from the parent: if it died while this worker was starting, getppid() already names
    # another process and the watchdog ends the worker at once.
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    logging.getLogger().setLevel(logging.ERROR)  # the parent already reported what was skipped
    torch.set_num_threads(threads)
    _worker_plan = build_plan(suite, run_id)


def _run_in_worker(task: Task) -> list[ItemResult]:
    assert _worker_plan is not None
    return list(run_task(_worker_plan, task))


class WorkerDied(BenchError):
    """A worker process ended without returning its task (killed, or out of memory)."""


class ProcessExecutor(Executor):
    """Runs tasks in a pool of ``workers`` spawned processes."""

    name = "process"

    def __init__(self, plan: Plan, config):
        super().__init__(plan, config)
        self.threads = max(1, torch.get_num_threads() // self.workers)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, tasks: Iterable[Task]) -> Iterator[ItemResult]:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, context, _start_worker,
                                         (os.getpid(), self.plan.suite, self.plan.run_id, self.threads))

        def wait_one(pending: list[Future]) -> tuple[list[ItemResult], list[Future]]:
            done, still = wait(pending, return_when=FIRST_COMPLETED)
            return [result for future in done for result in future.result()], list(still)

        try:
            yield from bounded_map(tasks, 2 * self.workers, lambda task: self._pool.submit(_run_in_worker, task),
                                   wait_one)
        except BrokenProcessPool as error:
            raise WorkerDied("a worker process died before finishing its image (killed, or out of memory); every "
                             "item stored so far is kept: rerun the same command to resume") from error

    def describe(self) -> dict:
        return {**super().describe(), "torch_threads_per_worker": self.threads}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
