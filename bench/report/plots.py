"""series -> figures: paper-style matplotlib figures, written as PNG, SVG and PDF plus a CSV of what they plot.

Figures use matplotlib's object API (no pyplot, no global backend or rc changes). Run curves are solid lines with
markers; published curves are dashed and name their source in the legend. SVG text stays text (``svg.fonttype =
none``), and every series is a group whose id names it, so a figure can be searched and checked. Every figure also
gets ``<name>.csv``: the exact values drawn, one row per point, for pgfplots or a re-plot.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.atomic import atomic_path
from bench.report.series import Series, axis_label, file_slug, metric_spec

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
STRIP_PANEL_WIDTH = 1.6  # inches per image of the visual strip
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")


@dataclass(frozen=True)
class Style:
    color: tuple[float, ...]
    marker: str | None
    linestyle: str


def series_styles(series: Sequence[Series]) -> dict[str, Style]:
    """One stable style per series key: run curves solid with markers, published ones dashed."""
    keys = list(dict.fromkeys(s.key for s in series))
    published = {s.key for s in series if s.published}
    colormap = mpl.colormaps["tab10" if len(keys) <= 10 else "tab20"]
    styles = {}
    for index, key in enumerate(keys):
        color = colormap(index % colormap.N)
        if key in published:
            styles[key] = Style(color, None, "--")
        else:
            styles[key] = Style(color, MARKERS[index % len(MARKERS)], "-")
    return styles


def _new_figure(panels: int, legend_rows: int = 0, columns: int | None = None) -> tuple[Figure, list]:
    columns = columns or min(panels, 3)
    rows = math.ceil(panels / columns)
    width, height = PANEL_SIZE
    figure = Figure(figsize=(width * columns, height * rows + 0.16 * legend_rows + 0.1), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[panels:]:
        extra.set_visible(False)
    return figure, axes[:panels]


def _legend(figure: Figure, handles: list, labels: list[str]) -> None:
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), frameon=False)


def rate_quality_figure(series: Sequence[Series], keys: Sequence[str], title: str) -> tuple[Figure, pd.DataFrame]:
    """One panel per metric key (bpp on x); returns the figure and the plotted points (long form)."""
    styles = series_styles(series)
    shown = [s for s in series if any(s.has(key) for key in keys)]
    figure, axes = _new_figure(len(keys), legend_rows=math.ceil(len(shown) / 3))
    records, handles, labels = [], {}, {}
    for axis, key in zip(axes, keys):
        spec = metric_spec(key)
        for item in shown:
            x, y = item.xy(key)
            if not len(x):
                continue
            style = styles[item.key]
            (line,) = axis.plot(x, y, color=style.color, marker=style.marker, linestyle=style.linestyle,
                                label=item.label)
            line.set_gid(f"series:{file_slug(item.label)}")
            handles.setdefault(item.key, line)
            labels.setdefault(item.key, item.label)
            records += [{"panel": key, "series": item.label, "source": item.source, "bpp": float(a), "value": float(b)}
                        for a, b in zip(x, y)]
        axis.set_xlabel("Rate [bpp]")
        axis.set_ylabel(axis_label(spec) if spec else key)
    figure.suptitle(title)
    _legend(figure, list(handles.values()), list(labels.values()))
    return figure, pd.DataFrame(records, columns=["panel", "series", "source", "bpp", "value"])


def alpha_figure(table: pd.DataFrame, keys: Sequence[str], title: str) -> tuple[Figure, pd.DataFrame]:
    """Metric vs alpha at fixed quality: one panel per metric, one line per rate point.

    Args:
        table: rows with columns ``point``, ``alpha``, ``bpp`` and the metric keys (one codec, task and dataset).
    """
    points = sorted(table["point"].unique())
    figure, axes = _new_figure(len(keys), legend_rows=math.ceil(len(points) / 3))
    colormap = mpl.colormaps["viridis"]
    alphas = np.array(sorted(table["alpha"].unique()), dtype=np.float64)
    positive = alphas[alphas > 0]
    linear_threshold = float(positive.min()) if len(positive) else 1.0
    records, handles = [], []
    for axis, key in zip(axes, keys):
        spec = metric_spec(key)
        for index, point in enumerate(points):
            rows = table[table["point"] == point].sort_values("alpha")
            rows = rows[np.isfinite(rows[key].to_numpy(dtype=np.float64))]
            if rows.empty:
                continue
            label = f"q = {point:g} ({rows['bpp'].mean():.3f} bpp)"
            color = colormap(index / max(1, len(points) - 1))
            (line,) = axis.plot(rows["alpha"], rows[key], color=color, marker="o", label=label)
            line.set_gid(f"series:{file_slug(label)}")
            if axis is axes[0]:
                handles.append(line)
            records += [{"panel": key, "series": label, "point": float(point), "alpha": float(a), "value": float(v)}
                        for a, v in zip(rows["alpha"], rows[key])]
        axis.set_xscale("symlog", linthresh=linear_threshold)
        axis.set_xlim(left=0)
        axis.set_xlabel("α (share of tokens on the task path)")
        axis.set_ylabel(axis_label(spec) if spec else key)
    figure.suptitle(title)
    _legend(figure, handles, [h.get_label() for h in handles])
    return figure, pd.DataFrame(records, columns=["panel", "series", "point", "alpha", "value"])


def strip_figure(titles: Sequence[str], captions: Sequence[str], images: Sequence[np.ndarray],
                 title: str) -> Figure:
    """A row of image crops with a title above and a caption (bpp, PSNR) below each, as the paper's visualisation."""
    count = len(images)
    height, width = images[0].shape[:2]
    panel_width = STRIP_PANEL_WIDTH
    figure = Figure(figsize=(panel_width * count, panel_width * height / width + 0.75), layout="constrained")
    axes = figure.subplots(1, count, squeeze=False).ravel()
    for axis, panel_title, caption, image in zip(axes, titles, captions, images):
        axis.imshow(image, interpolation="nearest")
        axis.set_title(panel_title, fontsize=7)
        axis.set_xlabel(caption, fontsize=6.5)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
    figure.suptitle(title, fontsize=8)
    return figure


