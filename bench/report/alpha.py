"""curves -> MPA alpha transitions: each metric against alpha at fixed quality, for every MPA-style codec.

A codec takes part when its decoder variants are MPA variants (``alpha=<a>,task=<t>``, parsed by
:func:`bench.codecs.mpa.parse_variant`) and one task has at least two alphas. One table per (dataset, codec, task).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.codecs.mpa import parse_variant


@dataclass(frozen=True)
class AlphaTransition:
    """Rows ``point, alpha, bpp, <metric keys>`` of one codec and task on one dataset, sorted by point and alpha."""

    dataset: str
    codec: str
    task: str
    table: pd.DataFrame


def _parsed(variant: str) -> tuple[float, str] | None:
    try:
        return parse_variant(variant)
    except ValueError:
        return None


def alpha_transitions(curves: pd.DataFrame) -> list[AlphaTransition]:
    """Every MPA-style (dataset, codec, task) of the curves with two or more alphas."""
    if curves.empty:
        return []
    parsed = curves["variant"].map(_parsed)
    mpa = curves[parsed.notna()].copy()
    if mpa.empty:
        return []
    mpa["alpha"] = [value[0] for value in parsed[parsed.notna()]]
    mpa["task"] = [value[1] for value in parsed[parsed.notna()]]
    found = []
    for (dataset, codec, task), group in mpa.groupby(["dataset", "codec", "task"], sort=False):
        if group["alpha"].nunique() < 2:
            continue
        table = group.drop(columns=["dataset", "codec", "task", "variant"]).sort_values(["point", "alpha"])
        found.append(AlphaTransition(dataset, codec, task, table.reset_index(drop=True)))
    return found
