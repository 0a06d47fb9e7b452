"""``python -m bench check RUN``: compare a run's curves with a stored baseline; exit 1 on a regression."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="regression check of a run against its baseline (exit 1 on a regression)",
        description="Compares every curve of the baseline with the run's: per point the bpp (relative) and each "
        "metric (absolute, in the metric's unit, in its direction of improvement), and the BD-rate of the run's "
        "curve against the baseline curve. Prints what moved; exits 1 when anything is worse beyond tolerance, "
        "missing, or measured on other images. The default baseline is results/baselines/<suite>-<datasets>.json "
        "in a source checkout (or $MPA_BENCH_BASELINES), else RUN/baseline.json.",
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="run directory, e.g. runs/default-sample")
    parser.add_argument("--baseline", type=Path, metavar="PATH",
                        help="baseline file, or a run directory holding baseline.json (default: see above)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="KEY=VALUE",
                        help="override a tolerance (repeatable): psnr-rgb=0.05 (metric units), bpp=1%%, bd-rate=1%%")
    parser.add_argument("--update", action="store_true", help="write the run's curves as the new baseline")
    parser.add_argument("--force", action="store_true",
                        help="with --update: overwrite a baseline that holds curves of other datasets")
    parser.add_argument("-a", "--all", action="store_true", help="list every comparison, not only what moved")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bench.baseline import (
        BaselineError,
        Tolerance,
        baseline_document,
        parse_tolerances,
        read_baseline,
        resolve_baseline_path,
        write_baseline,
    )
    from bench.check import check_run, format_result
    from bench.rundata import load_run

    run_data = load_run(args.run)
    path = resolve_baseline_path(args.baseline, run_data)
    if args.update:
        try:
            stored = Tolerance.from_dict(read_baseline(path).get("tolerance")) if path.is_file() else Tolerance()
        except BaselineError:
            stored = Tolerance()  # an unreadable file is replaced only with --force (write_baseline checks)
        tolerance = parse_tolerances(args.tolerance, stored)
        document = baseline_document(run_data, tolerance, path.stem)
        write_baseline(path, document, force=args.force)
        curves = len(document["curves"])
        points = sum(len(c["results"]["point"]) for c in document["curves"])
        print(f"baseline {path} written from {args.run}: {curves} curve{'s' if curves != 1 else ''} "
              f"({points} point{'s' if points != 1 else ''})")
        return 0
    baseline = read_baseline(path)
    tolerance = parse_tolerances(args.tolerance, Tolerance.from_dict(baseline.get("tolerance")))
    result = check_run(run_data, baseline, tolerance, path)
    print(format_result(result, verbose=args.all))
    return 0 if result.passed else 1
