"""run + baseline -> regression check: what moved since the stored baseline, and whether it is beyond tolerance.

A baseline (``results/baselines/<suite>.json``) holds a run's curves in a CompressAI-like form, the tolerances,
and what produced them (suite digest, each codec's config hash, config and library versions, the package
versions), so that a change of library is reported as such rather than as a code regression::

    {
      "schema": "mpa-bench/baseline/1", "name": "default", "run_id": "default-sample", "created": "...",
      "suite": {"name": "default", "digest": "..."},
      "environment": {"mpa_bench": "0.1.0", "python": "3.11.2", "packages": {...}},
      "codecs": {"jpeg": {"codec": "jpeg", "config_hash": "...", "config": {...}, "versions": {...}}, ...},
      "tolerance": {"bpp_percent": 1.0, "bd_rate_percent": 1.0, "metrics": {"psnr-rgb": 0.05, ...}},
      "curves": [{"dataset": "sample", "codec": "jpeg", "variant": "default", "images": 7,
                  "results": {"point": [...], "bpp": [...], "psnr-rgb": [...], ...}}, ...]
    }

Checks, per curve (dataset, codec, variant) and rate point: the bpp may not rise by more than ``bpp_percent``
(relative); each metric may not get worse by more than its tolerance (absolute, in the metric's unit; direction
from its spec); and the BD-rate of the run's curve against the baseline curve may not exceed ``bd_rate_percent``.
A baseline curve or point the run lacks, or a different image count, fails the check too. Movements in the good
direction are reported as improvements (update the baseline to keep them).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bench.atomic import write_text_atomic
from bench.engine.aggregate import metric_columns
from bench.errors import BenchError
from bench.metrics.bd import BDError, BDWarning, bd_rate
from bench.report.rundata import RunData
from bench.report.series import family_of, metric_spec
from bench.schema import KEY_BPP, KEY_MS_SSIM, KEY_MS_SSIM_DB

SCHEMA = "mpa-bench/baseline/1"
BASELINES_ENV = "MPA_BENCH_BASELINES"
_REPO_BASELINES = Path(__file__).resolve().parents[1] / "results" / "baselines"

# Default per-point tolerance of a metric, by the unit its spec declares (absolute, in that unit).
TOLERANCE_BY_UNIT = {"dB": 0.05, "%": 0.1, "": 0.001}
DEFAULT_BPP_PERCENT = 1.0
DEFAULT_BD_RATE_PERCENT = 1.0

OK, MOVED, IMPROVED, NEW, NOT_AVAILABLE = "ok", "moved", "improved", "new", "n/a"
REGRESSION, CHANGED, MISSING = "REGRESSION", "CHANGED", "MISSING"
FAILING = (REGRESSION, CHANGED, MISSING)
_ORDER = {REGRESSION: 0, MISSING: 1, CHANGED: 2, IMPROVED: 3, MOVED: 4, NEW: 5, NOT_AVAILABLE: 6, OK: 7}
_EXACT = 1e-12  # below this a difference is floating-point noise, not a movement


def baselines_dir() -> Path:
    """``$MPA_BENCH_BASELINES`` or the repository's ``results/baselines``."""
    override = os.environ.get(BASELINES_ENV)
    return Path(override).expanduser() if override else _REPO_BASELINES


