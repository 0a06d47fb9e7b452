"""``python -m bench datasets list|verify|fetch``: dataset manifests and the files they describe."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="list, verify or fetch datasets described in datasets/*.json")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="manifests and what each describes")
    for name, text in (("verify", "check every file's sha256 (missing, corrupt, re-encoded)"),
                       ("fetch", "download missing files that have a public URL, then verify")):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", help="dataset manifest name (see `datasets list`)")
        action.add_argument("--data-root", type=Path, required=name == "fetch", metavar="DIR",
                            help="folder with the dataset (or its parent); default: $MPA_BENCH_DATA")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bench.data.manifest import fetch, load_manifest, manifest_names, verify

    if args.action == "list":
        for name in manifest_names():
            manifest = load_manifest(name)
            count = len(manifest.files) or manifest.expected_count or 0
            print(f"{name:10s} {count:6d} files  {manifest.description}")
            print(f"{'':10s} source: {manifest.homepage}  licence: {manifest.license}")
        return 0
    manifest = load_manifest(args.name)
    statuses = fetch(manifest, args.data_root) if args.action == "fetch" else verify(manifest, args.data_root)
    bad = total = 0
    for status in statuses:  # one per listed file, or one count check for manifests without a file list
        if not status.good or status.status == "reencoded":
            print(f"{status.status:9s} {status.path}" + (f"  ({status.detail})" if status.detail else ""))
        bad += not status.good
        total += 1
    print(f"{args.name}: {total - bad} of {total} files verified" + (f", {bad} missing or corrupt" if bad else ""))
    return 1 if bad else 0
