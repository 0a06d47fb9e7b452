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
    parser.add_argument("--executor", choices=["local", "process", "ray"],
                        help="where items are measured: local (this process), process (a pool of local processes, "
                        "the default) or ray (a Ray cluster; pip install -e \".[ray]\")")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="parallel workers (default: one per core up to 8 on the CPU, 1 on a GPU; for Ray what "
                        "the cluster offers); encode/decode times include their contention, so use 1 for latency "
                        "figures")
    parser.add_argument("--ray-address", metavar="auto|HOST:PORT",
                        help="join this Ray cluster (implies --executor ray; default: start a local Ray)")
    parser.add_argument("--max-megapixels", type=float, metavar="MP",
                        help="images larger than this fail as items instead of exhausting memory (default: 50)")
    parser.add_argument("--fresh", action="store_true",
                        help="move the run store aside (results.sqlite.<time>.bak) and start over")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would run (codecs, datasets, items, what is skipped and why, what the run "
                        "store already holds, a rough time estimate) and measure nothing")
    parser.add_argument("--yes", action="store_true",
                        help="start even when most of the suite cannot run here (otherwise asked, or refused when "
                        "not interactive)")
    parser.set_defaults(handler=run)


def execution_config(suite, args: argparse.Namespace):
    """The suite's ``[execution]`` (default: a local process pool) with the command line's overrides."""
    import dataclasses

    from bench.engine.execution import ExecutionConfig

    base = suite.execution or ExecutionConfig(kind="process")
    return dataclasses.replace(
        base,
        kind=args.executor or ("ray" if args.ray_address else base.kind),
        workers=args.workers if args.workers is not None else base.workers,
        ray_address=args.ray_address or base.ray_address,
    ).validate()


def runnable_share(planned) -> tuple[int, int]:
    """(codec x dataset combinations that run, combinations the suite asks for), over its experiments."""
    runnable = total = 0
    for item in planned:
        total += len(item.suite.codecs) * len(item.suite.datasets)
        if item.plan is not None:
            runnable += len(item.plan.codecs) * len(item.plan.datasets)
    return runnable, total


def confirm(question: str) -> bool:
    """Asks on an interactive terminal; anything but y/yes (or no terminal) is a no."""
    if not sys.stdin.isatty():
        return False
    return input(question).strip().lower() in ("y", "yes")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from bench.engine.export import summary_table
    from bench.engine.run import plan_suites, run_suites
    from bench.engine.suite import apply_overrides, load_suite, parse_checkpoint_options
    from bench.errors import BenchError

    if args.workers is not None and args.workers < 1:
        raise BenchError(f"--workers must be at least 1, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {args.limit}")
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
    if args.max_megapixels is not None:
        suite = dataclasses.replace(suite, max_megapixels=args.max_megapixels)
    planned = plan_suites(suite, args.run_id)
    skipped = [line for item in planned for line in item.skipped]
    for line in skipped:  # up front, before any work: what cannot run here and what to pass for it
        print(f"skipped {line}", file=sys.stderr)
    if args.dry_run:
        from bench.engine.dryrun import dry_run, format_dry_run

        workers = execution_config(suite, args).resolved_workers(suite.device)
        print(format_dry_run(dry_run(planned, args.runs_dir, workers)))
        return 0
    if all(item.plan is None for item in planned):
        print("error: nothing could run (see the skipped lines above)", file=sys.stderr)
        return 2
    runnable, total = runnable_share(planned)
    if runnable < total / 2 and not args.yes and not confirm(
            f"most of suite {suite.name!r} cannot run here ({total - runnable} of {total} codec x dataset "
            f"combinations skipped, see above); run the rest? [y/N] "):
        print(f"error: most of suite {suite.name!r} cannot run here (see the skipped lines above); pass what they "
              f"ask for, or --yes to run the rest anyway", file=sys.stderr)
        return 2
    execution = execution_config(suite, args)
    results = run_suites(planned, args.runs_dir, args.run_id, fresh=args.fresh, progress=not args.no_progress,
                         execution=execution)
    failures: list[tuple[Path, str]] = []
    for result in results:
        print(summary_table(result.curves, result.plan.suite.metrics))
        for note in result.notes:
            print(f"note: {note}")
        outcome = result.outcome
        rescored = f", {plural(outcome.rescored, 'item')} re-scored from stored bitstreams" if outcome.rescored else ""
        print(f"\nrun directory: {result.run_dir} ({plural(outcome.computed, 'item')} computed{rescored}, "
              f"{outcome.reused} reused from the store)")
        failures += [(result.run_dir, failure) for failure in outcome.failures]
    if len(planned) > 1:
        for line in skipped:  # repeated at the end, where a long run's output ends
            print(f"skipped {line}", file=sys.stderr)
    if failures:
        run_dir, first = failures[0]
        print(f"error: {plural(len(failures), 'item')} failed, e.g. {first} (all reasons in "
              f"{run_dir / 'results.csv'})", file=sys.stderr)
        return 1
    return 0
