"""``python -m bench check RUN``: compare a run's curves with a stored baseline; exit 1 on a regression."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="regression check of a run against results/baselines (exit 1 on a regression)",
        description="Compares every curve of the baseline with the run's: per point the bpp (relative) and each "
        "metric (absolute, in the metric's unit, in its direction of improvement), and the BD-rate of the run's "
        "curve against the baseline curve. Prints what moved; exits 1 when anything is worse beyond tolerance, "
        "missing, or measured on other images.",
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="run directory, e.g. runs/default-sample")
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="baseline file (default: results/baselines/<suite name>.json)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="KEY=VALUE",
                        help="override a tolerance (repeatable): psnr-rgb=0.05 (metric units), bpp=1%%, bd-rate=1%%")
    parser.add_argument("--update", action="store_true", help="write the run's curves as the new baseline")
    parser.add_argument("-a", "--all", action="store_true", help="list every comparison, not only what moved")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bench.check import (
        Tolerance,
        baseline_document,
        check_run,
        default_baseline_path,
        format_result,
        parse_tolerances,
        read_baseline,
        write_baseline,
    )
    from bench.report.rundata import load_run

    run_data = load_run(args.run)
    path = args.baseline or default_baseline_path(run_data)
    if args.update:
        stored = Tolerance.from_dict(read_baseline(path).get("tolerance")) if path.is_file() else Tolerance()
        tolerance = parse_tolerances(args.tolerance, stored)
        document = baseline_document(run_data, tolerance, path.stem)
        write_baseline(path, document)
        print(f"baseline {path} written from {args.run}: {len(document['curves'])} curves "
              f"({sum(len(c['results']['point']) for c in document['curves'])} points)")
        return 0
    baseline = read_baseline(path)
    tolerance = parse_tolerances(args.tolerance, Tolerance.from_dict(baseline.get("tolerance")))
    result = check_run(run_data, baseline, tolerance, path)
    print(format_result(result, verbose=args.all))
    return 0 if result.passed else 1
