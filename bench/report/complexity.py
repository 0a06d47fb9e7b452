"""complexity.json -> Table 4: parameters, KMACs per pixel and latency per model, beside the poster's numbers.

The report reads every ``complexity*.json`` in the run directory (or the files given with ``--complexity``); the
profiler (``python -m bench profile``) writes them. Schema (``mpa-bench/complexity/1``)::

    {
      "schema": "mpa-bench/complexity/1",
      "input": {"height": 512, "width": 768},         # optional: the image size profiled
      "device": "NVIDIA H100 80GB HBM3",               # optional: where latency was measured
      "models": [                                      # one entry per row of Table 4
        {
          "name": "MPA",                               # row label
          "codec": "mpa",                              # optional: registry name
          "variant": "alpha=0.0,task=mse",             # optional
          "params": 30530000,                          # total parameters (an integer)
          "kmacs_per_pixel": 441.52,                   # multiply-accumulates per pixel / 1000 (the poster's
                                                       # "KFLOPs per pixel"), neighborhood attention included
          "latency_ms": {"encode": 6.1, "decode": 6.9},  # a number (total) or {"encode", "decode"[, "total"]}
          "paper": {"params": "29.00M~30.53M",         # optional: the published numbers, each a number or a
                    "kmacs_per_pixel": "384.84~441.52",  # "lo~hi" range string (M and K suffixes allowed);
                    "latency_ms": "12.72~13.05"}       # when absent, POSTER_TABLE4 fills it by model name
        }
      ]
    }
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from bench.errors import BenchError

SCHEMA = "mpa-bench/complexity/1"
REQUIRED = ("name", "params", "kmacs_per_pixel", "latency_ms")
PROFILE_HINT = ("python -m bench profile writes complexity.json (params, KMACs/pixel, latency); save it in the run "
                "directory or pass --complexity FILE to the report")

# Table 4 of the MPA poster (seed-mpa-poster.txt): #Param., KFLOPs per pixel, latency (ms); ranges as printed.
POSTER_TABLE4: dict[str, dict[str, Any]] = {
    "MRIC": {"params": "69.14M", "kmacs_per_pixel": 1118.17, "latency_ms": 11.89},
    "TinyLIC": {"params": "28.46M", "kmacs_per_pixel": 439.29, "latency_ms": 12.68},
    "+ MLPs": {"params": "+0.51M~+2.04M", "kmacs_per_pixel": "-56.68~+0", "latency_ms": "-0.33~+0"},
    "+ Predictors": {"params": "+0.03M", "kmacs_per_pixel": "+2.23", "latency_ms": "+0.09"},
    "+ S & A": {"params": "+0", "kmacs_per_pixel": "+0", "latency_ms": "+0.28"},
    "MPA": {"params": "29.00M~30.53M", "kmacs_per_pixel": "384.84~441.52", "latency_ms": "12.72~13.05"},
}

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}
_NUMBER = re.compile(r"^([+-]?\d+(?:\.\d+)?)([KMG]?)$")


class ComplexityFileError(BenchError):
    """A complexity.json that does not follow the schema."""


@dataclass(frozen=True)
class ModelComplexity:
    """One row of Table 4 as measured, with the published numbers when known."""

    name: str
    params: int
    kmacs_per_pixel: float
    latency_ms: float
    encode_ms: float | None = None
    decode_ms: float | None = None
    paper: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def parse_published(value: Any) -> tuple[float, float] | None:
    """``28.46M`` -> (28.46e6, 28.46e6); ``384.84~441.52`` -> (384.84, 441.52); relative ``+0.03M`` -> None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    if not isinstance(value, str) or value.strip().startswith(("+", "-")):
        return None
    bounds = []
    for part in value.replace(" ", "").split("~"):
        match = _NUMBER.match(part)
        if not match:
            return None
        bounds.append(float(match[1]) * _SUFFIX[match[2]])
    return (bounds[0], bounds[-1]) if bounds else None


def _latency(value: Any, where: str) -> tuple[float, float | None, float | None]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), None, None
    if isinstance(value, dict) and ("total" in value or {"encode", "decode"} <= set(value)):
        encode, decode = value.get("encode"), value.get("decode")
        total = value.get("total", (encode or 0.0) + (decode or 0.0))
        return float(total), None if encode is None else float(encode), None if decode is None else float(decode)
    raise ComplexityFileError(f"{where}: latency_ms must be a number or {{encode, decode[, total]}}, got {value!r}")


