"""complexity.json rows -> report tables: Table 4 of the MPA poster (learned models), the classical codecs' latency,
MPA's KMACs per pixel over q and alpha (one table per task), and the frame the complexity figure draws.

Table 4 holds the poster's rows (TinyLIC, the three "+" rows, MPA) and any other learned model profiled; a learned
profile row whose codec already has a poster row (``tinylic``, ``mpa``) is not repeated, its latency is the poster
row's. Classical codecs have no parameters or MACs: their latency is a table of its own.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

from bench.complexity.schema import CLASSICAL, LEARNED, POSTER_DEVICE, ModelComplexity, parse_published
from bench.report.tables import Table

MINUS = "\u2212"


def table4_models(models: Sequence[ModelComplexity]) -> list[ModelComplexity]:
    """The learned rows of Table 4: the poster's rows, then learned models without one (in file order)."""
    poster = [model for model in models if model.table4]
    covered = {model.codec for model in poster if model.codec}
    others = [model for model in models if model.kind == LEARNED and not model.table4 and model.codec not in covered]
    return poster + others


def classical_models(models: Sequence[ModelComplexity]) -> list[ModelComplexity]:
    return [model for model in models if model.kind == CLASSICAL]


def complexity_frame(models: Sequence[ModelComplexity]) -> pd.DataFrame:
    """One row per model: measured values and the paper's (midpoint, low, high; NaN where none or relative)."""
    records = []
    for model in models:
        record: dict[str, Any] = {"model": model.name, "relative": model.relative, "kind": model.kind,
                                  "device": model.device, "encode_ms": model.encode_ms, "decode_ms": model.decode_ms}
        for key, column, scale in (("params", "params_m", 1e6), ("kmacs_per_pixel", "kmacs_per_pixel", 1.0),
                                   ("latency_ms", "latency_ms", 1.0)):
            measured = model.measured(key)
            low, high = (measured[0] / scale, measured[1] / scale) if measured else (math.nan, math.nan)
            record[column] = (low + high) / 2
            record[f"{column}_low"], record[f"{column}_high"] = low, high
            bounds = parse_published(model.paper.get(key))
            low, high = (bounds[0] / scale, bounds[1] / scale) if bounds else (math.nan, math.nan)
            record[f"paper_{column}"] = (low + high) / 2
            record[f"paper_{column}_low"], record[f"paper_{column}_high"] = low, high
            record[f"paper_{column}_text"] = "" if key not in model.paper else str(model.paper[key])
            difference = model.relative_difference(key) or (None, None)
            record[f"relative_difference_{column}_low"] = math.nan if difference[0] is None else difference[0]
            record[f"relative_difference_{column}_high"] = math.nan if difference[1] is None else difference[1]
        records.append(record)
    return pd.DataFrame(records)


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}".replace("-", MINUS)


def _measured_text(model: ModelComplexity, key: str, scale: float, digits: int) -> str:
    bounds = model.measured(key)
    if bounds is None:
        return "–"
    if model.relative:
        texts = [_signed(b / scale, digits) for b in bounds]
    else:
        texts = [f"{b / scale:.{digits}f}" for b in bounds]
    return texts[0] if texts[0] == texts[1] else f"{texts[0]}~{texts[1]}"


def _difference_text(model: ModelComplexity, key: str) -> str:
    difference = model.relative_difference(key)
    if difference is None or all(d is None for d in difference):
        return "–"
    texts = ["–" if d is None else _signed(100 * d, 2) + "%" for d in difference]
    return texts[0] if texts[0] == texts[1] else f"{texts[0]}~{texts[1]}"


def _paper_text(model: ModelComplexity, key: str) -> str:
    return str(model.paper.get(key, "–")).replace("-", MINUS)


def _sources(models: Sequence[ModelComplexity]) -> list[str]:
    sources = sorted({model.source for model in models if model.source})
    return ["Measured: " + ", ".join(sources) + "."] if sources else []


