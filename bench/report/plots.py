"""series -> figures: paper-style matplotlib figures, written as PNG, SVG and PDF plus a CSV of what they plot.

Figures use matplotlib's object API (no pyplot, no global backend or rc changes). Run curves are solid lines with
markers; published curves are dashed and name their source in the legend; colours and markers follow the codec
family (:mod:`bench.report.style`). Legends sit outside the axes on the right, and the figure grows to hold them. SVG text stays text (``svg.fonttype =
none``), and every series is a group whose id names it, so a figure can be searched and checked. Every figure also
gets ``<name>.csv``: the exact values drawn, one row per point, for pgfplots or a re-plot.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.atomic import atomic_path
from bench.metrics.forms import Form
from bench.metrics.semantics import axis_label, metric_spec
from bench.report.compare import DAGGER, panel_form, panel_sentence
from bench.report.series import Series, file_slug
from bench.report.style import series_styles

FORMATS = ("png", "svg", "pdf")
DPI = 200
PANEL_SIZE = (3.4, 2.7)  # inches per subplot: a two-column paper's column holds one, a full width three
RC = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "svg.fonttype": "none",
    "svg.hashsalt": "mpa-bench",
    "pdf.fonttype": 42,
}
LEGEND_MAX_ROWS = 20  # entries per legend column before a second column starts
LEGEND_ROW = 0.17  # inches per legend entry at the report's legend font size
X_MARGIN = 1.06  # the x axis ends this factor beyond the run's largest rate
Y_MARGIN = 0.04  # share of the visible y range added above and below


def _new_figure(panels: int, columns: int | None = None) -> tuple[Figure, list]:
    columns = columns or min(panels, 3)
    rows = math.ceil(panels / columns)
    width, height = PANEL_SIZE
    figure = Figure(figsize=(width * columns, height * rows + 0.35), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[panels:]:
        extra.set_visible(False)
    return figure, axes[:panels]


def _title_and_legend(figure: Figure, title: str, handles: list, labels: list[str], below: bool = False) -> None:
    """The title centred over the panels, and a legend outside the axes (on the right, or ``below`` in one row); the
    figure grows to hold the legend, so that nothing is clipped."""
    width, height = figure.get_size_inches()
    if handles:
        if below:
            legend = figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
        else:
            columns = math.ceil(len(labels) / LEGEND_MAX_ROWS)
            legend = figure.legend(handles, labels, loc="outside right upper", ncols=columns, frameon=False)
            rows = math.ceil(len(labels) / columns)
            figure.set_size_inches(width * 2, max(height, LEGEND_ROW * rows + 0.5))  # room to lay it out
        figure.draw_without_rendering()
        box = legend.get_window_extent()
        legend_width, legend_height = box.width / figure.dpi, box.height / figure.dpi
        if below:
            figure.set_size_inches(max(width, legend_width + 0.2), height + legend_height + 0.1)
        else:
            figure.set_size_inches(width + legend_width + 0.1, max(height, legend_height + 0.3))
    figure.suptitle(title, x=0.5 if below else 0.5 * width / figure.get_size_inches()[0])


def _visible_range(lines: Sequence[tuple[np.ndarray, np.ndarray]], xmax: float) -> tuple[float, float] | None:
    """y range of the lines' parts with x <= xmax (a line leaving the frame counts up to the frame's edge)."""
    values = []
    for x, y in lines:
        inside = x <= xmax
        values += list(y[inside])
        if inside.any() and not inside.all():
            values.append(float(np.interp(xmax, x, y)))
    if not values:
        return None
    low, high = min(values), max(values)
    pad = (high - low) * Y_MARGIN or max(abs(high), 1.0) * Y_MARGIN
    return low - pad, high + pad


def rate_quality_figure(run: Sequence[Series], published: Sequence[Series], keys: Sequence[str], title: str,
                        forced: Form | None = None, xlim: tuple[float, float] | None = None,
                        ) -> tuple[Figure, pd.DataFrame, list[str]]:
    """One panel per metric (rate on x): run curves solid, published curves dashed.

    Each panel draws its run curves in one form (:func:`bench.report.compare.panel_form`) and the published curves
    that the metric concerns (a learned codec only on the metric it was trained for). The x axis spans the run's
    curves (or ``xlim``), the y axis what is visible.

    Returns:
        The figure, the plotted points (long form, with the form of each series), and one caption sentence per panel.
    """
    styles = series_styles([*run, *published])
    figure, axes = _new_figure(len(keys))
    records, handles, labels, sentences = [], {}, {}, []
    for axis, key in zip(axes, keys):
        spec = metric_spec(key)
        shown = [item for item in published if item.shows(key) and item.has(key)]
        panel = panel_form(run, shown, key, forced)
        marked = {item.key for item in panel.marked}
        drawn = [(item, panel.form) for item in run] + [(item, None) for item in shown if item not in panel.unknown]
        lines = []
        for item, form in drawn:
            x, y = item.xy(key, form)
            if not len(x):
                continue
            style = styles[item.key]
            label = f"{DAGGER} {item.label}" if item.key in marked else item.label
            (line,) = axis.plot(x, y, color=style.color, marker=style.marker, linestyle=style.linestyle,
                                markersize=3.5 if not item.published else 2.5, label=label)
            line.set_gid(f"series:{file_slug(item.label)}")
            handles.setdefault(item.key, line)
            labels.setdefault(item.key, label)
            lines.append((x, y, item.published))
            used = form or item.form_of(key)
            records += [{"panel": key, "series": item.label, "source": item.source, "form": used.text(key),
                         "bpp": float(a), "value": float(b)} for a, b in zip(x, y)]
        run_x = [x for x, _, is_published in lines if not is_published]
        right = xlim[1] if xlim else X_MARGIN * max((float(x.max()) for x in run_x or [x for x, _, _ in lines]),
                                                    default=1.0)
        axis.set_xlim(xlim[0] if xlim else 0.0, right)
        span = _visible_range([(x, y) for x, y, _ in lines], right)
        if span is not None:
            axis.set_ylim(*span)
        axis.set_xlabel("Rate [bpp]")
        axis.set_ylabel(axis_label(spec) if spec else key)
        sentences.append(panel_sentence(spec.label if spec else key, key, panel))
    _title_and_legend(figure, title, list(handles.values()), list(labels.values()))
    columns = ["panel", "series", "source", "form", "bpp", "value"]
    return figure, pd.DataFrame(records, columns=columns), sentences


# What each known knob means, for the x axis.
KNOB_AXES = {"alpha": "α (share of tokens on the task path)", "beta": "β (realism weight of the decoder)"}
# How each steerable codec's rate points read in a legend (MPA's are its quality q; others are checkpoint indices).
KNOB_POINTS = {"alpha": "q = "}


def knob_figure(table: pd.DataFrame, knob: str, keys: Sequence[str], title: str) -> tuple[Figure, pd.DataFrame]:
    """Metric vs a steerable codec's knob at fixed rate point: one panel per metric, one line per rate point.

    Args:
        table: rows with columns ``point``, ``<knob>``, ``bpp`` and the metric keys (one codec, group and dataset).
        knob: the knob's name (``alpha``, ``beta``); a symmetric-log axis shows values spanning decades.
    """
    points = sorted(table["point"].unique())
    figure, axes = _new_figure(len(keys))
    colormap = mpl.colormaps["viridis"]
    values = np.array(sorted(table[knob].unique()), dtype=np.float64)
    positive = values[values > 0]
    linear_threshold = float(positive.min()) if len(positive) else 1.0
    records, handles = [], []
    for axis, key in zip(axes, keys):
        spec = metric_spec(key)
        for index, point in enumerate(points):
            rows = table[table["point"] == point].sort_values(knob)
            rows = rows[np.isfinite(rows[key].to_numpy(dtype=np.float64))]
            if rows.empty:
                continue
            label = f"{KNOB_POINTS.get(knob, 'point ')}{point:g} ({rows['bpp'].mean():.3f} bpp)"
            color = colormap(index / max(1, len(points) - 1))
            (line,) = axis.plot(rows[knob], rows[key], color=color, marker="o", label=label)
            line.set_gid(f"series:{file_slug(label)}")
            if axis is axes[0]:
                handles.append(line)
            records += [{"panel": key, "series": label, "point": float(point), knob: float(a), "value": float(v)}
                        for a, v in zip(rows[knob], rows[key])]
        axis.set_xscale("symlog", linthresh=linear_threshold)
        axis.set_xlim(left=0)
        axis.set_xlabel(KNOB_AXES.get(knob, knob))
        axis.set_ylabel(axis_label(spec) if spec else key)
    _title_and_legend(figure, title, handles, [h.get_label() for h in handles])
    return figure, pd.DataFrame(records, columns=["panel", "series", "point", knob, "value"])


STRIP_DPI = 100  # the strip is drawn at one image pixel per PNG pixel; text sizes are points at this resolution
STRIP_GAP = 8  # pixels between panels
STRIP_TITLE = 30  # pixels above the panels for the strip's title
STRIP_PANEL_TITLE = 18  # pixels above each panel
STRIP_CAPTION = 42  # pixels below each panel (two caption lines)
STRIP_TITLE_CHAR = 7.0  # pixels per character of the 10 pt title at STRIP_DPI (DejaVu Sans averages below this)
STRIP_PANEL_CHAR = 6.3  # the same for the 9 pt panel titles


def _fit_panel_title(text: str, width: int) -> str:
    """A panel title broken before its parenthesis when it would be wider than the panel (narrow crops)."""
    if STRIP_PANEL_CHAR * len(text) <= width or " (" not in text:
        return text
    return text.replace(" (", "\n(", 1)


def strip_figure(titles: Sequence[str], captions: Sequence[str], images: Sequence[np.ndarray],
                 title: str) -> Figure:
    """A row of image crops at native resolution (one image pixel per PNG pixel at :data:`STRIP_DPI`), with a title
    above and a caption (rate, PSNR) below each, as the paper's visualisation."""
    count = len(images)
    height, width = images[0].shape[:2]
    titles = [_fit_panel_title(panel_title, width) for panel_title in titles]
    title_width = STRIP_TITLE_CHAR * max(len(line) for line in title.splitlines()) + 2 * STRIP_GAP
    total_width = max(count * width + (count + 1) * STRIP_GAP, math.ceil(title_width))
    margin = (total_width - count * width - (count - 1) * STRIP_GAP) / 2  # panels centred under a wider title
    title_lines = max(panel_title.count("\n") + 1 for panel_title in titles)
    total_height = STRIP_TITLE + STRIP_PANEL_TITLE * title_lines + height + STRIP_CAPTION
    figure = Figure(figsize=(total_width / STRIP_DPI, total_height / STRIP_DPI), dpi=STRIP_DPI)
    bottom = STRIP_CAPTION / total_height
    for index, (panel_title, caption, image) in enumerate(zip(titles, captions, images)):
        left = (margin + index * (width + STRIP_GAP)) / total_width
        axis = figure.add_axes((left, bottom, width / total_width, height / total_height))
        axis.imshow(image, interpolation="nearest", aspect="auto")
        axis.set_axis_off()
        axis.set_title(panel_title, fontsize=9, pad=3, linespacing=1.1)
        axis.text(0.5, -0.03, caption, transform=axis.transAxes, ha="center", va="top", fontsize=8.5,
                  linespacing=1.25)
    figure.suptitle(title, fontsize=10, y=1.0 - 4 / total_height, va="top")
    return figure


