"""The complexity.json schema: parameters, KMACs per pixel and latency per model, with the poster's numbers.

The profiler (``python -m bench profile``) writes these files; the report reads every ``complexity*.json`` in the
run directory (or the files given with ``--complexity``) and draws Table 4 from them. Schema
(``mpa-bench/complexity/1``)::

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

Optional extensions (written by ``python -m bench profile``; files without them read as before):

- ``params``, ``kmacs_per_pixel`` and ``latency_ms`` may be ``null``: not applicable (a classical codec has no
  parameters or MACs) or not measured (latency of an architecture-only row). Shown as "–".
- ``"range": {"params": [lo, hi], "kmacs_per_pixel": [lo, hi], "latency_ms": [lo, hi]}``: measured ranges (e.g.
  MPA over q), shown as ``lo~hi`` and compared bound by bound with a published range.
- ``"relative": true``: the row is a change against the rows above (``+ MLPs``); shown with a sign and compared
  with the poster's signed numbers (``+0.51M~+2.04M``).
- ``"kind"``: ``learned`` or ``classical`` (default: learned when ``params`` is given); ``"table4": true`` marks the
  rows of the poster's Table 4 (default: rows named as in :data:`POSTER_TABLE4`). The report's Table 4 holds the
  learned rows; classical codecs' latency gets a table of its own.
- top level ``"threads"`` and ``"workers"``: torch threads and processes the latency was measured with; a model
  entry may carry its own ``"device"`` (and ``"threads"``) where it was timed differently (classical codecs: 1 thread).
- top level ``"notes": [...]`` and ``"convention": {"name", "sentence", "params_sentence"}``: printed under the
  table (the counting convention that reproduces the paper, and how closely).
- top level ``"mpa_sweep": {"points": [{"quality", "alpha", "q_task", "task", "kmacs_per_pixel"}, ...]}``: MPA's
  KMACs per pixel over q and alpha (:func:`read_complexity_sweep`).

Relative differences (measured - paper) / |paper| are computed here, from the measured values and the paper's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


from bench.errors import BenchError

SCHEMA = "mpa-bench/complexity/1"
REQUIRED = ("name", "params", "kmacs_per_pixel", "latency_ms")
PROFILE_HINT = ("python -m bench profile writes complexity.json (params, KMACs/pixel, latency); save it in the run "
                "directory or pass --complexity FILE to the report")

# Table 4 of the MPA poster (seed-mpa-poster.txt): #Param., KFLOPs per pixel, latency (ms); ranges as printed.
# The poster's latency was measured on an RTX 3090 GPU.
POSTER_TABLE4: dict[str, dict[str, Any]] = {
    "MRIC": {"params": "69.14M", "kmacs_per_pixel": 1118.17, "latency_ms": 11.89},
    "TinyLIC": {"params": "28.46M", "kmacs_per_pixel": 439.29, "latency_ms": 12.68},
    "+ MLPs": {"params": "+0.51M~+2.04M", "kmacs_per_pixel": "-56.68~+0", "latency_ms": "-0.33~+0"},
    "+ Predictors": {"params": "+0.03M", "kmacs_per_pixel": "+2.23", "latency_ms": "+0.09"},
    "+ S & A": {"params": "+0", "kmacs_per_pixel": "+0", "latency_ms": "+0.28"},
    "MPA": {"params": "29.00M~30.53M", "kmacs_per_pixel": "384.84~441.52", "latency_ms": "12.72~13.05"},
}
POSTER_DEVICE = "RTX 3090 GPU"
LEARNED, CLASSICAL = "learned", "classical"

_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}
_NUMBER = re.compile(r"^([+-]?\d+(?:\.\d+)?)([KMG]?)$")


class ComplexityFileError(BenchError):
    """A complexity.json that does not follow the schema."""


QUANTITIES = ("params", "kmacs_per_pixel", "latency_ms")


@dataclass(frozen=True)
class ModelComplexity:
    """One row of Table 4 as measured, with the published numbers when known.

    Attributes:
        params, kmacs_per_pixel, latency_ms: measured values (None: not applicable or not measured); for a
            ranged row, the low end.
        ranges: measured ``(low, high)`` per quantity, where the row is a range.
        relative: the row is a change against the rows above (``+ MLPs``).
        notes: the file's notes (the counting-convention sentence), shown under the table.
        kind: ``learned`` or ``classical``.
        table4: a row of the poster's Table 4.
        device: where the latency was measured (the file's ``device``).
    """

    name: str
    params: int | None
    kmacs_per_pixel: float | None
    latency_ms: float | None
    encode_ms: float | None = None
    decode_ms: float | None = None
    paper: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    relative: bool = False
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    kind: str = LEARNED
    table4: bool = False
    device: str = ""
    codec: str = ""

    @property
    def on_gpu(self) -> bool:
        return "cuda" in self.device.lower() or "gpu" in self.device.lower()

    def measured(self, key: str) -> tuple[float, float] | None:
        """``(low, high)`` of a quantity (a single value gives low == high); None where not measured."""
        if key in self.ranges:
            return self.ranges[key]
        value = getattr(self, key)
        return None if value is None else (float(value), float(value))

    def published(self, key: str) -> tuple[float, float] | None:
        return parse_published(self.paper.get(key), relative=self.relative)

    def relative_difference(self, key: str) -> tuple[float | None, float | None] | None:
        """(measured - paper) / |paper| at each bound; None where either side is missing (or the paper's is 0)."""
        return relative_difference(self.measured(key), self.published(key))


def parse_published(value: Any, relative: bool = False) -> tuple[float, float] | None:
    """``28.46M`` -> (28.46e6, 28.46e6); ``384.84~441.52`` -> (384.84, 441.52); a signed (relative) value such as
    ``+0.03M`` or ``-56.68~+0`` -> None, unless ``relative`` asks for it: then (0.03e6, 0.03e6), (-56.68, 0.0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    if not isinstance(value, str) or (value.strip().startswith(("+", "-")) and not relative):
        return None
    bounds = []
    for part in value.replace(" ", "").split("~"):
        match = _NUMBER.match(part)
        if not match:
            return None
        bounds.append(float(match[1]) * _SUFFIX[match[2]])
    return (bounds[0], bounds[-1]) if bounds else None


def relative_difference(measured: tuple[float, float] | None, paper: tuple[float, float] | None
                        ) -> tuple[float | None, float | None] | None:
    """Bound by bound (measured - paper) / |paper|; a bound whose paper value is 0 gives None."""
    if measured is None or paper is None:
        return None
    return tuple(None if p == 0 else (m - p) / abs(p) for m, p in zip(measured, paper))  # type: ignore[return-value]


def _latency(value: Any, where: str) -> tuple[float | None, float | None, float | None]:
    if value is None:
        return None, None, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), None, None
    if isinstance(value, dict) and ("total" in value or {"encode", "decode"} <= set(value)):
        encode, decode = value.get("encode"), value.get("decode")
        total = value.get("total", (encode or 0.0) + (decode or 0.0))
        return float(total), None if encode is None else float(encode), None if decode is None else float(decode)
    raise ComplexityFileError(f"{where}: latency_ms must be a number, {{encode, decode[, total]}} or null, "
                             f"got {value!r}")


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
    return models_from_document(data, str(path))


def models_from_document(data: Any, source: str = "<complexity document>") -> list[ModelComplexity]:
    """The rows of an already parsed complexity document (what :func:`read_complexity` reads from a file).

    Raises:
        ComplexityFileError: another schema, or a model without a required field.
    """
    path = source
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("models"), list):
        raise ComplexityFileError(f"{path}: not a {SCHEMA} file (needs 'schema': {SCHEMA!r} and a 'models' list); "
                                  f"{PROFILE_HINT}")
    notes = _file_notes(data)
    models = []
    for index, entry in enumerate(data["models"]):
        where = f"{path}: models[{index}]"
        missing = [key for key in REQUIRED if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ComplexityFileError(f"{where} lacks {', '.join(missing)} (required: {', '.join(REQUIRED)}; "
                                      f"null where not applicable)")
        try:
            total, encode, decode = _latency(entry["latency_ms"], where)
            paper = entry.get("paper")
            paper = dict(POSTER_TABLE4.get(str(entry["name"]), {}) if paper is None else paper)
            params = None if entry["params"] is None else int(entry["params"])
            kmacs = None if entry["kmacs_per_pixel"] is None else float(entry["kmacs_per_pixel"])
            name = str(entry["name"])
            kind = str(entry.get("kind") or (LEARNED if params is not None else CLASSICAL))
            if kind not in (LEARNED, CLASSICAL):
                raise ValueError(f"kind must be {LEARNED!r} or {CLASSICAL!r}, got {kind!r}")
            models.append(ModelComplexity(name, params, kmacs, total, encode, decode, paper, str(path),
                                          bool(entry.get("relative", False)), _ranges(entry.get("range"), where),
                                          notes, kind, bool(entry.get("table4", name in POSTER_TABLE4)),
                                          str(entry.get("device") or data.get("device") or ""),
                                          str(entry.get("codec") or "")))
        except (TypeError, ValueError) as error:
            raise ComplexityFileError(f"{where}: {error}") from error
    return models


def _ranges(value: Any, where: str) -> dict[str, tuple[float, float]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - set(QUANTITIES):
        raise ComplexityFileError(f"{where}: range must map some of {', '.join(QUANTITIES)} to [low, high]")
    ranges = {}
    for key, bounds in value.items():
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ComplexityFileError(f"{where}: range.{key} must be [low, high], got {bounds!r}")
        ranges[key] = (float(bounds[0]), float(bounds[1]))
    return ranges


def _file_notes(data: dict) -> tuple[str, ...]:
    notes = [str(note) for note in data.get("notes") or []]
    convention = data.get("convention") or {}
    if isinstance(convention, dict):
        notes += [str(convention[key]) for key in ("sentence", "params_sentence") if convention.get(key)]
    return tuple(notes)


def read_complexity_sweep(path: Path | str) -> list[dict[str, Any]]:
    """The ``mpa_sweep`` points of a complexity.json (empty when the file has none)."""
    data = json.loads(Path(path).read_text())
    sweep = data.get("mpa_sweep") or {}
    return [dict(point) for point in sweep.get("points", [])]


def find_complexity_files(run_dir: Path, extra: Sequence[Path | str] = ()) -> list[Path]:
    """``complexity*.json`` in the run directory, then the explicitly given files (each must exist)."""
    found = sorted(Path(run_dir).glob("complexity*.json"))
    for path in map(Path, extra):
        if not path.is_file():
            raise ComplexityFileError(f"--complexity {path}: file not found; {PROFILE_HINT}")
        if path not in found:
            found.append(path)
    return found


