"""The Ray executor: a run's tasks across the cores, GPUs and machines of a Ray cluster (Ray Core: tasks + actors).

- Items of classical codecs scored by metrics without networks run as Ray **tasks** (``num_cpus=1``, retried with
  ``max_retries`` when a worker process is lost).
- Items of learned codecs, and items scored by network metrics (task networks, LPIPS, DISTS, FID), run on
  long-lived **actors**, at most ``workers`` per codec: each builds its plan once (loading the checkpoint and the
  networks once) and serves many tasks; an actor whose process dies is restarted (``max_restarts``) and its
  unfinished calls are retried (``max_task_retries``). On a CUDA run each actor holds ``num_gpus`` (default 1; a
  fraction shares a GPU). On the CPU actors keep Ray's default accounting (one CPU to be placed, none held while
  alive) and run torch with ``num_cpus`` threads: actors that held CPUs for the whole run would starve the tasks
  waiting for those CPUs.
- The driver is the only writer of the run store: results are drained with ``ray.wait`` in completion order, at
  most ``2 x slots`` tasks are in flight (memory stays flat on a 50,000-image dataset), and each item is committed as
  it arrives. A retried task returns one result, so nothing is stored twice; ``kill -9`` of the driver and a rerun
  resume exactly as with the local executors.
- What reaches a worker: the suite (once, through the object store), then per task the plan indices of one image
  and one codec (and, to re-score, the stored bitstreams). Workers read the datasets and checkpoints by the paths in
  the suite, so every node needs them at the same path (a shared file system), or sets ``MPA_BENCH_NODE_DATA_ROOT``
  to its own copy of the data; a copy whose pixels differ fails its items (the image digest is checked on the node).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import socket
from typing import Any, Iterable, Iterator

from bench.codecs.learned import LearnedCodec
from bench.engine.execution import ExecutionConfig
from bench.engine.executors.base import Executor, bounded_map
from bench.engine.measure import ItemResult, Task, run_task
from bench.engine.plan import Plan, build_plan
from bench.engine.suite import SuiteConfig
from bench.errors import BenchError

log = logging.getLogger(__name__)

NODE_DATA_ROOT_ENV = "MPA_BENCH_NODE_DATA_ROOT"
INSTALL_HINT = 'the ray executor needs Ray: pip install -e ".[ray]" (or pip install "ray==2.60.*")'
TASK_RETRIES = 3
ACTOR_RESTARTS = 3

# Plans built in this worker process, by (suite digest, run id, codec label or None): a Ray worker process serves
# many tasks of one run and builds the plan (datasets, codecs, metrics) once.
_plans: dict[tuple, Plan] = {}


def worker_plan(suite: SuiteConfig, run_id: str, label: str | None = None) -> Plan:
    """The plan a worker measures with: the suite's (only codec ``label`` when given, so that an actor loads only
    its own checkpoint), with this node's data root when ``MPA_BENCH_NODE_DATA_ROOT`` is set."""
    key = (suite.digest(), run_id, label)
    if key not in _plans:
        node_root = os.environ.get(NODE_DATA_ROOT_ENV)
        if node_root:
            suite = dataclasses.replace(suite, datasets=tuple(dataclasses.replace(spec, root=node_root)
                                                              for spec in suite.datasets))
        if label is not None:
            suite = dataclasses.replace(suite, codecs=tuple(spec for spec in suite.codecs if spec.label == label))
        logging.getLogger().setLevel(logging.ERROR)  # the driver already reported what was skipped
        _plans[key] = build_plan(suite, run_id)
    return _plans[key]


def _measure(suite: SuiteConfig, run_id: str, label: str | None, task: Task) -> list[ItemResult]:
    plan = worker_plan(suite, run_id, label)
    if label is not None:  # the actor's plan holds one codec
        task = dataclasses.replace(task, codec_index=0)
    return list(run_task(plan, task))


