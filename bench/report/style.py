"""series -> line styles: one colour and marker per codec family, from a colour-blind-safe palette.

A family groups a codec's run curves with its published counterparts (the run's ``jpeg`` and ``jpeg-444`` and
CompressAI's published JPEG; ``avif`` and published AV1; ``hevc`` and BPG/HM): they share a colour. Run curves are
solid, published ones dashed; within a family each member gets its own marker and, after the first, its own line
style. Colours come from Okabe & Ito's eight-colour palette and Paul Tol's "muted" scheme (both colour-blind safe):
each known family has its own (:data:`FAMILY_COLORS`), so a codec keeps its colour from figure to figure; other
families take the remaining ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from bench.report.series import Series

OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
TOL_MUTED = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499")
# Families that often appear together get clearly different colours; others take the rest of the two palettes.
FAMILY_COLORS = {"vvc": "#000000", "hevc": "#E69F00", "jpeg": "#D55E00", "webp": "#0072B2", "jpeg2000": "#56B4E9",
                 "av1": "#CC79A7", "jpegxl": "#009E73", "mpa": "#882255", "tinylic": "#999933", "elic": "#44AA99",
                 "mric": "#DDCC77", "bmshj2018": "#CC6677", "mbt2018": "#117733", "cheng2020": "#332288"}
SPARE_COLORS = tuple(c for c in (*OKABE_ITO, *TOL_MUTED) if c not in FAMILY_COLORS.values() and c != "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
RUN_LINESTYLES = ("-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
PUBLISHED_LINESTYLE = "--"

# Family of a codec name (lower case, matched as a prefix after removing separators), in palette order.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vvc", ("vtm", "vvc", "vvenc")),
    ("hevc", ("hevc", "bpg", "hm", "x265")),
    ("jpeg2000", ("jpeg2000", "jp2", "openjpeg")),
    ("jpegxl", ("jpegxl", "jxl")),
    ("jpeg", ("jpeg",)),
    ("webp", ("webp",)),
    ("av1", ("avif", "av1", "aom")),
    ("mpa", ("mpa",)),
    ("tinylic", ("tinylic",)),
    ("elic", ("elic",)),
    ("mric", ("mric",)),
    ("bmshj2018", ("bmshj2018",)),
    ("mbt2018", ("mbt2018",)),
    ("cheng2020", ("cheng2020",)),
)


@dataclass(frozen=True)
class Style:
    color: str
    marker: str
    linestyle: object


def family(name: str) -> str:
    """The family of a codec name (``jpeg-444`` -> ``jpeg``, ``BPG 8b 444 x265`` -> ``hevc``); unknown names are
    their own family."""
    compact = re.sub(r"[^a-z0-9]", "", name.lower())
    for key, prefixes in FAMILIES:
        if any(compact.startswith(prefix) for prefix in prefixes):
            return key
    return compact or name


def series_styles(series: Sequence[Series]) -> dict[str, Style]:
    """One stable style per series key (see the module docstring)."""
    families: dict[str, list[Series]] = {}
    for item in series:
        families.setdefault(family(item.codec or item.name), []).append(item)
    known = [key for key, _ in FAMILIES]
    spare = list(SPARE_COLORS)
    styles: dict[str, Style] = {}
    for name, members in families.items():
        if name in FAMILY_COLORS:
            color = FAMILY_COLORS[name]
        else:
            color = spare.pop(0) if spare else SPARE_COLORS[len(styles) % len(SPARE_COLORS)]
        base = known.index(name) if name in known else len(known) + len(styles)
        run_index = 0
        for index, item in enumerate(members):
            marker = MARKERS[(base + index) % len(MARKERS)]
            if item.published:
                linestyle: object = PUBLISHED_LINESTYLE
            else:
                linestyle = RUN_LINESTYLES[run_index % len(RUN_LINESTYLES)]
                run_index += 1
            styles.setdefault(item.key, Style(color, marker, linestyle))
    return styles