def default_baseline_path(run: RunData) -> Path:
    name = run.suite_dict.get("name") or (run.suite.name if run.suite else run.run_id)
    return baselines_dir() / f"{name}.json"


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
        return replace(self, metrics={key: self.metric(key) for key in keys})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Tolerance":
        data = data or {}
        return cls(dict(data.get("metrics", {})), float(data.get("bpp_percent", DEFAULT_BPP_PERCENT)),
                   float(data.get("bd_rate_percent", DEFAULT_BD_RATE_PERCENT)))


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
    """The quality keys a baseline holds: every metric column plus MS-SSIM in dB."""
    keys = metric_columns(curves)
    if KEY_MS_SSIM in keys and KEY_MS_SSIM_DB in curves:
        keys.append(KEY_MS_SSIM_DB)
    return keys


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def baseline_document(run: RunData, tolerance: Tolerance, name: str | None = None) -> dict[str, Any]:
    """The baseline of a run (see the module docstring)."""
    keys = curve_keys(run.curves)
    curves = []
    for (dataset, codec, variant), group in run.curves.groupby(["dataset", "codec", "variant"], sort=True):
        group = group.sort_values("point")
        results = {"point": [float(p) for p in group["point"]]}
        for key in [KEY_BPP, *keys]:
            if key in group and group[key].notna().any():
                results[key] = [_number(v) for v in group[key]]
        curves.append({"dataset": dataset, "codec": codec, "variant": variant, "images": int(group["images"].max()),
                       "results": results})
    suite = run.suite
    environment = run.environment
    return {
        "schema": SCHEMA,
        "name": name or run.suite_dict.get("name", run.run_id),
        "run_id": run.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suite": {"name": run.suite_dict.get("name"), "digest": suite.digest() if suite else None},
        "environment": {key: environment.get(key) for key in ("mpa_bench", "git_commit", "python", "packages")},
        "codecs": run.codec_versions(),
        "tolerance": asdict(tolerance.resolved(keys)),
        "curves": curves,
    }


def read_baseline(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"no baseline at {path}; create it from a run with `python -m bench check RUN --update` "
                         f"(or pass --baseline FILE)")
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BenchError(f"cannot read baseline {path}: {error}; regenerate it with --update") from error
    if document.get("schema") != SCHEMA:
        raise BenchError(f"{path} is not a {SCHEMA} baseline; regenerate it with `python -m bench check RUN --update`")
    return document


def write_baseline(path: Path | str, document: Mapping[str, Any]) -> Path:
    return write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


@dataclass(frozen=True)
class Finding:
    """One comparison: a quantity of a curve point (or a whole curve) in the run against the baseline."""

    status: str
    dataset: str
    curve: str
    quantity: str
    point: float | None = None
    baseline: float | None = None
    run: float | None = None
    delta: float | None = None
    tolerance: float | None = None
    unit: str = ""
    note: str = ""


@dataclass
class CheckResult:
    baseline_path: Path
    findings: list[Finding]
    context: list[str]
    curves: int = 0
    points: int = 0

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status in FAILING]

    @property
    def passed(self) -> bool:
        return not self.failures


def _curve_name(curve: Mapping[str, Any]) -> str:
    return curve["codec"] if curve["variant"] == "default" else f"{curve['codec']} ({curve['variant']})"


def _version_changes(baseline: Mapping[str, Any], run: RunData) -> tuple[dict[str, str], list[str]]:
    """({codec label: why its output may legitimately differ}, context lines)."""
    explained, context = {}, []
    current = run.codec_versions()
    for label, before in baseline.get("codecs", {}).items():
        now = current.get(label)
        if now is None or now["config_hash"] == before.get("config_hash"):
            continue
        versions = [f"{k} {before['versions'].get(k)} -> {now['versions'].get(k)}"
                    for k in sorted(set(before.get("versions", {})) | set(now["versions"]))
                    if before.get("versions", {}).get(k) != now["versions"].get(k)]
        config = [k for k in sorted(set(before.get("config", {})) | set(now["config"]))
                  if before.get("config", {}).get(k) != now["config"].get(k)]
        reason = "; ".join(filter(None, [("versions " + ", ".join(versions)) if versions else "",
                                         ("config " + ", ".join(config)) if config else ""]))
        explained[label] = reason or "code version (config hash) changed"
        context.append(f"codec {label}: configuration differs from the baseline's ({explained[label]})")
    before_packages = (baseline.get("environment") or {}).get("packages") or {}
    now_packages = run.environment.get("packages") or {}
    changed = [f"{k} {before_packages.get(k)} -> {now_packages.get(k)}" for k in sorted(before_packages)
               if k in now_packages and before_packages.get(k) != now_packages.get(k)]
    if changed:
        context.append("library versions changed since the baseline: " + ", ".join(changed))
    digest = (baseline.get("suite") or {}).get("digest")
    if digest and run.suite is not None and run.suite.digest() != digest:
        context.append(f"the run's suite (digest {run.suite.digest()}) differs from the baseline's ({digest}); "
                       f"curves are compared where both have them")
    return explained, context


