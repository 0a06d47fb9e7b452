"""series -> tables: BD-rates against an anchor for every metric, and the Table 4 complexity table, written as
Markdown, LaTeX (booktabs) and CSV.

BD-rates use :func:`bench.metrics.bd.bd_rate` (pchip, overlap only) with each metric's direction from its spec;
task metrics keep each curve's upper convex hull. A BD-rate that cannot be computed (non-monotonic curve, no
overlap, too few points) is shown as ``n/a (reason)``, with the full reason in the CSV.

Default anchor per dataset and metric: the published VTM curve where the dataset has published curves and VTM
has the metric, else the run's ``jpeg``, else the run's first codec with the metric.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from bench.errors import BenchError
from bench.metrics.bd import BDError, BDWarning, NoOverlap, NonMonotonicCurve, bd_rate
from bench.report.series import (
    DEFAULT_PUBLISHED_ANCHOR,
    DEFAULT_RUN_ANCHOR,
    Series,
    family_of,
    metric_spec,
)
from bench.schema import DEFAULT_VARIANT

SHORT_REASONS: dict[type, str] = {NonMonotonicCurve: "non-monotonic", NoOverlap: "no overlap"}


@dataclass(frozen=True)
class Cell:
    """One BD-rate: ``value`` in percent, or None with a short ``reason`` and the full ``detail``."""

    value: float | None
    reason: str = ""
    detail: str = ""
    overlap: float | None = None
    few_points: bool = False

    def text(self) -> str:
        if self.value is None:
            return self.reason
        return f"{self.value:+.2f}{'*' if self.few_points else ''}"


@dataclass
class Table:
    """A table ready to be written: a title, headers, formatted rows, notes, and the machine-readable frame."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class BDTable:
    """BD-rates of a dataset's run series (rows) for each metric (columns) against each metric's anchor."""

    dataset: str
    metrics: list[str]
    anchors: dict[str, Series | None]
    cells: list[tuple[Series, dict[str, Cell]]]


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


def bd_cell(anchor: Series, test: Series, metric: str) -> Cell:
    """BD-rate of ``test`` against ``anchor`` on ``metric``, or an n/a cell with the reason."""
    spec = metric_spec(metric)
    higher_is_better = spec.higher_is_better if spec else True
    anchor_rate, anchor_metric = anchor.xy(metric)
    test_rate, test_metric = test.xy(metric)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BDWarning)
        try:
            result = bd_rate(anchor_rate, anchor_metric, test_rate, test_metric, higher_is_better=higher_is_better,
                             hull=family_of(metric).hull, anchor_label=anchor.label, test_label=test.label)
        except BDError as error:
            reason = SHORT_REASONS.get(type(error))
            if reason is None:
                reason = "too few points" if "at least 2" in str(error) else "error"
            return Cell(None, f"n/a ({reason})", str(error))
    few = any(issubclass(w.category, BDWarning) for w in caught)
    return Cell(result.value, overlap=result.overlap_percent, few_points=few)


def bd_table(run: Sequence[Series], published: Sequence[Series], metrics: Sequence[str],
             anchor: str | None = None) -> BDTable:
    """BD-rates of every run series of one dataset for every metric it has."""
    anchors = {metric: resolve_anchor(metric, run, published, anchor) for metric in metrics}
    cells = []
    for test in run:
        row = {}
        for metric in metrics:
            reference = anchors[metric]
            if not test.has(metric):
                row[metric] = Cell(None, "–", "not measured")
            elif reference is None:
                row[metric] = Cell(None, "n/a (no anchor)", f"no anchor curve has {metric}")
            elif reference is test:
                row[metric] = Cell(None, "anchor", "the anchor itself")
            else:
                row[metric] = bd_cell(reference, test, metric)
        cells.append((test, row))
    return BDTable(run[0].dataset if run else "", list(metrics), anchors, cells)


def _anchor_text(item: Series | None) -> str:
    if item is None:
        return "none"
    return f"{item.name} ({item.source}, published)" if item.published else f"{item.name} (this run)"


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
    if any(cell.few_points for _, cells in table.cells for cell in cells.values()):
        notes.append("* computed from fewer than 4 points on one of the curves.")
    records = []
    for test, cells in table.cells:
        for metric, cell in cells.items():
            anchor = table.anchors[metric]
            records.append({
                "dataset": table.dataset, "codec": test.codec, "variant": test.variant, "series": test.name,
                "metric": metric, "anchor": anchor.key if anchor else "", "bd_rate_percent": cell.value,
                "overlap_percent": cell.overlap, "few_points": cell.few_points,
                "note": "" if cell.value is not None else cell.detail,
            })
    title = f"BD-rate (%) on {table.dataset}"
    return Table(title, columns, rows, notes, pd.DataFrame(records))


def _metric_header(metric: str) -> str:
    spec = metric_spec(metric)
    if spec is None:
        return metric
    return f"{spec.label} ({spec.unit})" if spec.unit and spec.unit != "%" else spec.label


def to_markdown(table: Table) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### {table.title}", "", "| " + " | ".join(escape(c) for c in table.columns) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(table.columns) - 1)) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in table.rows]
    if table.notes:
        lines += [""] + table.notes
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--",
                  "α": r"$\alpha$", "↑": r"$\uparrow$", "↓": r"$\downarrow$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _latex_cell(text: str) -> str:
    try:
        value = float(text.rstrip("*"))
    except ValueError:
        return latex_escape(text)
    star = "$^*$" if text.endswith("*") else ""
    return f"${text.rstrip('*')}${star}" if math.isfinite(value) else latex_escape(text)


def to_latex(table: Table) -> str:
    """A booktabs table (``\\usepackage{booktabs}``) with the notes as a footnote-size paragraph."""
    spec = "l" + "r" * (len(table.columns) - 1)
    lines = [
        "% generated by mpa-bench; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{latex_escape(table.title)}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join([latex_escape(row[0])] + [_latex_cell(c) for c in row[1:]]) + " \\\\" for row in table.rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    if table.notes:
        lines += ["\\par\\smallskip\\footnotesize " + " ".join(latex_escape(n) for n in table.notes)]
    lines += ["\\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    frame = table.frame if not table.frame.empty else pd.DataFrame(table.rows, columns=table.columns)
    return frame.to_csv(index=False)


def to_html(table: Table) -> str:
    """An HTML table (escaped), used by the index page."""
    from html import escape

    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f"<p class='note'>{escape(n)}</p>" for n in table.notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"
