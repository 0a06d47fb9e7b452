"""curves -> series: the run's curves and the published curves of the same dataset as one kind of plottable series,
and which published curves a report shows.

A :class:`Series` is one rate-quality curve: a codec (and decoder variant) of the run, or a published reference
codec (``results/published``) of the matching dataset. Its columns are named for their form
(:mod:`bench.metrics.forms`): a run series holds both forms of each metric (file and payload bpp, 8-bit and float
reconstruction), a published series the one form its :class:`~bench.metrics.forms.Definitions` state.

By default a report shows a curated set of published curves per dataset (:func:`default_published`): VTM and BPG,
the published counterparts of the run's codecs (CompressAI's JPEG for a ``jpeg`` run, ...) and the MPA paper's base
model TinyLIC; ``--published all`` shows every one, ``--published NAME ...`` the named ones.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from bench.engine.export import curve_name
from bench.metrics.forms import OWN_FORM, Definitions, Form, ImageSet, quantity
from bench.published import published_curves
from bench.schema import DEFAULT_VARIANT, KEY_MS_SSIM_DB

RUN_SOURCE = "run"
ALL, NONE = "all", "none"

# The run's dataset names and the folders of results/published that hold curves of the same images (any other
# dataset: the folder of its own name).
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

# Published curves (file stems) every report shows, where the dataset has them: the classical anchors, and the
# MPA paper's base model.
ALWAYS_PUBLISHED = ("vtm", "bpg_444_x265_ycbcr", "tinylic-mse", "tinylic-ms-ssim")
# The published curves (file stems) that stand for a registry codec of the run.
COUNTERPARTS: dict[str, tuple[str, ...]] = {
    "jpeg": ("jpeg",),
    "webp": ("webp",),
    "jpeg2000": ("jpeg2000",),
    "avif": ("av1",),
    "hevc": ("bpg_444_x265_ycbcr",),
    "bmshj2018-hyperprior": ("compressai-bmshj2018-hyperprior_mse_cuda",),
    "mbt2018-mean": ("compressai-mbt2018-mean_mse_cuda",),
    "cheng2020-anchor": ("compressai-cheng2020-anchor_mse_cuda",),
    "elic": ("paper-elic2022_mse", "paper-elic2022_ms-ssim"),
}
# The metric a learned codec's training loss optimises, and the quantities it is shown against.
OPTIMISED_QUANTITIES = {"mse": ("psnr-rgb",), "ms-ssim": ("ms-ssim-rgb", KEY_MS_SSIM_DB)}


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (the points are a DataFrame)
class Series:
    """One rate-quality curve of a report.

    Attributes:
        name: codec name (``jpeg``, ``mpa (alpha=0.0,task=mse)``, ``VTM``).
        dataset: the run's dataset name.
        points: one column per rate and metric, named for its form (plus ``point`` and ``images`` for run curves).
        source: ``run`` or the publisher of a published curve (``compressai``, ``tinylic``).
        key: ``<codec>/<variant>`` for run curves, ``<source>/<folder>/<stem>`` for published ones.
        codec: the run's codec label (run curves) or the file's codec name (published).
        definitions: a published curve's definitions (None for a run curve, which has both forms; and for a
            published curve whose definitions are unknown).
        images: the images the curve averages over.
    """

    name: str
    dataset: str
    points: pd.DataFrame = field(repr=False)
    source: str = RUN_SOURCE
    key: str = ""
    codec: str = ""
    variant: str = DEFAULT_VARIANT
    definitions: Definitions | None = None
    images: ImageSet | None = None

    @property
    def published(self) -> bool:
        return self.source != RUN_SOURCE

    @property
    def label(self) -> str:
        """Legend text: published curves name their source."""
        return f"{self.name} ({self.source}, published)" if self.published else self.name

    def form_of(self, metric: str) -> Form | None:
        """The form a published curve holds ``metric`` in; None for run curves (any form) and unknown definitions."""
        if not self.published or self.definitions is None:
            return None
        return self.definitions.form(metric)

    def shows(self, metric: str) -> bool:
        """False for a published learned codec on a metric its training did not optimise (see the module doc)."""
        optimised = self.definitions.optimised_for if self.definitions else None
        return optimised is None or quantity(metric) in OPTIMISED_QUANTITIES.get(optimised, (quantity(metric),))

    def xy(self, metric: str, form: Form | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rate, metric) in ``form`` (default: a published curve's own form, a run curve's file/8-bit form) at
        the points where both are finite, by rate; empty when the curve lacks that form."""
        form = form or self.form_of(metric) or OWN_FORM
        rate, column = form.rate_key, form.key(metric)
        if rate not in self.points or column not in self.points:
            return np.empty(0), np.empty(0)
        x = self.points[rate].to_numpy(dtype=np.float64)
        y = self.points[column].to_numpy(dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        order = np.argsort(x[keep], kind="stable")
        return x[keep][order], y[keep][order]

    def has(self, metric: str, form: Form | None = None) -> bool:
        return bool(len(self.xy(metric, form)[0]))

    def same_in(self, metric: str, first: Form, second: Form) -> bool:
        """True when the curve has ``metric`` in both forms with the same values (a codec that writes 8-bit files
        without a container: its payload is its file, its float reconstruction its 8-bit one)."""
        a, b = self.xy(metric, first), self.xy(metric, second)
        return bool(len(a[0])) and len(a[0]) == len(b[0]) and all(np.allclose(p, q, rtol=1e-12, atol=0)
                                                                   for p, q in zip(a, b))


def run_series(curves: pd.DataFrame, images: Mapping[str, ImageSet] | None = None) -> list[Series]:
    """One series per (dataset, codec, variant) of a run's curves, in the order the curves list them."""
    found = []
    images = images or {}
    for (dataset, codec, variant), points in curves.groupby(["dataset", "codec", "variant"], sort=False):
        points = points.drop(columns=["dataset", "codec", "variant"]).reset_index(drop=True)
        found.append(Series(curve_name(codec, variant), dataset, points, RUN_SOURCE, f"{codec}/{variant}", codec,
                            variant, images=images.get(dataset)))
    return found


def default_published(codecs: Sequence[str]) -> list[str]:
    """File stems of the curated published curves for a run of these registry codecs."""
    stems = list(ALWAYS_PUBLISHED)
    for codec in codecs:
        stems += [stem for stem in COUNTERPARTS.get(codec, ()) if stem not in stems]
    return stems


def _selected(key: str, name: str, select: Sequence[str]) -> bool:
    stem = key.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(candidate.lower(), pattern.lower())
               for pattern in select for candidate in (key, stem, name))