def read_complexity(path: Path | str) -> list[ModelComplexity]:
    """Reads one complexity.json.

    Raises:
        ComplexityFileError: unreadable JSON, another schema, or a model without a required field.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ComplexityFileError(f"cannot read complexity file {path}: {error}") from error
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("models"), list):
        raise ComplexityFileError(f"{path}: not a {SCHEMA} file (needs 'schema': {SCHEMA!r} and a 'models' list); "
                                  f"{PROFILE_HINT}")
    models = []
    for index, entry in enumerate(data["models"]):
        where = f"{path}: models[{index}]"
        missing = [key for key in REQUIRED if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ComplexityFileError(f"{where} lacks {', '.join(missing)} (required: {', '.join(REQUIRED)})")
        try:
            total, encode, decode = _latency(entry["latency_ms"], where)
            paper = dict(entry.get("paper") or POSTER_TABLE4.get(str(entry["name"]), {}))
            models.append(ModelComplexity(str(entry["name"]), int(entry["params"]), float(entry["kmacs_per_pixel"]),
                                          total, encode, decode, paper, str(path)))
        except (TypeError, ValueError) as error:
            raise ComplexityFileError(f"{where}: {error}") from error
    return models


def find_complexity_files(run_dir: Path, extra: Sequence[Path | str] = ()) -> list[Path]:
    """``complexity*.json`` in the run directory, then the explicitly given files (each must exist)."""
    found = sorted(Path(run_dir).glob("complexity*.json"))
    for path in map(Path, extra):
        if not path.is_file():
            raise ComplexityFileError(f"--complexity {path}: file not found; {PROFILE_HINT}")
        if path not in found:
            found.append(path)
    return found


def complexity_frame(models: Sequence[ModelComplexity]) -> pd.DataFrame:
    """One row per model: measured values and the paper's (midpoint, low, high; NaN where none or relative)."""
    records = []
    for model in models:
        record: dict[str, Any] = {
            "model": model.name, "params_m": model.params / 1e6, "kmacs_per_pixel": model.kmacs_per_pixel,
            "latency_ms": model.latency_ms, "encode_ms": model.encode_ms, "decode_ms": model.decode_ms,
        }
        for key, column, scale in (("params", "params_m", 1e6), ("kmacs_per_pixel", "kmacs_per_pixel", 1.0),
                                   ("latency_ms", "latency_ms", 1.0)):
            bounds = parse_published(model.paper.get(key))
            low, high = (bounds[0] / scale, bounds[1] / scale) if bounds else (math.nan, math.nan)
            record[f"paper_{column}"] = (low + high) / 2
            record[f"paper_{column}_low"], record[f"paper_{column}_high"] = low, high
            record[f"paper_{column}_text"] = "" if key not in model.paper else str(model.paper[key])
        records.append(record)
    return pd.DataFrame(records)


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def complexity_table(models: Sequence[ModelComplexity]):
    """Table 4 as a :class:`bench.report.tables.Table`: measured beside the paper's numbers."""
    from bench.report.tables import Table

    columns = ["Model", "#Param. (M)", "paper", "KMACs/pixel", "paper", "Latency (ms)", "enc / dec", "paper"]
    rows = []
    for model in models:
        split = (f"{_number(model.encode_ms, 2)} / {_number(model.decode_ms, 2)}"
                 if model.encode_ms is not None or model.decode_ms is not None else "–")
        rows.append([
            model.name, f"{model.params / 1e6:.2f}", str(model.paper.get("params", "–")),
            f"{model.kmacs_per_pixel:.2f}", str(model.paper.get("kmacs_per_pixel", "–")),
            f"{model.latency_ms:.2f}", split, str(model.paper.get("latency_ms", "–")),
        ])
    notes = ["KMACs/pixel: multiply-accumulates per pixel / 1000 (the poster's 'KFLOPs per pixel'); "
             "'paper' columns: Table 4 of the MPA poster."]
    sources = sorted({model.source for model in models if model.source})
    if sources:
        notes.append("Measured: " + ", ".join(sources) + ".")
    return Table("Table 4: complexity", columns, rows, notes, complexity_frame(models))
