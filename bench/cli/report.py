"""``python -m bench report RUN``: paper-style figures, BD-rate tables and a self-contained index.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="figures, BD-rate tables and index.html of a run",
        description="Rate-distortion, rate-perception and rate-task figures (PNG, SVG, PDF) with the published curves "
        "dashed, MPA's alpha transition, a visual comparison strip decoded from the stored bitstreams, Table 4 "
        "(from complexity.json), BD-rate tables (Markdown, LaTeX, CSV) and one self-contained index.html. A run "
        "curve is compared with a published curve in the published curve's form (payload or file bpp, float or "
        "8-bit reconstruction); captions and table notes say which.",
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="run directory, e.g. runs/default-sample")
    parser.add_argument("-o", "--out", type=Path, help="report directory (default: RUN/report)")
    parser.add_argument("--anchor", metavar="CURVE",
                        help="BD-rate anchor: a published curve (compressai/kodak/vtm) or a codec of the run (jpeg); "
                        "default: published VTM where the dataset has it, else the run's jpeg")
    parser.add_argument("--published", nargs="+", metavar="NAME",
                        help="published curves to overlay: 'all', 'none', or keys, file stems or names, globs "
                        "allowed (compressai/kodak/vtm, hm, 'tinylic-*', JPEG); default: VTM, BPG, TinyLIC and the "
                        "published counterparts of the run's codecs")
    parser.add_argument("--no-published", action="store_true", help="overlay no published curve (= --published none)")
    parser.add_argument("--form", metavar="RATE,RECONSTRUCTION",
                        help="force the form run curves are compared in: file|payload,8-bit|float (default: auto, the "
                        "form of the published curve each is compared with)")
    parser.add_argument("--xlim", metavar="LOW,HIGH", help="rate range of the figures in bpp (default: 0 to just past "
                        "the run's largest rate)")
    parser.add_argument("--formats", default="png,svg,pdf", help="figure formats, comma-separated (default: png,svg,pdf)")
    parser.add_argument("--complexity", action="append", type=Path, default=[], metavar="FILE",
                        help="complexity.json for Table 4 (repeatable; complexity*.json in RUN are always read)")
    parser.add_argument("--no-visual", action="store_true", help="no visual comparison strip (no decoding)")
    parser.add_argument("--visual-dataset", metavar="NAME", help="dataset of the visual strip (default: the first)")
    parser.add_argument("--visual-image", metavar="ID", help="image of the visual strip (default: chosen)")
    parser.add_argument("--visual-panel", action="append", metavar="LABEL[:VARIANT]",
                        help="the visual strip's panels in order (repeatable), e.g. --visual-panel mric:beta=2.56 "
                        "--visual-panel mpa --visual-panel mric:beta=0.0 (a label alone: every knob value of a "
                        "steerable codec); default: the suite's codecs, steerable ones last")
    parser.add_argument("--visual-bpp", type=float, metavar="BPP",
                        help="target rate of the visual strip: each codec at its closest point (default: the rate at "
                        "which the codecs' points lie closest together)")
    parser.add_argument("--crop", type=int, default=256, metavar="PX",
                        help="side of the strip's centre crop, shown at native resolution (default: 256)")
    parser.add_argument("--device", default="cpu", help="device for decoding learned codecs in the strip")
    parser.add_argument("--check-html", action="store_true",
                        help="load index.html in headless Chromium: fail on console errors or a blank page")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from bench.errors import BenchError
    from bench.report.build import ReportOptions, build_report
    from bench.report.compare import parse_form
    from bench.report.plots import FORMATS

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting logs every glyph at INFO
    formats = tuple(fmt.strip() for fmt in args.formats.split(",") if fmt.strip())
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise BenchError(f"--formats: unknown {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    published = ("none",) if args.no_published else (tuple(args.published) if args.published else None)
    options = ReportOptions(
        anchor=args.anchor, published=published, form=parse_form(args.form), xlim=_xlim(args.xlim), formats=formats,
        complexity=tuple(args.complexity),
        visual=not args.no_visual, visual_dataset=args.visual_dataset, visual_image=args.visual_image,
        visual_bpp=args.visual_bpp, crop=args.crop, device=args.device,
        visual_panels=tuple(args.visual_panel) if args.visual_panel else None,
    )
    report = build_report(args.run, args.out, options)
    figures, tables = len(report.figures), len(report.tables)
    print(f"{figures} figure{'s' if figures != 1 else ''} and {tables} table{'s' if tables != 1 else ''} in "
          f"{report.out_dir} ({report.seconds:.1f} s)")
    for note in report.notes:
        print(f"note: {note}")
    print(f"open {report.index}")
    if args.check_html:
        from bench.report.browser import check_page

        page = check_page(report.index)
        for line in page.errors:
            print(f"error: {report.index}: {line}", file=sys.stderr)
        if page.blank:
            print(f"error: {report.index} renders blank in Chromium", file=sys.stderr)
        if not page.ok:
            return 1
        print(f"{report.index}: loads in headless Chromium without console errors")
    return 0


def _xlim(text: str | None) -> tuple[float, float] | None:
    from bench.errors import BenchError

    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise BenchError(f"--xlim must be LOW,HIGH in bpp (e.g. 0,1.5), got {text!r}") from None
    return low, high
