"""suite -> run directories: plan every experiment, execute each against its run store, export, and summarise."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.atomic import write_text_atomic
from bench.engine.aggregate import aggregation_notes, store_to_curves
from bench.engine.environment import describe_environment
from bench.engine.execution import ExecutionConfig
from bench.engine.export import export_run
from bench.engine.lock import RunLock
from bench.engine.plan import NothingToRun, Plan, build_plan
from bench.engine.runner import RunOutcome, execute
from bench.engine.store import STORE_NAME, RunStore, move_aside
from bench.engine.suite import SuiteConfig, check_name, suite_to_toml
from bench.errors import BenchError

log = logging.getLogger(__name__)

LOCAL = ExecutionConfig(kind="local")


@dataclass
class RunResult:
    """One run directory after a run: its plan, what was done, the curves and the exported files.

    Attributes:
        notes: how the aggregation handled unusual values (infinite PSNR, images whose headers dominate bpp).
    """

    run_dir: Path
    plan: Plan
    outcome: RunOutcome
    curves: pd.DataFrame
    exported: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def prepare_run_dir(runs_dir: Path, run_id: str) -> Path:
    """``runs_dir/run_id``, created; refuses a run id that leaves ``runs_dir`` and a directory it cannot write.

    Raises:
        BenchError: ``runs_dir`` is a file, the run id is not a plain name, or the directory is read-only.
    """
    runs_dir = Path(runs_dir)
    check_name(run_id, "run id")
    if runs_dir.exists() and not runs_dir.is_dir():
        raise BenchError(f"--runs-dir {runs_dir} is a file, not a directory; pass a folder for run directories")
    run_dir = runs_dir / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BenchError(f"cannot create the run directory {run_dir}: {error.strerror}; pass a writable --runs-dir") \
            from error
    if not os.access(run_dir, os.W_OK):
        raise BenchError(f"run directory {run_dir} is read-only: `run` writes results there; `report RUN --out DIR` "
                         f"and `check RUN` read it as it is, or pass a writable --runs-dir to run")
    return run_dir


def run_suite(
    suite: SuiteConfig, runs_dir: Path = Path("runs"), run_id: str | None = None, fresh: bool = False,
    progress: bool = True, execution: ExecutionConfig | None = None, plan: Plan | None = None,
) -> RunResult:
    """Runs a plain suite into ``runs_dir/<run-id>/``, reusing every item already stored there unless ``fresh``.

    With a parallel executor, encode/decode times include the contention between workers (use the ``local``
    executor, or ``bench profile``, for latency figures).

    Args:
        fresh: move the existing run store aside (``results.sqlite.<time>.bak``) and start over.
        execution: where the tasks run; default: the suite's ``[execution]``, else in this process.
        plan: the suite's plan when already built (:func:`plan_suites`); its skipped list is then not logged again.

    Raises:
        BenchError: bad run directory, another run holding it, a damaged store, a full disk; results stored before
            are kept.
    """
    if plan is None:
        plan = build_plan(suite, run_id)
        for line in plan.skipped:
            log.warning("skipped %s", line)
    execution = (execution or suite.execution or LOCAL).validate()
    run_dir = prepare_run_dir(runs_dir, plan.run_id)
    with RunLock(run_dir):
        if fresh:
            moved = move_aside(run_dir / STORE_NAME)
            if moved is not None:
                log.info("moved the previous run store aside to %s", moved)
        write_text_atomic(run_dir / "suite.toml", suite_to_toml(suite))
        write_environment(run_dir, plan, execution.to_dict())
        with RunStore(run_dir / STORE_NAME) as store:
            store.set_meta("suite", suite.to_dict())
            store.set_meta("skipped", plan.skipped)
            outcome = execute(plan, store, progress=progress, execution=execution)
            write_environment(run_dir, plan, outcome.executor)
            rows = store.rows(plan.run_id)
            curves = store_to_curves(store, plan.run_id, rows)
            exported = export_run(run_dir, rows, curves, store.codecs(plan.run_id),
                                  store.metric_configs(plan.run_id),
                                  {job.spec.name: (job.spec.limit, job.dataset.preprocessing) for job in plan.datasets},
                                  f"mpa-bench run {plan.run_id}")
    return RunResult(run_dir, plan, outcome, curves, exported, aggregation_notes(rows))


def write_environment(run_dir: Path, plan: Plan, executor: dict) -> None:
    environment = describe_environment(
        {job.label: {"codec": job.spec.codec, "config_hash": job.config_hash, "versions": job.codec.versions(),
                     "code_version": type(job.codec).code_version, "provenance": job.codec.provenance()}
         for job in plan.codecs},
        {name: {"config_hash": plan.metric_hashes[name], "config": metric.config(), "versions": metric.versions(),
                "provenance": metric.provenance()} for name, metric in plan.metrics.items()},
        executor,
    )
    write_text_atomic(run_dir / "environment.json", json.dumps(environment, indent=2, default=str) + "\n")


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
    suite.validate()
    if suite.experiments and run_id:
        raise BenchError(f"--run-id names one run directory; suite {suite.name!r} has {len(suite.experiments)} "
                         f"experiments, each written to <runs-dir>/<suite>-<experiment>-<datasets>")
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


def run_suites(planned: list[PlannedSuite], runs_dir: Path = Path("runs"), run_id: str | None = None,
               fresh: bool = False, progress: bool = True, execution: ExecutionConfig | None = None
               ) -> list[RunResult]:
    """Runs every planned experiment that can run, one after another, each into its own run directory."""
    return [run_suite(item.suite, runs_dir, run_id, fresh=fresh, progress=progress, execution=execution,
                      plan=item.plan)
            for item in planned if item.plan is not None]