def _classify(worse_by: float, tolerance: float, explained: str | None) -> str:
    """Status of a movement given how much worse (positive) or better (negative) it is."""
    if worse_by > tolerance + _EXACT:
        return CHANGED if explained else REGRESSION
    if -worse_by > tolerance + _EXACT:
        return IMPROVED
    return MOVED if abs(worse_by) > _EXACT else OK


def _compare_points(dataset: str, name: str, base: pd.DataFrame, run: pd.DataFrame, keys: Sequence[str],
                    tolerance: Tolerance, explained: str | None) -> list[Finding]:
    findings = []
    merged = base.merge(run, on="point", how="left", suffixes=("_base", "_run"), indicator=True)
    for record in merged.to_dict("records"):
        point = float(record["point"])
        if record["_merge"] != "both":
            findings.append(Finding(MISSING, dataset, name, "point", point, note="the run has no such rate point"))
            continue
        for key in [KEY_BPP, *keys]:
            before, after = record.get(f"{key}_base"), record.get(f"{key}_run")
            if before is None or not np.isfinite(before):
                continue
            spec = metric_spec(key)
            unit = "%" if key == KEY_BPP else (spec.unit if spec else "")
            if after is None or not np.isfinite(after):
                findings.append(Finding(REGRESSION, dataset, name, key, point, before, None, note="no value in the run"))
                continue
            if key == KEY_BPP:
                delta = 100.0 * (after - before) / before
                worse, allowed, unit = delta, tolerance.bpp_percent, "%"
            else:
                delta = after - before
                worse, allowed = (-delta if spec is None or spec.higher_is_better else delta), tolerance.metric(key)
            status = _classify(worse, allowed, explained)
            findings.append(Finding(status, dataset, name, key, point, float(before), float(after), float(delta),
                                    allowed, unit, explained if status == CHANGED else ""))
    return findings


def _compare_bd(dataset: str, name: str, base: pd.DataFrame, run: pd.DataFrame, keys: Sequence[str],
                tolerance: Tolerance, explained: str | None) -> list[Finding]:
    findings = []
    for key in keys:
        if key not in base or key not in run:
            continue
        a = base[[KEY_BPP, key]].dropna()
        b = run[[KEY_BPP, key]].dropna()
        if len(a) < 2 or len(b) < 2:
            continue
        if len(a) == len(b) and np.array_equal(a.to_numpy(), b.to_numpy()):
            findings.append(Finding(OK, dataset, name, f"bd-rate {key}", None, 0.0, 0.0, 0.0,
                                    tolerance.bd_rate_percent, "%"))
            continue
        spec = metric_spec(key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BDWarning)
            try:
                result = bd_rate(a[KEY_BPP], a[key], b[KEY_BPP], b[key], hull=family_of(key).hull,
                                 higher_is_better=spec.higher_is_better if spec else True,
                                 anchor_label=f"baseline {name}", test_label=f"run {name}")
            except BDError as error:
                findings.append(Finding(NOT_AVAILABLE, dataset, name, f"bd-rate {key}", note=str(error)))
                continue
        status = _classify(result.value, tolerance.bd_rate_percent, explained)
        findings.append(Finding(status, dataset, name, f"bd-rate {key}", None, 0.0, result.value, result.value,
                                tolerance.bd_rate_percent, "%", explained if status == CHANGED else ""))
    return findings


