"""What a result key means, for every reader of results (report, ``bench check``, complexity): the metric's
registered spec (direction, unit, label), and which metrics are shown together.

Metric direction, unit and label always come from the metric's registered :class:`~bench.metrics.base.MetricSpec`,
never from its name. A metric with two reconstruction forms (:mod:`bench.metrics.forms`) is one *quantity*: its
8-bit key names it, and a figure panel or a BD-rate column shows it in one form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from bench.metrics import metrics
from bench.metrics.base import MetricSpec
from bench.metrics.fidelity import MS_SSIM_DB_FLOAT_SPEC, MS_SSIM_DB_SPEC
from bench.metrics.forms import quantity
from bench.schema import KEY_MS_SSIM, KEY_MS_SSIM_DB

_DERIVED = {MS_SSIM_DB_SPEC.key: MS_SSIM_DB_SPEC, MS_SSIM_DB_FLOAT_SPEC.key: MS_SSIM_DB_FLOAT_SPEC}


@dataclass(frozen=True)
class Family:
    """Metrics drawn side by side in one figure and grouped in one report section.

    Attributes:
        metrics: quantities (8-bit keys of two-form metrics).
        hull: BD-rates of these metrics keep each curve's upper convex hull (task curves are rarely monotonic).
    """

    key: str
    title: str
    metrics: tuple[str, ...]
    hull: bool = False


FAMILIES: tuple[Family, ...] = (
    Family("rate-distortion", "Rate-distortion", ("psnr-rgb", KEY_MS_SSIM_DB)),
    Family("rate-perception", "Rate-perception", ("lpips-alex", "lpips-vgg", "dists", "fid-256", "kid-256")),
    Family("rate-task", "Rate-task", ("top1", "top5", "miou", "macc", "allacc"), hull=True),
)
OTHER_FAMILY = Family("rate-quality", "Other metrics", ())
# Metrics shown through a derived form only (MS-SSIM in dB, as CompressAI plots it).
SHOWN_AS = {KEY_MS_SSIM: KEY_MS_SSIM_DB}


def metric_spec(key: str) -> MetricSpec | None:
    """The registered spec of a metric key (MS-SSIM dB included), or None for a column that is not a metric."""
    if key in _DERIVED:
        return _DERIVED[key]
    if key in metrics:
        return metrics.get(key).spec
    return None


def axis_label(spec: MetricSpec) -> str:
    """``PSNR [dB] ↑``: label, unit and the direction of improvement."""
    unit = f" [{spec.unit}]" if spec.unit else ""
    return f"{spec.label}{unit} {'↑' if spec.higher_is_better else '↓'}"


def family_of(key: str) -> Family:
    for family in FAMILIES:
        if quantity(key) in family.metrics:
            return family
    return OTHER_FAMILY


def report_metrics(columns: Sequence[str]) -> list[str]:
    """Quantities among ``columns`` (either form counts) that a report shows, in family order; MS-SSIM through its
    dB form."""
    present = {quantity(column) for column in columns}
    present |= {SHOWN_AS[key] for key in present if key in SHOWN_AS}
    shown = [key for family in FAMILIES for key in family.metrics if key in present]
    others = [name for name in metrics.names()
              if name in present and name not in shown and name not in SHOWN_AS and quantity(name) == name]
    return shown + others


def families_present(keys: Sequence[str]) -> list[tuple[Family, list[str]]]:
    """(family, its metrics among ``keys``) for every family with at least one, in family order."""
    grouped = []
    for family in (*FAMILIES, OTHER_FAMILY):
        members = [key for key in keys if family_of(key) is family]
        if members:
            grouped.append((family, members))
    return grouped