class MeasureActor:
    """A long-lived worker holding one codec's model (or the metric networks) for the whole run."""

    def __init__(self, suite: SuiteConfig, run_id: str, label: str | None, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.suite, self.run_id, self.label = suite, run_id, label
        worker_plan(suite, run_id, label)  # load checkpoint and networks now, once

    def measure(self, task: Task) -> list[ItemResult]:
        return _measure(self.suite, self.run_id, self.label, task)

    def plans_built(self) -> int:
        """Plans (each loading the codec's checkpoint and the networks once) built in this actor's process."""
        return len(_plans)


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise BenchError(INSTALL_HINT) from error
    return ray


def _check_reachable(address: str) -> None:
    """A ``HOST:PORT`` that does not answer is reported at once, not after Ray's long connection retries."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise BenchError(f"--ray-address must be 'auto' or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5.0).close()
    except OSError as error:
        raise BenchError(f"no Ray cluster answers at {address} ({error.strerror or error}); start one with "
                         f"`ray start --head` there, or omit --ray-address for a local one") from error


class RayExecutor(Executor):
    """Runs tasks on a Ray cluster (see the module docstring)."""

    name = "ray"

    def __init__(self, plan: Plan, config: ExecutionConfig):
        super().__init__(plan, config)
        self.ray = _import_ray()
        self._started = False
        self._connect()
        cuda = plan.suite.device.startswith("cuda")
        self.num_cpus = float(config.resources.get("num_cpus", 1))
        self.num_gpus = float(config.resources.get("num_gpus", 1 if cuda else 0))
        self.workers = config.workers or self._slots()
        self._suite_ref = self.ray.put(plan.suite)
        self._actors: dict[str | None, list[Any]] = {}
        self._task = self.ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                     max_retries=TASK_RETRIES)(_measure)
        held = {"num_gpus": self.num_gpus} if self.num_gpus else {}
        self._actor_class = self.ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=TASK_RETRIES,
                                            **held)(MeasureActor)

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        address = self.config.ray_address
        if address and address != "auto":
            _check_reachable(address)
        try:
            if address:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
            else:
                workers = self.config.workers or os.cpu_count() or 1
                ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR,
                         log_to_driver=False)
        except ConnectionError as error:
            raise BenchError(f"cannot join the Ray cluster at {address}: {error}; start one with `ray start --head`, "
                             f"or omit --ray-address for a local one") from error
        self._started = True

    def _slots(self) -> int:
        """How many tasks the cluster runs at once with this executor's per-worker resources."""
        resources = self.ray.cluster_resources()
        by_cpu = int(resources.get("CPU", 1) // max(self.num_cpus, 1e-9)) if self.num_cpus else 1 << 30
        by_gpu = int(resources.get("GPU", 0) // self.num_gpus) if self.num_gpus else 1 << 30
        return max(1, min(by_cpu, by_gpu))

    def _actor_group(self, task: Task) -> tuple[bool, str | None]:
        """(whether the task runs on an actor, its group: a learned codec's label, or None for network metrics)."""
        job = self.plan.codecs[task.codec_index]
        if isinstance(job.codec, LearnedCodec):
            return True, job.label
        return any(self.plan.metrics[name].holds_network for name in task.metrics), None

    def _submit(self, task: Task, turns: dict) -> Any:
        on_actor, group = self._actor_group(task)
        if not on_actor:
            return self._task.remote(self._suite_ref, self.plan.run_id, None, task)
        actors = self._actors.setdefault(group, [])
        if len(actors) < self.workers:  # created on first use, at most `workers` per group, then round-robin
            actors.append(self._actor_class.remote(self.plan.suite, self.plan.run_id, group,
                                                   max(1, int(self.num_cpus))))
        turn = turns.setdefault(group, itertools.count())
        return actors[next(turn) % len(actors)].measure.remote(task)

    def map(self, tasks: Iterable[Task]) -> Iterator[ItemResult]:
        ray = self.ray
        turns: dict = {}

        def wait_one(pending: list[Any]) -> tuple[list[ItemResult], list[Any]]:
            done, still = ray.wait(pending, num_returns=1)
            try:
                return ray.get(done[0]), still
            except ray.exceptions.RayError as error:
                raise BenchError(f"a Ray worker failed beyond its retries ({type(error).__name__}: "
                                 f"{str(error).splitlines()[0]}); every item stored so far is kept: rerun to "
                                 f"resume") from error

        yield from bounded_map(tasks, 2 * self.workers, lambda task: self._submit(task, turns), wait_one)

    def describe(self) -> dict[str, Any]:
        ray = self.ray
        nodes = [{"host": node.get("NodeManagerHostname"), "address": node.get("NodeManagerAddress"),
                  "resources": node.get("Resources", {})} for node in ray.nodes() if node.get("Alive")]
        return {**super().describe(), "ray_version": ray.__version__, "num_cpus": self.num_cpus,
                "num_gpus": self.num_gpus, "cluster_resources": ray.cluster_resources(), "nodes": nodes}

    def close(self) -> None:
        for actors in self._actors.values():
            for actor in actors:
                self.ray.kill(actor)
        self._actors.clear()
        if self._started:
            self.ray.shutdown()
