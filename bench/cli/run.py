"""``python -m bench run``: run a suite (default: classical codecs on the embedded sample images)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a suite into runs/<run-id>/ (resumable)",
        description="Encode every image once per codec and rate point, decode every decoder variant, score, store. "
        "Items already in the run store are reused; an interrupted run resumes where it stopped.",
    )
    parser.add_argument("--suite", default="default", help="built-in suite name or path to a suite TOML (default: default)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME",
                        help="run on this dataset instead of the suite's (repeatable): sample, folder, kodak, ...")
    parser.add_argument("--data-root", metavar="DIR", help="folder with the dataset's files (or its parent)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N images of each dataset")
    parser.add_argument("--codec", action="append", default=[], metavar="LABEL",
                        help="only this codec of the suite (repeatable; label or registry name)")
    parser.add_argument("--metric", action="append", default=[], metavar="NAME",
                        help="compute these metrics instead of the suite's (repeatable)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="checkpoint file of a learned codec, e.g. mpa=ckpt/checkpoint_step3.pth.tar")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="device for learned codecs and metric networks")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of run directories (default: runs)")
    parser.add_argument("--run-id", help="run directory name (default: <suite>-<datasets>)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="parallel measuring processes (default: one per core up to 8 on the CPU, 1 on a GPU); "
                        "encode/decode times include their contention, so use 1 for latency figures")
    parser.add_argument("--fresh", action="store_true", help="discard what the run store holds and start over")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bench.engine.export import summary_table
    from bench.engine.run import default_workers, plan_suites, run_suite
    from bench.engine.suite import SuiteError, apply_overrides, load_suite, parse_checkpoint_options

    suite = apply_overrides(
        load_suite(args.suite),
        datasets=args.dataset,
        data_root=args.data_root,
        limit=args.limit,
        codec_labels=args.codec,
        metrics=args.metric,
        checkpoints=parse_checkpoint_options(args.checkpoint),
        device=args.device,
    )
    if suite.experiments and args.run_id:
        raise SuiteError(f"--run-id names one run directory; suite {suite.name!r} has {len(suite.experiments)} "
                         f"experiments, each written to <runs-dir>/<suite>-<experiment>-<datasets>")
    planned = plan_suites(suite, args.run_id)
    skipped = [line for item in planned for line in item.skipped]
    for line in skipped:  # up front, before any work: what cannot run here and what to pass for it
        print(f"skipped {line}", file=sys.stderr)
    workers = args.workers if args.workers is not None else default_workers(suite.device)
    failures: list[tuple[Path, str]] = []
    for item in planned:
        if item.plan is None:
            continue
        result = run_suite(item.suite, args.runs_dir, args.run_id, fresh=args.fresh, progress=not args.no_progress,
                           workers=workers, plan=item.plan)
        print(summary_table(result.curves))
        print(f"\nrun directory: {result.run_dir} ({result.outcome.computed} items computed, "
              f"{result.outcome.reused} reused from the store)")
        failures += [(result.run_dir, failure) for failure in result.outcome.failures]
    if len(planned) > 1:
        for line in skipped:  # repeated at the end, where a long run's output ends
            print(f"skipped {line}", file=sys.stderr)
    if all(item.plan is None for item in planned):
        print("error: nothing could run (see the skipped lines above)", file=sys.stderr)
        return 2
    if failures:
        run_dir, first = failures[0]
        print(f"error: {len(failures)} items failed, e.g. {first} (all reasons in {run_dir / 'results.csv'})",
              file=sys.stderr)
        return 1
    return 0
