"""The in-process executor: tasks one after another in the driver (debugging, timing, a GPU run)."""

from __future__ import annotations

from typing import Iterable, Iterator

from bench.engine.executors.base import Executor
from bench.engine.measure import ItemResult, Task, run_task


class LocalExecutor(Executor):
    """Runs every task in this process, in order."""

    name = "local"

    def __init__(self, plan, config):
        super().__init__(plan, config)
        self.workers = 1

    def map(self, tasks: Iterable[Task]) -> Iterator[ItemResult]:
        for task in tasks:
            yield from run_task(self.plan, task)
