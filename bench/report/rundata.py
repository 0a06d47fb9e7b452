"""run directory -> RunData: what a report or a regression check reads from ``runs/<run-id>/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.engine.aggregate import store_to_curves
from bench.engine.run import STORE_NAME
from bench.engine.store import RunStore
from bench.engine.suite import SuiteConfig, SuiteError, load_suite
from bench.errors import BenchError

SUITE_FILE = "suite.toml"
ENVIRONMENT_FILE = "environment.json"


@dataclass
class RunData:
    """A run directory's results and metadata.

    Attributes:
        suite: the resolved suite from ``suite.toml`` (None when the file is missing or unreadable).
        suite_dict: the suite as the run store recorded it.
        skipped: components the run could not run (missing checkpoint, data, weights), with the fix.
        codecs: the store's codecs table of this run (label, codec, config_hash, config, versions, description).
        rows: per-image rows of each label's current configuration.
        curves: dataset values per curve point (``bench.engine.aggregate.store_to_curves``).
    """

    run_dir: Path
    run_id: str
    suite: SuiteConfig | None
    suite_dict: dict[str, Any]
    environment: dict[str, Any]
    skipped: list[str]
    codecs: pd.DataFrame
    rows: pd.DataFrame
    curves: pd.DataFrame

    @property
    def store_path(self) -> Path:
        return self.run_dir / STORE_NAME

    def codec_versions(self) -> dict[str, dict[str, Any]]:
        """{label: {"codec", "config_hash", "config", "versions"}} of the run's codecs."""
        found = {}
        for record in self.codecs.to_dict("records"):
            found[record["label"]] = {
                "codec": record["codec"],
                "config_hash": record["config_hash"],
                "config": json.loads(record["config"]),
                "versions": json.loads(record["versions"]),
            }
        return found


def _run_id(store: RunStore, run_dir: Path) -> str:
    ids = sorted(set(store.codecs()["run_id"]))
    if run_dir.name in ids or not ids:
        return run_dir.name
    if len(ids) == 1:
        return ids[0]
    raise BenchError(f"{run_dir / STORE_NAME} holds several runs ({', '.join(ids)}); the directory name should be one")


def load_run(run_dir: Path | str) -> RunData:
    """Reads a run directory written by ``python -m bench run``.

    Raises:
        BenchError: no run store in the directory, or a store without results.
    """
    run_dir = Path(run_dir)
    store_path = run_dir / STORE_NAME
    if not store_path.is_file():
        raise BenchError(f"{run_dir}: no {STORE_NAME}; pass a run directory written by `python -m bench run` "
                         f"(e.g. runs/default-sample)")
    with RunStore(store_path, readonly=True) as store:
        run_id = _run_id(store, run_dir)
        rows = store.rows(run_id)
        curves = store_to_curves(store, run_id, rows)
        codecs = store.codecs(run_id)
        suite_dict = store.meta("suite", {}) or {}
        skipped = list(store.meta("skipped", []) or [])
    if curves.empty:
        raise BenchError(f"{store_path}: the run has no successful results; rerun `python -m bench run`")
    suite = None
    if (run_dir / SUITE_FILE).is_file():
        try:
            suite = load_suite(str(run_dir / SUITE_FILE))
        except SuiteError:
            suite = None
    environment_path = run_dir / ENVIRONMENT_FILE
    try:
        environment = json.loads(environment_path.read_text()) if environment_path.is_file() else {}
    except json.JSONDecodeError:
        environment = {}
    return RunData(run_dir, run_id, suite, suite_dict, environment, skipped, codecs, rows, curves)
