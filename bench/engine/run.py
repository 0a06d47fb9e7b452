"""suite -> run directory: build the plan, execute it against the run store, export, and summarise."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.atomic import write_text_atomic
from bench.engine.aggregate import store_to_curves
from bench.engine.environment import describe_environment
from bench.engine.export import export_run
from bench.engine.plan import NothingToRun, Plan, build_plan
from bench.engine.runner import RunOutcome, execute
from bench.engine.store import RunStore
from bench.engine.suite import SuiteConfig, suite_to_toml

log = logging.getLogger(__name__)

STORE_NAME = "results.sqlite"


@dataclass
class RunResult:
    run_dir: Path
    plan: Plan
    outcome: RunOutcome
    curves: pd.DataFrame
    exported: list[Path] = field(default_factory=list)


def default_workers(device: str) -> int:
    """One process per core on the CPU (up to 8); one process on a GPU."""
    return 1 if device.startswith("cuda") else max(1, min(os.cpu_count() or 1, 8))


def run_suite(
    suite: SuiteConfig, runs_dir: Path = Path("runs"), run_id: str | None = None, fresh: bool = False,
    progress: bool = True, workers: int = 1, plan: Plan | None = None,
) -> RunResult:
    """Runs a suite into ``runs_dir/<run-id>/``, reusing every item already stored there unless ``fresh``.

    With ``workers > 1`` items are measured in parallel processes; encode/decode times then include the
    contention between them (use one worker, or ``bench profile``, for latency figures).

    Args:
        plan: the suite's plan when already built (:func:`plan_suites`); its skipped list is then not logged again.
    """
    if plan is None:
        plan = build_plan(suite, run_id)
        for line in plan.skipped:
            log.warning("skipped %s", line)
    run_dir = Path(runs_dir) / plan.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "suite.toml", suite_to_toml(suite))
    environment = describe_environment({job.label: job.codec.versions() for job in plan.codecs})
    environment["workers"] = workers
    write_text_atomic(run_dir / "environment.json", json.dumps(environment, indent=2) + "\n")
    with RunStore(run_dir / STORE_NAME) as store:
        if fresh:
            store.clear(plan.run_id)
        store.set_meta("suite", suite.to_dict())
        store.set_meta("skipped", plan.skipped)
        outcome = execute(plan, store, progress=progress, workers=workers)
        curves = store_to_curves(store, plan.run_id)
        exported = export_run(run_dir, store.rows(plan.run_id), curves, store.codecs(plan.run_id))
    return RunResult(run_dir, plan, outcome, curves, exported)


@dataclass
class PlannedSuite:
    """One plain suite of a (possibly multi-experiment) suite, with its plan, or why nothing of it can run."""

    suite: SuiteConfig
    plan: Plan | None
    skipped: list[str]


def plan_suites(suite: SuiteConfig, run_id: str | None = None) -> list[PlannedSuite]:
    """Plans every experiment of ``suite`` up front, so that what cannot run is known before any work starts.

    An experiment where nothing can run (no codec or no dataset available) is kept with ``plan=None`` and the
    reasons; the others run.

    Raises:
        NothingToRun: a plain suite (no experiments) of which nothing can run.
    """
    plains = suite.expand()
    if not suite.experiments:
        plan = build_plan(plains[0], run_id)
        return [PlannedSuite(plains[0], plan, list(plan.skipped))]
    planned = []
    for plain in plains:
        try:
            plan = build_plan(plain, run_id)
        except NothingToRun as error:
            lines = [f"{plain.name}: {line}" for line in error.skipped]
            planned.append(PlannedSuite(plain, None, [f"{plain.name}: nothing can run", *lines]))
        else:
            planned.append(PlannedSuite(plain, plan, [f"{plain.name}: {line}" for line in plan.skipped]))
    return planned