def published_series(dataset: str, select: Sequence[str] | None = None, codecs: Sequence[str] = ()) -> list[Series]:
    """Published curves of the folders matching the run's ``dataset``.

    Args:
        select: None: the curated default set for a run of ``codecs`` (registry names); ``["all"]``: every one;
            ``[]`` or ``["none"]``: none; else keys, file stems or names, globs allowed (``compressai/kodak/vtm``,
            ``hm``, ``tinylic-*``, ``JPEG``).
        codecs: the run's registry codec names (for the default set).
    """
    folders = PUBLISHED_DATASETS.get(dataset, (dataset,))
    curves = [curve for folder in folders for curve in published_curves(dataset=folder)]
    if select is None:
        select = default_published(codecs)
    elif ALL in select:
        select = ["*"]
    names = [curve.name for curve in curves]
    found = []
    for curve in curves:
        if NONE in select or not _selected(curve.key, curve.name, select):
            continue
        # Two files of one codec (TinyLIC's MSE and MS-SSIM models) are told apart by their file names.
        name = curve.name if names.count(curve.name) == 1 else f"{curve.name} [{curve.key.rsplit('/', 1)[-1]}]"
        images = curve.definitions.images if curve.definitions else None
        found.append(Series(name, dataset, curve.points, curve.source, curve.key, curve.name,
                            definitions=curve.definitions, images=images))
    return found


def file_slug(text: str) -> str:
    """A file-name-safe form of a dataset, codec or metric name."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text.replace(",", "+")).strip("_") or "x"
