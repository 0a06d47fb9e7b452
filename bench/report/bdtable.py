"""series -> BD-rate tables: every run curve against an anchor for every metric, each pair in one form.

BD-rates use :func:`bench.metrics.bd.bd_rate` (pchip, overlap only) with each metric's direction from its spec;
task metrics keep each curve's upper convex hull. Each cell compares the run curve in the anchor's form
(:func:`bench.report.compare.compare_forms`): against published VTM the file bpp and 8-bit PSNR, against the
official learned curves the payload bpp and float PSNR. A BD-rate that cannot be computed (no matching form,
non-monotonic curve, no overlap, too few points) is shown as ``n/a (reason)``, with the full reason in the CSV; the
notes say which forms and which image sets were compared.

Default anchor per dataset and metric: the published VTM curve where the dataset has published curves and VTM
has the metric, else the run's ``jpeg``, else the run's first codec with the metric.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from bench.errors import BenchError
from bench.metrics.bd import BDError, BDWarning, NoOverlap, NonMonotonicCurve, bd_rate
from bench.metrics.forms import RATE_FORMS, RECONSTRUCTION_FORMS, Form
from bench.metrics.semantics import family_of, metric_spec
from bench.report.compare import Comparison, compare_forms, images_differ
from bench.report.series import DEFAULT_PUBLISHED_ANCHOR, DEFAULT_RUN_ANCHOR, Series
from bench.report.tables import Table
from bench.schema import DEFAULT_VARIANT

SHORT_REASONS: dict[type, str] = {NonMonotonicCurve: "non-monotonic", NoOverlap: "no overlap"}


@dataclass(frozen=True)
class Cell:
    """One BD-rate: ``value`` in percent, or None with a short ``reason`` and the full ``detail``; the forms the two
    curves were read in."""

    value: float | None
    reason: str = ""
    detail: str = ""
    overlap: float | None = None
    few_points: bool = False
    comparison: Comparison | None = None

    def text(self) -> str:
        if self.value is None:
            return self.reason
        return f"{self.value:+.2f}{'*' if self.few_points else ''}"


@dataclass
class BDTable:
    """BD-rates of a dataset's run series (rows) for each metric (columns) against each metric's anchor."""

    dataset: str
    metrics: list[str]
    anchors: dict[str, Series | None]
    cells: list[tuple[Series, dict[str, Cell]]]
    forced: Form | None = None


def find_series(request: str, candidates: Sequence[Series]) -> Series | None:
    """The series whose key, name or legend label is ``request`` (``compressai/kodak/vtm``, ``VTM``, ``jpeg``)."""
    for attribute in ("key", "name", "label"):
        for item in candidates:
            if getattr(item, attribute) == request:
                return item
    return None


def resolve_anchor(metric: str, run: Sequence[Series], published: Sequence[Series],
                   request: str | None = None) -> Series | None:
    """The anchor of one metric: the ``request``ed curve when the dataset has it (None for a metric it lacks),
    else the dataset's default (see the module docstring)."""
    if request:
        found = find_series(request, [*run, *published])
        if found is not None:
            return found if found.has(metric) else None
    dataset = run[0].dataset if run else ""
    published_anchor = find_series(DEFAULT_PUBLISHED_ANCHOR.get(dataset, ""), published)
    if published_anchor is not None and published_anchor.has(metric):
        return published_anchor
    for item in run:
        if item.codec == DEFAULT_RUN_ANCHOR and item.variant == DEFAULT_VARIANT and item.has(metric):
            return item
    return next((item for item in run if item.has(metric)), None)


def check_anchor(request: str, candidates: Sequence[Series]) -> None:
    """Raises BenchError when ``request`` names no curve of any dataset of the report."""
    if find_series(request, candidates) is None:
        names = ", ".join(dict.fromkeys(s.name if not s.published else s.key for s in candidates))
        raise BenchError(f"--anchor {request!r} is no curve of this run or of its published curves; choose one of: "
                         f"{names}")


def bd_cell(anchor: Series, test: Series, metric: str, forced: Form | None = None) -> Cell:
    """BD-rate of ``test`` against ``anchor`` on ``metric``, each in its comparison form, or an n/a cell."""
    comparison = compare_forms(test, anchor, metric, forced)
    if not comparison.possible:
        return Cell(None, "n/a (no matching form)", comparison.reason, comparison=comparison)
    spec = metric_spec(metric)
    higher_is_better = spec.higher_is_better if spec else True
    anchor_rate, anchor_metric = anchor.xy(metric, comparison.reference_form)
    test_rate, test_metric = test.xy(metric, comparison.test_form)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BDWarning)
        try:
            result = bd_rate(anchor_rate, anchor_metric, test_rate, test_metric, higher_is_better=higher_is_better,
                             hull=family_of(metric).hull, anchor_label=anchor.label, test_label=test.label)
        except BDError as error:
            reason = SHORT_REASONS.get(type(error))
            if reason is None:
                reason = "too few points" if "at least 2" in str(error) else "error"
            return Cell(None, f"n/a ({reason})", str(error), comparison=comparison)
    few = any(issubclass(w.category, BDWarning) for w in caught)
    return Cell(result.value, overlap=result.overlap_percent, few_points=few, comparison=comparison)