def check_run(run: RunData, baseline: Mapping[str, Any], tolerance: Tolerance,
              baseline_path: Path | str = "") -> CheckResult:
    """Compares every baseline curve with the run's (see the module docstring)."""
    explained, context = _version_changes(baseline, run)
    findings: list[Finding] = []
    seen = set()
    curves = points = 0
    run_curves = {key: group.sort_values("point") for key, group in
                  run.curves.groupby(["dataset", "codec", "variant"], sort=False)}
    for curve in baseline.get("curves", []):
        key = (curve["dataset"], curve["codec"], curve["variant"])
        seen.add(key)
        name = _curve_name(curve)
        base = pd.DataFrame({k: [math.nan if v is None else v for v in values]
                             for k, values in curve["results"].items()})
        mine = run_curves.get(key)
        if mine is None:
            findings.append(Finding(MISSING, curve["dataset"], name, "curve", note="the run has no such curve"))
            continue
        images = int(mine["images"].max())
        if images != curve.get("images", images):
            findings.append(Finding(MISSING, curve["dataset"], name, "images", None, curve["images"], images,
                                    note="different image sets cannot be compared; run the full suite (no --limit) "
                                         "or --update the baseline"))
            continue
        keys = [k for k in base.columns if k not in ("point", KEY_BPP)]
        mine = mine[["point", KEY_BPP, *[k for k in keys if k in mine]]]
        curves += 1
        points += len(base)
        why = explained.get(curve["codec"])
        findings += _compare_points(curve["dataset"], name, base, mine, keys, tolerance, why)
        findings += _compare_bd(curve["dataset"], name, base, mine, keys, tolerance, why)
    for key in run_curves:
        if key not in seen:
            findings.append(Finding(NEW, key[0], _curve_name(dict(zip(("dataset", "codec", "variant"), key))), "curve",
                                    note="not in the baseline (--update adds it)"))
    return CheckResult(Path(baseline_path), findings, context, curves, points)


def _format(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    return f"{value:+.4g}{unit}" if unit == "%" else f"{value:.6g}"


def format_result(result: CheckResult, verbose: bool = False) -> str:
    """The readable report: context, a table of what moved (everything with ``verbose``), and a summary line."""
    lines = [f"note: {line}" for line in result.context]
    shown = [f for f in result.findings if verbose or f.status != OK]
    shown.sort(key=lambda f: (_ORDER.get(f.status, 9), f.dataset, f.curve, f.quantity, f.point or 0.0))
    if shown:
        table = pd.DataFrame([{
            "status": f.status, "dataset": f.dataset, "curve": f.curve,
            "point": "" if f.point is None else f"{f.point:g}", "quantity": f.quantity,
            "baseline": "" if f.quantity.startswith("bd-rate") else _format(f.baseline),
            "run": "" if f.quantity.startswith("bd-rate") else _format(f.run),
            "change": _format(f.delta, "%" if f.unit == "%" else "") + ("" if f.unit == "%" or not f.unit
                                                                         else f" {f.unit}"),
            "tolerance": "" if f.tolerance is None else f"{f.tolerance:g}{'%' if f.unit == '%' else ''}",
            "note": f.note,
        } for f in shown])
        lines.append(table.to_string(index=False))
    failures = result.failures
    counts = {status: sum(f.status == status for f in result.findings) for status in _ORDER}
    summary = (f"{result.curves} curves, {result.points} points compared with {result.baseline_path}: ")
    if not failures:
        moved = counts[MOVED] + counts[IMPROVED]
        summary += "OK" + (f" ({moved} values moved within tolerance or improved)" if moved else " (nothing moved)")
        if counts[IMPROVED]:
            summary += "; improvements: run with --update to keep them"
    else:
        parts = [f"{counts[s]} {label}" for s, label in ((REGRESSION, "regressions"), (MISSING, "missing"),
                                                         (CHANGED, "changes with codec versions or config"))
                 if counts[s]]
        summary += "FAILED: " + ", ".join(parts) + " beyond tolerance"
        if counts[CHANGED]:
            summary += " (CHANGED: explained by a codec version or config change; review, then --update)"
    lines.append(summary)
    return "\n".join(lines)
