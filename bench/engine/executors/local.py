"""The in-process executor: tasks one after another in the driver (debugging, timing, a GPU run)."""

from __future__ import annotations

from typing import Iterable, Iterator

from bench.engine.executors.base import Executor
from bench.engine.measure import ItemResult, Task, run_task


class LocalExecutor(Executor):
    """Runs every task in this process, in order."""

    name = "local"

    def map(self, tasks: Iterable[Task]) -> Iterator[ItemResult]:
        for task in tasks:
            yield from run_task(self.plan, task)

    def describe(self) -> dict:
        return {**super().describe(), "workers": 1}
