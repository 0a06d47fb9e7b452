"""Command line ``python -m bench <command>``: one module per command, each only parses and calls the library.

Every command module defines ``add_parser(subparsers)``, which registers its arguments and sets
``handler=<function(args) -> exit status>``. Heavy imports stay inside the handlers so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from typing import Sequence

from bench import __version__
from bench.errors import BenchError

COMMANDS = ("run", "verify", "ls", "datasets", "weights", "report", "check", "profile")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark and evaluation suite for learned image coding (MPA)."
    )
    parser.add_argument("--version", action="version", version=f"mpa-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bench.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit status: 0 ok, 1 failures or regressions, 2 usage or input errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    # compressai's module-level torch.jit.script calls warn on every import under torch 2.14; not the user's concern.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return args.handler(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; results measured so far are kept in the run store", file=sys.stderr)
        return 130
