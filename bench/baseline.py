"""Baseline files of ``bench check``: where they live, what they hold, reading and writing them.

A baseline (schema ``mpa-bench/baseline/1``) holds a run's curves in a CompressAI-like form, the tolerances, and
what produced them (suite digest, each codec's config hash, config and library versions, the package versions)::

    {
      "schema": "mpa-bench/baseline/1", "name": "default-sample", "run_id": "default-sample", "created": "...",
      "suite": {"name": "default", "digest": "..."}, "datasets": ["sample"],
      "environment": {"mpa_bench": "0.1.0", "python": "3.11.2", "packages": {...}},
      "codecs": {"jpeg": {"codec": "jpeg", "config_hash": "...", "config": {...}, "versions": {...}}, ...},
      "tolerance": {"bpp_percent": 1.0, "bd_rate_percent": 1.0, "metrics": {"psnr-rgb": 0.05, ...}},
      "definitions": {"bpp": "file", "payload-bpp": "payload", "psnr-rgb": "8-bit", "psnr-float": "float", ...},
      "curves": [{"dataset": "sample", "codec": "jpeg", "variant": "default", "images": 7, "limit": null,
                  "results": {"point": [...], "bpp": [...], "payload-bpp": [...], "psnr-rgb": [...], ...}}, ...]
    }

Where (:func:`default_baseline_path`): ``--baseline FILE`` (or a run directory: its ``baseline.json``); else
``<baselines folder>/<suite>-<datasets>.json``, the folder being ``$MPA_BENCH_BASELINES``, or ``results/baselines``
of a source checkout. An installed package never writes into itself: without a checkout or the variable, the
baseline is ``RUN/baseline.json``, in the run. Names are confined to the folder (path separators and ``..`` in a
suite or dataset name are replaced).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from bench.atomic import write_text_atomic
from bench.engine.aggregate import metric_columns
from bench.errors import BenchError
from bench.metrics.forms import KEY_MS_SSIM_DB_FLOAT, RATE_KEYS, reconstruction_form
from bench.metrics.semantics import metric_spec
from bench.rundata import RunData
from bench.schema import KEY_BPP, KEY_MS_SSIM_DB

SCHEMA = "mpa-bench/baseline/1"
BASELINES_ENV = "MPA_BENCH_BASELINES"
RUN_BASELINE = "baseline.json"
_CHECKOUT = Path(__file__).resolve().parents[1]
RATE_COLUMNS = tuple(RATE_KEYS.values())  # bpp (file), payload-bpp (payload): relative tolerance, lower is better

# Default per-point tolerance of a metric, by the unit its spec declares (absolute, in that unit).
TOLERANCE_BY_UNIT = {"dB": 0.05, "%": 0.1, "": 0.001}
DEFAULT_BPP_PERCENT = 1.0
DEFAULT_BD_RATE_PERCENT = 1.0



class BaselineError(BenchError):
    """A baseline that cannot be read or must not be written."""


def _source_checkout() -> Path | None:
    """The repository this package runs from (a checkout with pyproject.toml), or None for an installed package."""
    return _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "bench").is_dir() else None


def baselines_dir() -> Path | None:
    """``$MPA_BENCH_BASELINES``, else the checkout's ``results/baselines``, else None (an installed package)."""
    override = os.environ.get(BASELINES_ENV)
    if override:
        return Path(override).expanduser()
    checkout = _source_checkout()
    return checkout / "results" / "baselines" if checkout is not None else None


def _safe_name(text: str) -> str:
    """A file name made of ``text`` that stays in its folder: no path separators, no leading dots, no ``..``."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", text)
    name = re.sub(r"\.{2,}", "_", name).lstrip(".")
    return name or "baseline"


def baseline_name(run: RunData) -> str:
    """``<suite>-<datasets>`` (datasets joined by ``+``), e.g. ``default-sample``, ``default-kodak``."""
    suite = run.suite_dict.get("name") or (run.suite.name if run.suite else run.run_id)
    datasets = "+".join(dict.fromkeys(str(d) for d in run.curves["dataset"]))
    return _safe_name(f"{suite}-{datasets}")


def default_baseline_path(run: RunData) -> Path:
    """Where ``check`` looks for, and ``--update`` writes, the run's baseline (see the module docstring)."""
    folder = baselines_dir()
    if folder is None:
        return run.run_dir / RUN_BASELINE
    path = folder / f"{baseline_name(run)}.json"
    if path.resolve().parent != folder.resolve():
        raise BaselineError(f"baseline name {path.name!r} leaves {folder}; rename the suite or pass --baseline FILE")
    return path