def strip_dpi(image: np.ndarray, minimum: float = 160.0) -> float:
    """The resolution at which one pixel of a strip's crops is a whole number of PNG pixels (nearest-neighbour,
    so codec artefacts stay exact), and the captions are sharp."""
    native = image.shape[1] / STRIP_PANEL_WIDTH
    return native * math.ceil(minimum / native)


def complexity_figure(table: pd.DataFrame, title: str) -> tuple[Figure, pd.DataFrame]:
    """Bars of parameters (M), KMACs per pixel and latency (ms) per model, measured beside the paper's numbers.

    Args:
        table: :func:`bench.report.complexity.complexity_frame`: ``model``, ``params_m``, ``kmacs_per_pixel``,
            ``latency_ms`` and the paper's ``paper_<column>[_low|_high]`` (NaN where the paper gives none); a paper
            range is drawn at its midpoint with its bounds as an error bar.
    """
    quantities = (("params_m", "Parameters [M]"), ("kmacs_per_pixel", "KMACs / pixel"), ("latency_ms", "Latency [ms]"))
    figure, axes = _new_figure(len(quantities), legend_rows=1)
    positions = np.arange(len(table))
    records = []
    handles = {}
    for axis, (column, label) in zip(axes, quantities):
        measured = table[column].to_numpy(dtype=np.float64)
        paper = _column(table, f"paper_{column}")
        if np.isfinite(measured).any():
            handles.setdefault("measured", axis.bar(positions - 0.2, measured, width=0.4, color="tab:blue",
                                                    label="measured (mpa-bench)"))
        if np.isfinite(paper).any():
            low, high = _column(table, f"paper_{column}_low"), _column(table, f"paper_{column}_high")
            spread = np.nan_to_num(np.vstack([paper - low, high - paper]), nan=0.0)
            bars = axis.bar(positions + 0.2, paper, width=0.4, color="tab:gray", hatch="//", label="paper (poster)",
                            yerr=spread if spread.any() else None, capsize=2)
            handles.setdefault("paper", bars)
        axis.set_xticks(positions, table["model"], rotation=30, ha="right")
        axis.set_ylabel(label)
        axis.grid(axis="x", visible=False)
        records += [{"panel": column, "series": "measured", "model": m, "value": float(v)}
                    for m, v in zip(table["model"], measured)]
        records += [{"panel": column, "series": "paper", "model": m, "value": float(v)}
                    for m, v in zip(table["model"], paper) if math.isfinite(v)]
    figure.suptitle(title)
    _legend(figure, list(handles.values()), [h.get_label() for h in handles.values()])
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