def complexity_table(models: Sequence[ModelComplexity]) -> Table:
    """Table 4 (learned models, see :func:`table4_models`): measured beside the poster's numbers and the relative
    difference (measured - paper) / |paper| ("Δ")."""
    rows_of = table4_models(models)
    columns = ["Model", "#Param. (M)", "paper", "Δ", "KMACs/pixel", "paper", "Δ", "Latency (ms)", "enc / dec",
               f"paper ({POSTER_DEVICE})"]
    rows = []
    for model in rows_of:
        split = (f"{_number(model.encode_ms, 2)} / {_number(model.decode_ms, 2)}"
                 if model.encode_ms is not None or model.decode_ms is not None else "–")
        rows.append([
            model.name, _measured_text(model, "params", 1e6, 2), _paper_text(model, "params"),
            _difference_text(model, "params"),
            _measured_text(model, "kmacs_per_pixel", 1.0, 2), _paper_text(model, "kmacs_per_pixel"),
            _difference_text(model, "kmacs_per_pixel"),
            _measured_text(model, "latency_ms", 1.0, 2), split, _paper_text(model, "latency_ms"),
        ])
    devices = sorted({model.device for model in rows_of if model.device and model.latency_ms is not None})
    notes = ["KMACs/pixel: multiply-accumulates per pixel / 1000 (the poster's 'KFLOPs per pixel'); "
             "'paper': Table 4 of the MPA poster; Δ: (measured - paper) / |paper|; '+' rows: changes against the "
             "row above; –: not applicable or not measured."]
    if devices:
        notes.append(f"Latency measured on {', '.join(devices)}; the poster's latency is from an {POSTER_DEVICE}, "
                     f"so the two latency columns are not comparable unless the device is the same.")
    notes += list(dict.fromkeys(note for model in rows_of for note in model.notes))
    notes += _sources(rows_of)
    return Table("Complexity of the learned models (the MPA poster's Table 4)", columns, rows, notes,
                 complexity_frame(rows_of))


def classical_latency_table(models: Sequence[ModelComplexity]) -> Table:
    """Encode and decode latency of the classical codecs (no parameters, no MACs)."""
    rows_of = classical_models(models)
    rows = [[model.name, _number(model.encode_ms, 2), _number(model.decode_ms, 2), _number(model.latency_ms, 2)]
            for model in rows_of]
    devices = sorted({model.device for model in rows_of if model.device})
    notes = ["Milliseconds per image, median of the timed runs; the codec's own encode and decode of bytes (the "
             "conversion between float tensors and 8-bit arrays is outside the timed region)."]
    if devices:
        notes.append(f"Measured on {', '.join(devices)}.")
    notes += _sources(rows_of)
    frame = pd.DataFrame([{"codec": m.name, "encode_ms": m.encode_ms, "decode_ms": m.decode_ms,
                           "total_ms": m.latency_ms, "device": m.device} for m in rows_of])
    return Table("Latency of the classical codecs", ["Codec", "Encode (ms)", "Decode (ms)", "Total (ms)"], rows,
                 notes, frame)


def complexity_sweep_tables(points: Sequence[dict[str, Any]]) -> list[Table]:
    """MPA's KMACs per pixel over q (rows) and alpha (columns), one table per decoder task (``mpa_sweep`` points)."""
    frame = pd.DataFrame(points)
    if frame.empty:
        return []
    alphas = sorted(set(frame["alpha"]))
    columns = ["q"] + [f"α = {alpha:.3g}" for alpha in alphas]
    notes = ["α: fraction of decoder tokens on the task side path (official q_task = 1 + 7α); α = 0 routes every "
             "token to the main path, the same for every task. Token counts per path are int(T * ratio), so the "
             "MACs do not depend on the weights."]
    tables = []
    for task, by_task in frame.groupby("task", sort=False):
        rows = []
        for quality, group in by_task.groupby("quality", sort=True):
            values = {row.alpha: row.kmacs_per_pixel for row in group.itertuples()}
            rows.append([f"{quality:g}"] + [_number(values.get(alpha), 2) for alpha in alphas])
        tables.append(Table(f"MPA KMACs per pixel over q and α, {task} decoder", columns, rows, notes,
                            by_task.reset_index(drop=True)))
    return tables
