"""``python -m bench ls``: what can be run: codecs, datasets, metrics and built-in suites."""

from __future__ import annotations

import argparse

KINDS = ("codecs", "datasets", "metrics", "suites")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ls", help="list codecs, datasets, metrics and suites")
    parser.add_argument("kind", nargs="?", choices=KINDS, help="list only this kind")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bench.codecs import codecs
    from bench.data import datasets
    from bench.engine.suite import builtin_suites
    from bench.metrics import metrics

    listings = {
        "codecs": codecs.names(),
        "datasets": datasets.names(),
        "metrics": metrics.names(),
        "suites": builtin_suites(),
    }
    for kind in [args.kind] if args.kind else KINDS:
        print(f"{kind}: {', '.join(listings[kind])}")
    return 0
