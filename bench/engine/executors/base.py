"""The executor interface: tasks in, item results out in completion order, the driver the only writer of the store.

An executor runs :func:`bench.engine.measure.run_task` somewhere (in this process, in a pool of local processes, on
a Ray cluster) and yields every :class:`~bench.engine.measure.ItemResult` as it completes. It pulls tasks from the
iterable lazily and keeps a bounded number in flight, so memory stays flat however long the dataset. Executors are
registered by name (``bench.engine.executors.executors``); a new engine is one module with one class.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator

from bench.engine.measure import ItemResult, Task
from bench.engine.plan import Plan

EXECUTOR_KINDS = ("local", "process", "ray")


@dataclass(frozen=True)
class ExecutionConfig:
    """Where and how widely a run's tasks execute.

    Attributes:
        kind: ``local`` (this process), ``process`` (a pool of local processes) or ``ray`` (a Ray cluster).
        workers: parallel workers (processes, or Ray tasks/actors in flight per resource); None: one per core on the
            CPU (up to 8), one on a GPU.
        ray_address: the cluster to join (``auto``, ``HOST:PORT``); None starts a local Ray instance.
        resources: per-worker resources for Ray (``num_cpus``, ``num_gpus``; a fraction shares a GPU).
    """

    kind: str = "process"
    workers: int | None = None
    ray_address: str | None = None
    resources: dict[str, float] = field(default_factory=dict)

    def resolved_workers(self, device: str) -> int:
        if self.workers is not None:
            return self.workers
        return 1 if device.startswith("cuda") else max(1, min(os.cpu_count() or 1, 8))

    def describe(self) -> dict[str, Any]:
        """What environment.json records."""
        return {"kind": self.kind, "workers": self.workers, "ray_address": self.ray_address,
                "resources": dict(self.resources)}


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
        return {**self.config.describe(), "workers": self.workers}

    def close(self) -> None:
        """Releases workers; called on exit, also after an error."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