def complexity_figure(table: pd.DataFrame, title: str) -> tuple[Figure, pd.DataFrame]:
    """Bars of parameters (M), KMACs per pixel and latency (ms) per model, measured beside the poster's numbers.

    Args:
        table: :func:`bench.report.complexity.complexity_frame` of absolute rows (the "+" rows are changes and have
            no bar): ``model``, ``params_m``, ``kmacs_per_pixel``, ``latency_ms``, ``device`` and the paper's
            ``paper_<column>[_low|_high]`` (NaN where none); a paper range is drawn at its midpoint with its bounds as
            an error bar. The poster's latency (an RTX 3090 GPU) is drawn only beside latency measured on a GPU.
    """
    from bench.complexity.schema import POSTER_DEVICE

    table = table[~table["relative"].astype(bool)].reset_index(drop=True)
    timed = table[np.isfinite(table["latency_ms"].to_numpy(dtype=np.float64))]
    devices = sorted({str(d) for d in timed.get("device", pd.Series(dtype=str)) if d})
    on_gpu = bool(devices) and all("cuda" in d.lower() or "gpu" in d.lower() for d in devices)
    quantities = [("params_m", "Parameters [M]"), ("kmacs_per_pixel", "KMACs / pixel")]
    if len(timed):  # a GPU's milliseconds beside a CPU's would mislead: the poster's latency only beside a GPU's
        quantities.append(("latency_ms", "Latency [ms]" + ("" if on_gpu else " (measured on CPU)")))
    figure, axes = _new_figure(len(quantities))
    positions = np.arange(len(table))
    records = []
    handles = {}
    for axis, (column, label) in zip(axes, quantities):
        measured = table[column].to_numpy(dtype=np.float64)
        paper = _column(table, f"paper_{column}")
        if column == "latency_ms" and not on_gpu:
            paper = np.full(len(table), np.nan)
        if np.isfinite(measured).any():
            handles.setdefault("measured", axis.bar(positions - 0.2, measured, width=0.4, color="#0072B2",
                                                    label="measured (mpa-bench)"))
        if np.isfinite(paper).any():
            low, high = _column(table, f"paper_{column}_low"), _column(table, f"paper_{column}_high")
            spread = np.nan_to_num(np.vstack([paper - low, high - paper]), nan=0.0)
            bars = axis.bar(positions + 0.2, paper, width=0.4, color="#999999", hatch="//",
                            label=f"paper (MPA poster; latency on an {POSTER_DEVICE})",
                            yerr=spread if spread.any() else None, capsize=2)
            handles.setdefault("paper", bars)
        axis.set_xticks(positions, table["model"], rotation=30, ha="right")
        axis.set_ylabel(label)
        axis.grid(axis="x", visible=False)
        records += [{"panel": column, "series": "measured", "model": m, "value": float(v)}
                    for m, v in zip(table["model"], measured)]
        records += [{"panel": column, "series": "paper", "model": m, "value": float(v)}
                    for m, v in zip(table["model"], paper) if math.isfinite(v)]
    _title_and_legend(figure, title + (f"\nlatency measured on {', '.join(devices)}" if devices else ""),
                      list(handles.values()), [h.get_label() for h in handles.values()], below=True)
    return figure, pd.DataFrame(records, columns=["panel", "series", "model", "value"])


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table:
        return np.full(len(table), np.nan)
    return table[name].to_numpy(dtype=np.float64)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Writes a report file so that it appears complete or not at all."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def figure_bytes(figure: Figure, fmt: str, dpi: float | None = None) -> bytes:
    buffer = io.BytesIO()
    with mpl.rc_context(RC):
        figure.savefig(buffer, format=fmt, dpi=dpi or DPI, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict | None:
    # No creation date, so that regenerating an unchanged report gives identical SVG and PDF files.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None


def save_figure(figure: Figure, stem: Path, formats: Sequence[str] = FORMATS,
                data: pd.DataFrame | None = None, dpi: float | None = None) -> dict[str, Path]:
    """Writes ``<stem>.<fmt>`` for each format (and ``<stem>.csv`` with ``data``); returns {format: path}."""
    written = {}
    for index, fmt in enumerate(formats):
        written[fmt] = write_bytes_atomic(stem.with_name(f"{stem.name}.{fmt}"), figure_bytes(figure, fmt, dpi))
        if index == 0:  # the layout is in inches, the same for every format: compute it once
            figure.set_layout_engine("none")
    if data is not None:
        written["csv"] = write_bytes_atomic(stem.with_name(f"{stem.name}.csv"), data.to_csv(index=False).encode())
    return written


def figure_with_style(build, *args, **kwargs):
    """Calls a figure builder under the report's rc settings (fonts, sizes), which apply at creation time."""
    with mpl.rc_context(RC):
        return build(*args, **kwargs)

