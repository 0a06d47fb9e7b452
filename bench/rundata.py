"""run directory -> RunData: what a report, a regression check or a profile reads from ``runs/<run-id>/``.

Reading never writes into the run directory, so that a report (to ``--out`` elsewhere) and a check work on a
read-only run.
"""

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
from bench.metrics.fidelity import ms_ssim_to_db
from bench.metrics.forms import KEY_MS_SSIM_DB_FLOAT, KEY_MS_SSIM_FLOAT, ImageSet

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

    def open_store(self) -> RunStore:
        """The run's store, opened for reading."""
        return open_store(self.store_path)

    def image_set(self, dataset: str) -> ImageSet:
        """The images of one dataset of the run: how many its curves average over, and the ``--limit`` if any."""
        counts = self.curves.loc[self.curves["dataset"] == dataset, "images"]
        limit = next((spec.get("limit") for spec in self.suite_dict.get("datasets", [])
                      if spec.get("name") == dataset), None)
        return ImageSet(dataset, int(counts.max()) if len(counts) else 0, "none", limit)

    def describe_datasets(self) -> str:
        """``kodak: 4 images, --limit 4 (root /data/kodak)`` for every dataset of the run."""
        roots = {spec.get("name"): spec.get("root") for spec in self.suite_dict.get("datasets", [])}
        texts = []
        for dataset in dict.fromkeys(self.curves["dataset"]):
            root = roots.get(dataset)
            texts.append(self.image_set(dataset).text() + (f" (root {root})" if root else ""))
        return "; ".join(texts)

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


def run_id_of(store: RunStore, run_dir: Path) -> str:
    """The run id a run directory's store holds: the directory's name, or the store's only run."""
    ids = store.run_ids()
    if run_dir.name in ids or not ids:
        return run_dir.name
    if len(ids) == 1:
        return ids[0]
    raise BenchError(f"{run_dir / STORE_NAME} holds several runs ({', '.join(ids)}); the directory name should be one")


def open_store(path: Path) -> RunStore:
    """Opens a run store for reading only: the one place a reader (report, check, visual strip) opens it; a
    read-only run directory is read as it is."""
    return RunStore(path, readonly=True)


def derive_curve_columns(curves: pd.DataFrame) -> pd.DataFrame:
    """Adds the columns derived from dataset values that the engine does not write (MS-SSIM in dB, float form)."""
    if KEY_MS_SSIM_FLOAT in curves and KEY_MS_SSIM_DB_FLOAT not in curves:
        curves = curves.copy()
        curves[KEY_MS_SSIM_DB_FLOAT] = curves[KEY_MS_SSIM_FLOAT].map(ms_ssim_to_db)
    return curves


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
    with open_store(store_path) as store:
        run_id = run_id_of(store, run_dir)
        rows = store.rows(run_id)
        curves = derive_curve_columns(store_to_curves(store, run_id, rows))
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
