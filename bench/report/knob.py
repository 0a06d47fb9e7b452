"""decoder variants -> knobs: the steering knob of any steerable codec, and its transitions at fixed rate.

A steerable codec's decoder variants are named ``key=value[,key=value]`` (MPA: ``alpha=0.5,task=mse``; the MRIC-style
model: ``beta=2.56``). The first key with a numeric value is the codec's knob; the values of the other keys name
its group (MPA's task). A transition is each metric against the knob at fixed rate point: one table per
(dataset, codec, group) with at least two knob values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

SYMBOLS = {"alpha": "α", "beta": "β"}


@dataclass(frozen=True)
class Knob:
    """A decoder variant's knob: its name (``alpha``), value, and group (the other keys' values, ``mse``)."""

    name: str
    value: float
    group: str = ""

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.name, self.name)

    def label(self, reference_group: str = "") -> str:
        """``α = 0.5`` (the group added when it is not the reference one: ``α = 0.5, cls``)."""
        text = f"{self.symbol} = {self.value:g}"
        return text if self.group in ("", reference_group) else f"{text}, {self.group}"


def parse_knob(variant: str) -> Knob | None:
    """The knob of a ``key=value[,key=value]`` variant name, or None for anything else (``default``)."""
    pairs = [part.partition("=") for part in variant.split(",")]
    if not pairs or any(not sep or not key for key, sep, _ in pairs):
        return None
    for index, (key, _, value) in enumerate(pairs):
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            group = "+".join(v for i, (_, _, v) in enumerate(pairs) if i != index)
            return Knob(key, number, group)
    return None


@dataclass(frozen=True)
class KnobTransition:
    """Rows ``point, <knob>, bpp, <metric keys>`` of one codec and group on one dataset, by point and knob."""

    dataset: str
    codec: str
    knob: str
    group: str
    table: pd.DataFrame


def knob_transitions(curves: pd.DataFrame) -> list[KnobTransition]:
    """Every steerable (dataset, codec, group) of the curves with two or more knob values."""
    if curves.empty:
        return []
    parsed = curves["variant"].map(parse_knob)
    steerable = curves[parsed.notna()].copy()
    if steerable.empty:
        return []
    knobs = list(parsed[parsed.notna()])
    steerable["knob"], steerable["value"], steerable["group"] = ([k.name for k in knobs], [k.value for k in knobs],
                                                                 [k.group for k in knobs])
    found = []
    for (dataset, codec, knob, group), rows in steerable.groupby(["dataset", "codec", "knob", "group"], sort=False):
        if rows["value"].nunique() < 2:
            continue
        table = rows.drop(columns=["dataset", "codec", "variant", "knob", "group"]).rename(columns={"value": knob})
        found.append(KnobTransition(dataset, codec, knob, group, table.sort_values(["point", knob])
                                    .reset_index(drop=True)))
    return found
