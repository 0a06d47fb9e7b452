"""run + baseline -> regression check: what moved since the stored baseline, and whether it is beyond tolerance.

Baselines (:mod:`bench.baseline`: where they live, what they hold) store a run's curves with what produced them, so
that a change of library is reported as such rather than as a code regression.

Checks, per curve (dataset, codec, variant) and rate point: each rate (file ``bpp`` and ``payload-bpp``) may not
rise by more than ``bpp_percent`` (relative); each metric, in each form the baseline holds (``psnr-rgb`` 8-bit and
``psnr-float`` float, ...), may not get worse by more than its tolerance (absolute, in the metric's unit; direction
from its spec); and the BD-rate of the run's curve against the baseline curve may not exceed ``bd_rate_percent``.
Keys are compared with the same keys only, so every comparison is in one form. A baseline curve or point the run
lacks, or a different image count, fails the check too. Movements in the good direction are reported as
improvements (update the baseline to keep them).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bench.baseline import RATE_COLUMNS, Tolerance
from bench.metrics.bd import BDError, BDWarning, bd_rate
from bench.metrics.semantics import family_of, metric_spec
from bench.rundata import RunData
from bench.schema import KEY_BPP

OK, MOVED, IMPROVED, NEW, NOT_AVAILABLE = "ok", "moved", "improved", "new", "n/a"
REGRESSION, CHANGED, MISSING = "REGRESSION", "CHANGED", "MISSING"
FAILING = (REGRESSION, CHANGED, MISSING)
_ORDER = {REGRESSION: 0, MISSING: 1, CHANGED: 2, IMPROVED: 3, MOVED: 4, NEW: 5, NOT_AVAILABLE: 6, OK: 7}
_EXACT = 1e-12  # below this a difference is floating-point noise, not a movement


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
            unit = "%" if key in RATE_COLUMNS else (spec.unit if spec else "")
            if after is None or not np.isfinite(after):
                findings.append(Finding(REGRESSION, dataset, name, key, point, before, None, note="no value in the run"))
                continue
            if key in RATE_COLUMNS:
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
        if key not in base or key not in run or key in RATE_COLUMNS:
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
            limit = run.image_set(curve["dataset"]).limit
            findings.append(Finding(MISSING, curve["dataset"], name, "images", None, curve["images"], images,
                                    note="different image sets cannot be compared; run the full suite"
                                         + (f" (this run has --limit {limit})" if limit else "")
                                         + " or --update the baseline"))
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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


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
    summary = (f"{_count(result.curves, 'curve')}, {_count(result.points, 'point')} compared with "
               f"{result.baseline_path}: ")
    if not failures:
        moved = counts[MOVED] + counts[IMPROVED]
        summary += "OK" + (f" ({_count(moved, 'value')} moved within tolerance or improved)" if moved
                           else " (nothing moved)")
        if counts[IMPROVED]:
            summary += "; improvements: run with --update to keep them"
    else:
        parts = [text for text in (_count(counts[REGRESSION], "regression"), f"{counts[MISSING]} missing",
                                   _count(counts[CHANGED], "change") + " with codec versions or config")
                 if not text.startswith("0 ")]
        summary += "FAILED: " + ", ".join(parts) + " beyond tolerance"
        if counts[CHANGED]:
            summary += " (CHANGED: explained by a codec version or config change; review, then --update)"
    lines.append(summary)
    return "\n".join(lines)
