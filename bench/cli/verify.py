"""``python -m bench verify RUN``: derive every stored number of a run again from its stored bitstreams."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="re-decode every stored bitstream and recompute every metric (exit 1 on a mismatch)",
        description="Checks each stored bitstream against its row (sha256, bytes: exact), decodes it again in this "
        "process with the codec built from the run's suite.toml, recomputes every metric from the dataset image "
        "(whose digest must match) and compares with the stored values (within a float tolerance). Run it on "
        "another machine's run directory, or with --device cuda, to see whether decoding reproduces there.",
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="run directory, e.g. runs/default-sample")
    parser.add_argument("--device", help="decode and score on this device (default: the run's)")
    parser.add_argument("--data-root", metavar="DIR", help="the datasets' folder on this machine, if not the run's")
    parser.add_argument("--sample", type=int, metavar="N", help="check N items drawn at random (quick check)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default: 0)")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance of metric values (default 1e-6)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bench.engine.verify import format_verify, verify_run
    from bench.errors import BenchError

    if args.sample is not None and args.sample < 1:
        raise BenchError(f"--sample must be at least 1, got {args.sample}")
    result = verify_run(args.run, device=args.device, data_root=args.data_root, sample=args.sample, seed=args.seed,
                        rtol=args.rtol, progress=not args.no_progress)
    print(format_verify(result))
    return 0 if result.passed else 1
