"""Where and how widely a run's tasks execute: one dataclass, set by the suite's ``[execution]`` table and the CLI
(``--executor``, ``--workers``, ``--ray-address``), read by the executors (:mod:`bench.engine.executors`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError

EXECUTOR_KINDS = ("local", "process", "ray")
RESOURCE_KEYS = ("num_cpus", "num_gpus")


@dataclass(frozen=True)
class ExecutionConfig:
    """Where and how widely a run's tasks execute.

    Attributes:
        kind: ``local`` (this process), ``process`` (a pool of local processes) or ``ray`` (a Ray cluster).
        workers: parallel workers (processes; for Ray, tasks or actors running at once); None: one per core on the
            CPU (up to 8) and one on a GPU, or for Ray what the cluster offers.
        ray_address: the Ray cluster to join (``auto``, ``HOST:PORT``); None starts a local Ray instance.
        resources: what each Ray worker reserves: ``num_cpus`` (default 1), ``num_gpus`` (default 1 on CUDA; a
            fraction shares a GPU between workers).
    """

    kind: str = "process"
    workers: int | None = None
    ray_address: str | None = None
    resources: dict[str, float] = field(default_factory=dict)

    def validate(self) -> "ExecutionConfig":
        if self.kind not in EXECUTOR_KINDS:
            raise BenchError(f"executor must be one of {', '.join(EXECUTOR_KINDS)}, got {self.kind!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise BenchError(f"workers must be a whole number >= 1, got {self.workers!r}")
        unknown = sorted(set(self.resources) - set(RESOURCE_KEYS))
        if unknown:
            raise BenchError(f"execution resources: unknown {', '.join(unknown)} (known: {', '.join(RESOURCE_KEYS)})")
        for key, value in self.resources.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise BenchError(f"execution resources: {key} must be a number >= 0, got {value!r}")
        if self.ray_address is not None and self.kind != "ray":
            raise BenchError("a Ray address is given but the executor is not ray (pass --executor ray)")
        return self

    def resolved_workers(self, device: str) -> int:
        """Workers of a local pool: as given, else one per core on the CPU (up to 8), one on a GPU."""
        if self.workers is not None:
            return self.workers
        return 1 if device.startswith("cuda") else max(1, min(os.cpu_count() or 1, 8))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "ray_address": self.ray_address,
                "resources": dict(self.resources)}