def resolve_baseline_path(given: Path | None, run: RunData) -> Path:
    """``--baseline``: a file, or a run directory (its ``baseline.json``); else :func:`default_baseline_path`."""
    if given is None:
        return default_baseline_path(run)
    return given / RUN_BASELINE if given.is_dir() else given


@dataclass(frozen=True)
class Tolerance:
    """Allowed movement: ``metrics`` absolute per metric key (others by unit), bpp and BD-rate in percent."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    bpp_percent: float = DEFAULT_BPP_PERCENT
    bd_rate_percent: float = DEFAULT_BD_RATE_PERCENT

    def metric(self, key: str) -> float:
        if key in self.metrics:
            return float(self.metrics[key])
        spec = metric_spec(key)
        return TOLERANCE_BY_UNIT.get(spec.unit if spec else "", TOLERANCE_BY_UNIT[""])

    def resolved(self, keys: Sequence[str]) -> "Tolerance":
        """The same tolerance with every key's value written out (what a baseline file stores)."""
        return replace(self, metrics={key: self.metric(key) for key in keys if key not in RATE_COLUMNS})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Tolerance":
        """Reads a baseline's ``tolerance`` block.

        Raises:
            BaselineError: values that are not numbers.
        """
        data = data or {}
        try:
            metrics = {str(key): float(value) for key, value in dict(data.get("metrics", {})).items()}
            return cls(metrics, float(data.get("bpp_percent", DEFAULT_BPP_PERCENT)),
                       float(data.get("bd_rate_percent", DEFAULT_BD_RATE_PERCENT)))
        except (TypeError, ValueError, AttributeError) as error:
            raise BaselineError(f"the baseline's tolerance block is malformed ({error}); regenerate it with "
                                f"`python -m bench check RUN --update`") from error


def parse_tolerances(values: Sequence[str], base: Tolerance = Tolerance()) -> Tolerance:
    """Applies ``--tolerance`` options: ``psnr-rgb=0.1`` (metric units), ``bpp=2%``, ``bd-rate=0.5%``.

    Raises:
        BenchError: a malformed option or an unknown metric key.
    """
    metrics, bpp, bd = dict(base.metrics), base.bpp_percent, base.bd_rate_percent
    for value in values:
        key, sep, number = value.partition("=")
        try:
            amount = float(number.strip().rstrip("%"))
        except ValueError:
            amount = math.nan
        if not sep or not key or not math.isfinite(amount) or amount < 0:
            raise BenchError(f"--tolerance expects KEY=VALUE with VALUE >= 0 (psnr-rgb=0.05, bpp=1%, bd-rate=1%), "
                             f"got {value!r}")
        if key == KEY_BPP:
            bpp = amount
        elif key == "bd-rate":
            bd = amount
        elif metric_spec(key) is not None:
            metrics[key] = amount
        else:
            raise BenchError(f"--tolerance {value!r}: {key!r} is no metric key, 'bpp' or 'bd-rate'")
    return Tolerance(metrics, bpp, bd)


def curve_keys(curves: pd.DataFrame) -> list[str]:
    """The quality keys a baseline holds: every metric column plus the MS-SSIM dB forms."""
    keys = metric_columns(curves)
    keys += [key for key in (KEY_MS_SSIM_DB, KEY_MS_SSIM_DB_FLOAT) if key in curves]
    return keys


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _definitions(keys: Sequence[str]) -> dict[str, str]:
    """{key: its form}: ``file``/``payload`` for the rates, ``8-bit``/``float`` for the two-form metrics."""
    forms = {column: rate for rate, column in RATE_KEYS.items()}
    forms.update({key: form for key in keys if (form := reconstruction_form(key)) is not None})
    return forms


