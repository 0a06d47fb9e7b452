"""run directory -> report directory: every figure, table and the index page of one run.

Layout of ``<out>/`` (default ``runs/<run-id>/report/``)::

    index.html                                   self-contained page: figures, tables, metadata
    report.json                                  what was written: figures (with their series), tables, notes
    figures/<family>_<dataset>.{png,svg,pdf,csv} rate-distortion, rate-perception, rate-task, ...
    figures/<knob>_<dataset>_<codec>[_<group>].* steerable codecs (MPA alpha, MRIC beta): metric vs knob
    figures/visual_<dataset>_<image>.*           visual comparison strip
    figures/complexity.*                         Table 4 (when a complexity.json exists)
    tables/bd-rate_<dataset>.{md,tex,csv}        BD-rates against the anchor, every metric
    tables/complexity.{md,tex,csv}               Table 4 (learned models)
    tables/latency_classical.{md,tex,csv}        latency of the classical codecs
    tables/complexity_mpa_sweep_<task>.*         MPA's KMACs per pixel over q and alpha, per decoder task
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Sequence

import pandas as pd

from bench.atomic import write_text_atomic
from bench.complexity.schema import (
    PROFILE_HINT,
    ModelComplexity,
    find_complexity_files,
    read_complexity,
    read_complexity_sweep,
)
from bench.errors import BenchError
from bench.metrics.forms import Form
from bench.metrics.semantics import families_present, report_metrics
from bench.report import html
from bench.report.knob import knob_transitions
from bench.report.bdtable import bd_table, bd_to_table, check_anchor, find_series
from bench.report.compare import images_sentence, images_subtitle
from bench.report.complexity import (
    classical_latency_table,
    classical_models,
    complexity_frame,
    complexity_sweep_tables,
    complexity_table,
    table4_models,
)
from bench.report.plots import (
    FORMATS,
    KNOB_AXES,
    knob_figure,
    complexity_figure,
    figure_with_style,
    rate_quality_figure,
    save_figure,
    strip_figure,
)
from bench.report.series import Series, file_slug, published_series, run_series
from bench.report.tables import Table, to_csv, to_html, to_latex, to_markdown
from bench.report.visual import DEFAULT_CROP, StripUnavailable, visual_strip
from bench.rundata import RunData, load_run

INDEX = "index.html"
MANIFEST = "report.json"


@dataclass(frozen=True)
class ReportOptions:
    """What a report draws.

    Attributes:
        anchor: BD-rate anchor (a published key such as ``compressai/kodak/vtm``, or a run curve name); default
            per dataset and metric: published VTM, else the run's jpeg.
        published: published curves to overlay: None the curated default set
            (:func:`bench.report.series.default_published`), ``("all",)`` every one, ``()`` none, else keys, file
            stems or names (globs allowed).
        form: a forced comparison form for the run curves (None: each comparison in the published curve's form).
        xlim: x range of the rate figures (default: from 0 to just past the run's largest rate).
        formats: figure formats besides the CSV of the plotted values.
        complexity: complexity.json files besides those in the run directory.
        visual: draw the visual comparison strip (decodes stored bitstreams again).
        crop: side of the strip's centre crop in pixels (at least 1).
    """

    anchor: str | None = None
    published: tuple[str, ...] | None = None
    form: Form | None = None
    xlim: tuple[float, float] | None = None
    formats: tuple[str, ...] = FORMATS
    complexity: tuple[Path, ...] = ()
    visual: bool = True
    visual_dataset: str | None = None
    visual_image: str | None = None
    visual_bpp: float | None = None
    visual_panels: tuple[str, ...] | None = None
    crop: int = DEFAULT_CROP
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.crop < 1:
            raise BenchError(f"--crop must be a positive number of pixels, got {self.crop}")
        if self.visual_bpp is not None and not self.visual_bpp > 0:
            raise BenchError(f"--visual-bpp must be a positive rate, got {self.visual_bpp}")
        if self.xlim is not None and not 0 <= self.xlim[0] < self.xlim[1]:
            raise BenchError(f"--xlim must be LOW,HIGH with 0 <= LOW < HIGH, got {self.xlim}")


@dataclass
class FigureEntry:
    section: str
    title: str
    files: dict[str, Path]
    series: list[str] = field(default_factory=list)
    caption: str = ""


@dataclass
class TableEntry:
    section: str
    title: str
    files: dict[str, Path]
    table: Table


@dataclass
class Report:
    out_dir: Path
    index: Path
    figures: list[FigureEntry] = field(default_factory=list)
    tables: list[TableEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def write_table(table: Table, stem: Path) -> dict[str, Path]:
    """``<stem>.md``, ``<stem>.tex`` (booktabs) and ``<stem>.csv``."""
    return {
        "md": write_text_atomic(stem.with_name(stem.name + ".md"), to_markdown(table)),
        "tex": write_text_atomic(stem.with_name(stem.name + ".tex"), to_latex(table)),
        "csv": write_text_atomic(stem.with_name(stem.name + ".csv"), to_csv(table)),
    }


class _Builder:
    def __init__(self, run: RunData, out_dir: Path, options: ReportOptions):
        self.run, self.out_dir, self.options = run, out_dir, options
        self.report = Report(out_dir, out_dir / INDEX)
        self.figures_dir, self.tables_dir = out_dir / "figures", out_dir / "tables"

    def figure(self, section: str, title: str, name: str, figure, data=None, series=(), caption="",
               formats: Sequence[str] | None = None, dpi: float | None = None) -> None:
        formats = formats or self.options.formats or ("png",)
        files = save_figure(figure, self.figures_dir / name, formats, data, dpi)
        self.report.figures.append(FigureEntry(section, title, files, list(series), caption))

    def curves(self) -> None:
        by_dataset: dict[str, list[Series]] = {}
        images = {dataset: self.run.image_set(dataset) for dataset in dict.fromkeys(self.run.curves["dataset"])}
        for item in run_series(self.run.curves, images):
            by_dataset.setdefault(item.dataset, []).append(item)
        codecs = list(dict.fromkeys(info["codec"] for info in self.run.codec_versions().values()))
        if self.options.anchor:
            everything = [s for dataset, run in by_dataset.items() for s in [*run, *published_series(dataset, ["all"])]]
            check_anchor(self.options.anchor, everything)
        for dataset, run in by_dataset.items():
            published = published_series(dataset, self.options.published, codecs)
            anchor = find_series(self.options.anchor or "", published_series(dataset, ["all"]))
            if anchor is not None and anchor.key not in {item.key for item in published}:
                published.append(anchor)  # the BD anchor is always drawn
            keys = report_metrics([c for item in run for c in item.points.columns if item.has(c)])
            for family, members in families_present(keys):
                title = f"{family.title} on {dataset}"
                subtitle = images_subtitle(run, [p for p in published if any(p.has(m) for m in members)])
                figure, data, sentences = figure_with_style(rate_quality_figure, run, published, members,
                                                            title + (f"\n{subtitle}" if subtitle else ""),
                                                            self.options.form, self.options.xlim)
                labels = list(dict.fromkeys(data["series"]))
                caption = " ".join([images_sentence(run, [p for p in published if p.label in labels]), *sentences,
                                    "Dashed: published curves (results/published), source in the legend."])
                self.figure(family.key, title, f"{family.key}_{file_slug(dataset)}", figure, data, labels, caption)
            self.bd(dataset, run, keys)

    def bd(self, dataset: str, run: list[Series], keys: list[str]) -> None:
        anchors = published_series(dataset, ["all"])  # the anchor may be a published curve that is not overlaid
        table = bd_to_table(bd_table(run, anchors, keys, self.options.anchor, self.options.form))
        files = write_table(table, self.tables_dir / f"bd-rate_{file_slug(dataset)}")
        self.report.tables.append(TableEntry("bd-rate", table.title, files, table))

    def knobs(self) -> None:
        for transition in knob_transitions(self.run.curves):
            keys = report_metrics([c for c in transition.table.columns
                                   if transition.table[c].notna().any()])
            if not keys:
                continue
            group = f" ({transition.group} path)" if transition.group else ""
            title = f"{transition.codec} on {transition.dataset}: metric vs {transition.knob}{group}"
            figure, data = figure_with_style(knob_figure, transition.table, transition.knob, keys, title)
            name = "_".join(file_slug(part) for part in (transition.knob, transition.dataset, transition.codec,
                                                         transition.group) if part)
            self.figure("knob", title, name, figure, data, list(dict.fromkeys(data["series"])),
                        f"One line per rate point; {KNOB_AXES.get(transition.knob, transition.knob)}.")

    def visual(self) -> None:
        options = self.options
        try:
            strip = visual_strip(self.run, options.visual_dataset, options.visual_image, options.crop,
                                 options.device, options.visual_bpp,
                                 list(options.visual_panels) if options.visual_panels else None)
        except StripUnavailable as error:
            self.report.notes.append(f"No visual comparison strip: {error}.")
            return
        titles = [p.title for p in strip.panels]
        figure = figure_with_style(strip_figure, titles, [p.caption for p in strip.panels],
                                   [p.image for p in strip.panels], strip.title)
        data = pd.DataFrame([{"panel": p.title, "codec": p.codec, "variant": p.variant, "point": p.point,
                              "bpp": p.bpp, "psnr": p.psnr} for p in strip.panels])
        # Photographs: no SVG (it would only wrap the pixels); one image pixel per PNG pixel (the figure's own dpi).
        formats = tuple(fmt for fmt in self.options.formats if fmt != "svg") or ("png",)
        self.figure("visual", f"Visual comparison, {strip.dataset}/{strip.image_id}",
                    f"visual_{file_slug(strip.dataset)}_{file_slug(strip.image_id)}", figure, data, titles,
                    " ".join(strip.notes), formats=formats, dpi=figure.dpi)

    def read_complexity(self) -> list[ModelComplexity]:
        """Reads (and so validates) the complexity files before anything is drawn."""
        files = find_complexity_files(self.run.run_dir, self.options.complexity)
        return [model for path in files for model in read_complexity(path)]

    def complexity(self, models: list[ModelComplexity]) -> None:
        if not models:
            self.report.notes.append(f"No Table 4 (complexity): no complexity*.json in {self.run.run_dir}; "
                                     f"{PROFILE_HINT}.")
            return
        tables: list[tuple[Table, str]] = []
        if table4_models(models):
            tables.append((complexity_table(models), "complexity"))
            learned = table4_models(models)
            title = "Complexity of the learned models (the MPA poster's Table 4)"
            figure, data = figure_with_style(complexity_figure, complexity_frame(learned), title)
            self.figure("complexity", title, "complexity", figure, data,
                        [m.name for m in learned if not m.relative],
                        "'+' rows of Table 4 are changes and have no bar; the poster's latency (a GPU) is drawn only "
                        "beside latency measured on a GPU.")
        if classical_models(models):
            tables.append((classical_latency_table(models), "latency_classical"))
        files = find_complexity_files(self.run.run_dir, self.options.complexity)
        sweep_points = [point for path in files for point in read_complexity_sweep(path)]
        for sweep in complexity_sweep_tables(sweep_points):
            task = str(sweep.frame["task"].iloc[0])
            tables.append((sweep, f"complexity_mpa_sweep_{file_slug(task)}"))
        for table, stem in tables:
            written = write_table(table, self.tables_dir / stem)
            self.report.tables.append(TableEntry("complexity", table.title, written, table))

    def index(self) -> None:
        report, base = self.report, self.out_dir
        sections = [("metadata", "Run", html.metadata_html(self.run.run_id, self.run.run_dir, self.run.suite_dict,
                                                           self.run.environment, self.run.codec_versions(),
                                                           self.run.describe_datasets()))]
        headings = {"rate-distortion": "Rate-distortion", "rate-perception": "Rate-perception",
                    "rate-task": "Rate-task", "rate-quality": "Other metrics", "knob": "Decoder knobs (alpha, beta)",
                    "visual": "Visual comparison", "bd-rate": "BD-rate", "complexity": "Complexity (Table 4)"}
        for key, heading in headings.items():
            parts = [html.figure_html(f.title, f.files, base, f.caption) for f in report.figures if f.section == key]
            parts += [f"<h3>{escape(t.title)}</h3>{to_html(t.table)}"
                      f"<p class='note'>{html.file_links(t.files, base)}</p>"
                      for t in report.tables if t.section == key]
            if parts:
                sections.append((key, heading, "".join(parts)))
        skipped = self.run.skipped
        if skipped or report.notes:
            sections.append(("notes", "Notes", html.notes_html(report.notes)
                             + (f"<h3>Skipped by the run</h3>{html.notes_html(skipped)}" if skipped else "")))
        text = html.page(f"mpa-bench report: {self.run.run_id}", sections,
                         f"Generated {time.strftime('%Y-%m-%d %H:%M')} from {self.run.run_dir}")
        write_text_atomic(report.index, text)

    def manifest(self) -> None:
        def relative(files: dict[str, Path]) -> dict[str, str]:
            return {fmt: path.relative_to(self.out_dir).as_posix() for fmt, path in files.items()}

        document = {
            "run_id": self.run.run_id,
            "run_dir": str(self.run.run_dir),
            "options": {k: (list(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(self.options).items()},
            "figures": [{"section": f.section, "title": f.title, "files": relative(f.files), "series": f.series,
                         "caption": f.caption} for f in self.report.figures],
            "tables": [{"section": t.section, "title": t.title, "files": relative(t.files), "notes": t.table.notes}
                       for t in self.report.tables],
            "notes": self.report.notes,
        }
        write_text_atomic(self.out_dir / MANIFEST, json.dumps(document, indent=2, default=str) + "\n")


def build_report(run_dir: Path | str, out_dir: Path | str | None = None,
                 options: ReportOptions = ReportOptions()) -> Report:
    """Writes the report of a run directory (see the module docstring for the layout).

    Raises:
        BenchError: not a run directory, a run without results, an unknown anchor, a malformed complexity.json.
    """
    start = time.perf_counter()
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.run_dir / "report"
    builder = _Builder(run, out, options)
    models = builder.read_complexity()
    builder.curves()
    builder.knobs()
    if options.visual:
        builder.visual()
    builder.complexity(models)
    builder.index()
    builder.manifest()
    builder.report.seconds = time.perf_counter() - start
    return builder.report

