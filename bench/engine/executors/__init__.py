"""Executor registry: where a run's tasks execute. Each entry is written once here; the class's ``name`` must
equal its registry name (a test checks it). A new engine is one module with an :class:`Executor` subclass plus one
line here."""

from bench.engine.execution import EXECUTOR_KINDS, ExecutionConfig
from bench.engine.executors.base import Executor
from bench.engine.plan import Plan
from bench.registry import Registry

executors: Registry = Registry("executor")
executors.add("local", "bench.engine.executors.local:LocalExecutor")
executors.add("process", "bench.engine.executors.process:ProcessExecutor")
executors.add("ray", "bench.engine.executors.ray:RayExecutor")


def open_executor(plan: Plan, config: ExecutionConfig) -> Executor:
    """The executor of ``config`` for ``plan``; a process pool of one worker runs in this process instead."""
    kind = config.kind
    if kind == "process" and config.resolved_workers(plan.suite.device) <= 1:
        kind = "local"
    return executors.get(kind)(plan, config)


__all__ = ["EXECUTOR_KINDS", "ExecutionConfig", "Executor", "executors", "open_executor"]