def baseline_document(run: RunData, tolerance: Tolerance, name: str | None = None) -> dict[str, Any]:
    """The baseline of a run (see the module docstring)."""
    keys = curve_keys(run.curves)
    curves = []
    for (dataset, codec, variant), group in run.curves.groupby(["dataset", "codec", "variant"], sort=True):
        group = group.sort_values("point")
        results = {"point": [float(p) for p in group["point"]]}
        for key in [*RATE_COLUMNS, *keys]:
            if key in group and group[key].notna().any():
                results[key] = [_number(v) for v in group[key]]
        curves.append({"dataset": dataset, "codec": codec, "variant": variant, "images": int(group["images"].max()),
                       "limit": run.image_set(dataset).limit, "results": results})
    suite = run.suite
    environment = run.environment
    return {
        "schema": SCHEMA,
        "name": name or baseline_name(run),
        "run_id": run.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suite": {"name": run.suite_dict.get("name"), "digest": suite.digest() if suite else None},
        "datasets": list(dict.fromkeys(str(d) for d in run.curves["dataset"])),
        "environment": {key: environment.get(key) for key in ("mpa_bench", "git_commit", "python", "packages")},
        "codecs": run.codec_versions(),
        "tolerance": asdict(tolerance.resolved(keys)),
        "definitions": _definitions(keys),
        "curves": curves,
    }


def read_baseline(path: Path | str) -> dict[str, Any]:
    """Reads and checks a baseline file.

    Raises:
        BaselineError: no file, not UTF-8 JSON, not an object, another schema, or curves of the wrong shape.
    """
    path = Path(path)
    fix = "regenerate it with `python -m bench check RUN --update` (or pass --baseline FILE)"
    if not path.is_file():
        raise BaselineError(f"no baseline at {path}; create it from a run with `python -m bench check RUN --update` "
                            f"(or pass --baseline FILE)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"cannot read baseline {path} ({type(error).__name__}: {error}); {fix}") from error
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise BaselineError(f"{path} is not a {SCHEMA} baseline (a JSON object with 'schema': {SCHEMA!r}); {fix}")
    curves = document.get("curves", [])
    shape_ok = isinstance(curves, list) and all(
        isinstance(curve, dict) and {"dataset", "codec", "variant"} <= set(curve)
        and isinstance(curve.get("results"), dict)
        and all(isinstance(values, list) for values in curve["results"].values()) for curve in curves)
    if not shape_ok or not isinstance(document.get("tolerance", {}), dict):
        raise BaselineError(f"{path}: 'curves' must be a list of {{dataset, codec, variant, results: {{key: [...]}}}} "
                            f"and 'tolerance' an object; {fix}")
    try:
        Tolerance.from_dict(document.get("tolerance"))
    except BaselineError as error:
        raise BaselineError(f"{path}: {error}") from error
    return document


def baseline_datasets(document: Mapping[str, Any]) -> list[str]:
    """The datasets a baseline's curves are of."""
    return sorted({str(curve.get("dataset")) for curve in document.get("curves", []) if isinstance(curve, dict)})


def write_baseline(path: Path | str, document: Mapping[str, Any], force: bool = False) -> Path:
    """Writes a baseline atomically; refuses to replace one of other datasets unless ``force``.

    Raises:
        BaselineError: the path is inside an installed package, or holds a baseline of other datasets.
    """
    path = Path(path)
    if _source_checkout() is None and Path(__file__).resolve().parent.parent in path.resolve().parents:
        raise BaselineError(f"{path} is inside the installed package; pass --baseline FILE or set {BASELINES_ENV}")
    if path.exists() and not force:
        try:
            existing = baseline_datasets(read_baseline(path))
        except BaselineError:
            existing = None
        ours = sorted({str(curve["dataset"]) for curve in document["curves"]})
        if existing is None or existing != ours:
            held = "an unreadable or foreign file" if existing is None else f"curves of {', '.join(existing)}"
            raise BaselineError(f"{path} holds {held}, not of {', '.join(ours)}; pass --force to overwrite it, or "
                                f"--baseline NEW_FILE")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
