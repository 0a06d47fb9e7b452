"""curves -> series: the run's curves and the published curves of the same dataset as one kind of plottable series,
the metric semantics every figure and table reads, and which metrics are shown together.

A :class:`Series` is one rate-quality curve: a codec (and decoder variant) of the run, or a published reference
codec (``results/published``) of the matching dataset. Metric direction, unit and label always come from the
metric's registered :class:`~bench.metrics.base.MetricSpec`, never from the metric's name.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from bench.engine.aggregate import metric_columns
from bench.engine.export import curve_name
from bench.metrics import metrics
from bench.metrics.base import MetricSpec
from bench.metrics.fidelity import MS_SSIM_DB_SPEC
from bench.published import published_curves
from bench.schema import DEFAULT_VARIANT, KEY_BPP, KEY_MS_SSIM, KEY_MS_SSIM_DB

RUN_SOURCE = "run"

# The run's dataset names and the folders of results/published that hold curves of the same images.
PUBLISHED_DATASETS: dict[str, tuple[str, ...]] = {
    "kodak": ("kodak",),
    "clic": ("clic2020-professional", "clic"),
}

# The published curve each dataset's BD-rates are measured against by default (when it has the metric).
DEFAULT_PUBLISHED_ANCHOR: dict[str, str] = {
    "kodak": "compressai/kodak/vtm",
    "clic": "compressai/clic2020-professional/vtm",
}
# The run's codec label used as the anchor where no published anchor applies.
DEFAULT_RUN_ANCHOR = "jpeg"


@dataclass(frozen=True)
class Family:
    """Metrics drawn side by side in one figure and grouped in one report section.

    Attributes:
        hull: BD-rates of these metrics keep each curve's upper convex hull (task curves are rarely monotonic).
    """

    key: str
    title: str
    metrics: tuple[str, ...]
    hull: bool = False


FAMILIES: tuple[Family, ...] = (
    Family("rate-distortion", "Rate-distortion", ("psnr-rgb", "psnr-float", KEY_MS_SSIM_DB)),
    Family("rate-perception", "Rate-perception", ("lpips-alex", "lpips-vgg", "dists", "fid-256", "kid-256")),
    Family("rate-task", "Rate-task", ("top1", "top5", "miou", "macc", "allacc"), hull=True),
)
OTHER_FAMILY = Family("rate-quality", "Other metrics", ())
# Metrics shown through a derived form only (MS-SSIM in dB, as CompressAI plots it).
SHOWN_AS = {KEY_MS_SSIM: KEY_MS_SSIM_DB}


def metric_spec(key: str) -> MetricSpec | None:
    """The registered spec of a metric key (MS-SSIM dB included), or None for a column that is not a metric."""
    if key == KEY_MS_SSIM_DB:
        return MS_SSIM_DB_SPEC
    if key in metrics:
        return metrics.get(key).spec
    return None


def axis_label(spec: MetricSpec) -> str:
    """``PSNR [dB] ↑``: label, unit and the direction of improvement."""
    unit = f" [{spec.unit}]" if spec.unit else ""
    return f"{spec.label}{unit} {'↑' if spec.higher_is_better else '↓'}"


def family_of(key: str) -> Family:
    for family in FAMILIES:
        if key in family.metrics:
            return family
    return OTHER_FAMILY


def report_metrics(columns: Sequence[str]) -> list[str]:
    """Metric keys among ``columns`` that a report shows, in family order (MS-SSIM through its dB form)."""
    present = set(columns)
    shown = [key for family in FAMILIES for key in family.metrics if key in present]
    others = [key for key in metric_columns(pd.DataFrame(columns=list(present)))
              if key not in shown and not (key in SHOWN_AS and SHOWN_AS[key] in present)]
    return shown + others


def families_present(keys: Sequence[str]) -> list[tuple[Family, list[str]]]:
    """(family, its metrics among ``keys``) for every family with at least one, in family order."""
    grouped = []
    for family in (*FAMILIES, OTHER_FAMILY):
        members = [key for key in keys if family_of(key) is family]
        if members:
            grouped.append((family, members))
    return grouped


@dataclass(frozen=True)
class Series:
    """One rate-quality curve of a report.

    Attributes:
        name: codec name (``jpeg``, ``mpa (alpha=0.0,task=mse)``, ``VTM``).
        dataset: the run's dataset name.
        points: column ``bpp`` and one column per metric (plus ``point`` and ``images`` for run curves), by bpp.
        source: ``run`` or the publisher of a published curve (``compressai``, ``tinylic``).
        key: ``<codec>/<variant>`` for run curves, ``<source>/<folder>/<stem>`` for published ones.
    """

    name: str
    dataset: str
    points: pd.DataFrame = field(repr=False)
    source: str = RUN_SOURCE
    key: str = ""
    codec: str = ""
    variant: str = DEFAULT_VARIANT

    @property
    def published(self) -> bool:
        return self.source != RUN_SOURCE

    @property
    def label(self) -> str:
        """Legend text: published curves name their source."""
        return f"{self.name} ({self.source}, published)" if self.published else self.name

    def has(self, key: str) -> bool:
        return key in self.points and bool(np.isfinite(self.points[key].to_numpy(dtype=np.float64)).any())

    def xy(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(bpp, metric) of the points where the metric is finite, by bpp."""
        if key not in self.points:
            return np.empty(0), np.empty(0)
        x = self.points[KEY_BPP].to_numpy(dtype=np.float64)
        y = self.points[key].to_numpy(dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        return x[keep], y[keep]


def run_series(curves: pd.DataFrame) -> list[Series]:
    """One series per (dataset, codec, variant) of a run's curves, in the order the curves list them."""
    found = []
    for (dataset, codec, variant), points in curves.groupby(["dataset", "codec", "variant"], sort=False):
        points = points.sort_values(KEY_BPP, ignore_index=True).drop(columns=["dataset", "codec", "variant"])
        found.append(Series(curve_name(codec, variant), dataset, points, RUN_SOURCE, f"{codec}/{variant}", codec,
                            variant))
    return found


def published_series(dataset: str, select: Sequence[str] | None = None) -> list[Series]:
    """Published curves of the folders matching the run's ``dataset``; ``select`` keeps keys matching its globs
    (``compressai/kodak/vtm``, ``*/vtm``, ``tinylic/*``); an empty ``select`` keeps none."""
    curves = [curve for folder in PUBLISHED_DATASETS.get(dataset, ()) for curve in published_curves(dataset=folder)]
    names = [curve.name for curve in curves]
    found = []
    for curve in curves:
        if select is not None and not any(fnmatch.fnmatchcase(curve.key, pattern) for pattern in select):
            continue
        # Two files of one codec (TinyLIC's MSE and MS-SSIM models) are told apart by their file names.
        name = curve.name if names.count(curve.name) == 1 else f"{curve.name} [{curve.key.rsplit('/', 1)[-1]}]"
        found.append(Series(name, dataset, curve.points, curve.source, curve.key, curve.name))
    return found


def file_slug(text: str) -> str:
    """A file-name-safe form of a dataset, codec or metric name."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text.replace(",", "+")).strip("_") or "x"