def bd_table(run: Sequence[Series], published: Sequence[Series], metrics: Sequence[str],
             anchor: str | None = None, forced: Form | None = None) -> BDTable:
    """BD-rates of every run series of one dataset for every metric it has."""
    anchors = {metric: resolve_anchor(metric, run, published, anchor) for metric in metrics}
    cells = []
    for test in run:
        row = {}
        for metric in metrics:
            reference = anchors[metric]
            if not any(test.has(metric, Form(rate, reconstruction))
                       for rate in RATE_FORMS for reconstruction in RECONSTRUCTION_FORMS):
                row[metric] = Cell(None, "–", "not measured")
            elif reference is None:
                row[metric] = Cell(None, "n/a (no anchor)", f"no anchor curve has {metric}")
            elif reference is test:
                row[metric] = Cell(None, "anchor", "the anchor itself")
            else:
                row[metric] = bd_cell(reference, test, metric, forced)
        cells.append((test, row))
    return BDTable(run[0].dataset if run else "", list(metrics), anchors, cells, forced)


def _anchor_text(item: Series | None) -> str:
    if item is None:
        return "none"
    return f"{item.name} ({item.source}, published)" if item.published else f"{item.name} (this run)"


def _forms_note(table: BDTable) -> str:
    """Which forms each anchor was compared in: ``VTM (compressai, published): file bpp, 8-bit PSNR and MS-SSIM``."""
    used: dict[tuple[str, Form, Form], list[str]] = {}
    for _, cells in table.cells:
        for metric, cell in cells.items():
            comparison = cell.comparison
            if comparison is None or comparison.reference_form is None or comparison.test_form is None:
                continue
            key = (_anchor_text(table.anchors[metric]), comparison.test_form, comparison.reference_form)
            if metric not in used.setdefault(key, []):
                used[key].append(metric)
    if not used:
        return ""
    texts = []
    for (anchor, test_form, reference_form), metrics in used.items():
        if test_form == reference_form:
            texts.append(f"{anchor}: {reference_form.text(*metrics)}")
        else:
            texts.append(f"{anchor}: run curves in {test_form.text(*metrics)} against its "
                         f"{reference_form.text(*metrics)}")
    forced = (" (forced with --form: not like for like where the anchor is in another form)"
              if table.forced is not None else "")
    return "Compared as" + forced + ": " + "; ".join(texts) + "."


def _images_note(table: BDTable) -> str:
    run_images = next((test.images for test, _ in table.cells if test.images is not None), None)
    differing = [anchor for anchor in dict.fromkeys(a for a in table.anchors.values() if a is not None)
                 if anchor.published and images_differ(run_images, anchor.images)]
    if run_images is None or not differing:
        return ""
    anchors = "; ".join(f"{anchor.name} {anchor.images.text()}" for anchor in differing)
    return f"Images: run curves {run_images.text()}; {anchors}: not the same image set."


def bd_to_table(table: BDTable) -> Table:
    """The BD table as headers, formatted rows, notes and a long-form CSV frame."""
    columns = ["Codec"] + [_metric_header(metric) for metric in table.metrics]
    rows = [[test.name] + [cells[m].text() for m in table.metrics] for test, cells in table.cells]
    anchors: dict[str, list[str]] = {}
    for metric, item in table.anchors.items():
        anchors.setdefault(_anchor_text(item), []).append(metric)
    notes = ["BD-rate in percent (pchip, over the overlap of the quality ranges); negative = fewer bits for the "
             "same quality.",
             "Anchor: " + "; ".join(f"{name} for {', '.join(ms)}" for name, ms in anchors.items()) + "."]
    notes += [note for note in (_forms_note(table), _images_note(table)) if note]
    if any(cell.few_points for _, cells in table.cells for cell in cells.values()):
        notes.append("* computed from fewer than 4 points on one of the curves.")
    records = []
    for test, cells in table.cells:
        for metric, cell in cells.items():
            anchor = table.anchors[metric]
            comparison = cell.comparison
            records.append({
                "dataset": table.dataset, "codec": test.codec, "variant": test.variant, "series": test.name,
                "metric": metric, "anchor": anchor.key if anchor else "", "bd_rate_percent": cell.value,
                "overlap_percent": cell.overlap, "few_points": cell.few_points,
                "run_form": comparison.test_form.text(metric) if comparison and comparison.test_form else "",
                "anchor_form": (comparison.reference_form.text(metric)
                                if comparison and comparison.reference_form else ""),
                "run_images": test.images.text() if test.images else "",
                "anchor_images": anchor.images.text() if anchor is not None and anchor.images else "",
                "note": "" if cell.value is not None else cell.detail,
            })
    title = f"BD-rate (%) on {table.dataset}"
    return Table(title, columns, rows, notes, pd.DataFrame(records))


def _metric_header(metric: str) -> str:
    spec = metric_spec(metric)
    if spec is None:
        return metric
    return f"{spec.label} ({spec.unit})" if spec.unit and spec.unit != "%" else spec.label
