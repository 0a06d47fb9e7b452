"""The executor interface: tasks in, item results out in completion order, the driver the only writer of the store.

An executor runs :func:`bench.engine.measure.run_task` somewhere (in this process, in a pool of local processes, on
a Ray cluster) and yields every :class:`~bench.engine.measure.ItemResult` as it completes. It pulls tasks from the
iterable lazily and keeps a bounded number in flight, so memory stays flat however long the dataset. Executors are
registered by name (``bench.engine.executors.executors``); a new engine is one module with one class.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar, Iterable, Iterator, TypeVar

from bench.engine.execution import ExecutionConfig
from bench.engine.measure import ItemResult, Task
from bench.engine.plan import Plan

Handle = TypeVar("Handle")


def bounded_map(tasks: Iterable[Task], limit: int, submit: Callable[[Task], Handle],
                wait_one: Callable[[list[Handle]], tuple[list[ItemResult], list[Handle]]]) -> Iterator[ItemResult]:
    """Keeps at most ``limit`` tasks in flight: pulls tasks lazily, ``submit`` starts one (returning a handle), and
    ``wait_one(pending)`` blocks until some finish, returning their results and the handles still pending."""
    pending: list[Handle] = []
    source = iter(tasks)
    exhausted = False
    while True:
        while not exhausted and len(pending) < limit:
            task = next(source, None)
            if task is None:
                exhausted = True
            else:
                pending.append(submit(task))
        if not pending:
            return
        results, pending = wait_one(pending)
        yield from results


class Executor(abc.ABC):
    """Runs tasks of one plan; use as a context manager so that workers are released.

    Args:
        plan: the run's plan (workers build their own copy from ``plan.suite`` and ``plan.run_id``).
        config: the execution settings.
    """

    name: ClassVar[str]

    def __init__(self, plan: Plan, config: ExecutionConfig):
        self.plan = plan
        self.config = config
        self.workers = config.resolved_workers(plan.suite.device)

    @abc.abstractmethod
    def map(self, tasks: Iterable[Task]) -> Iterator[ItemResult]:
        """Yields the results of every task, in completion order, pulling tasks lazily."""

    def describe(self) -> dict[str, Any]:
        """The executor as environment.json records it (kind, workers, and for Ray the cluster)."""
        return {**self.config.to_dict(), "kind": self.name, "workers": self.workers}

    def close(self) -> None:
        """Releases workers; called on exit, also after an error."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
