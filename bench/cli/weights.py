"""``python -m bench weights list|fetch [NAME]``: the metric-network weights cache (see :mod:`bench.weights`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list or fetch the metric-network weights (LPIPS, DISTS, FID/KID backbones)",
        description="Weights live in $MPA_BENCH_CACHE/weights (default ~/.cache/mpa-bench/weights).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show each weights file, its status in the cache and its metrics")
    listing.set_defaults(handler=_list)
    fetching = actions.add_parser("fetch", help="download weights from their official URLs and verify sha256")
    fetching.add_argument("name", nargs="?", help="one weights name (default: all)")
    fetching.add_argument("--force", action="store_true", help="download again even if a verified copy exists")
    fetching.add_argument("--quiet", action="store_true", help="no progress bar")
    fetching.set_defaults(handler=_fetch)


def _list(args: argparse.Namespace) -> int:
    from bench import weights

    print(f"cache: {weights.cache_dir()}")
    rows = [("name", "status", "size", "metrics", "file")]
    for name, card in weights.CARDS.items():
        size = f"{card.size / 2**20:.1f} MiB" if card.size else "?"
        rows.append((name, weights.status(name), size, ",".join(card.used_by), card.filename))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for name in weights.CARDS:
        if weights.status(name) != "ok":
            print(f"to fetch {name}: {weights.fetch_command(name)}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from bench import weights

    names = [weights.card(args.name).name] if args.name else None
    weights.fetch_all(
        names,
        force=args.force,
        progress=not args.quiet,
        on_done=lambda name, path: print(f"{name}: ok ({path})"),
    )
    return 0
