"""Rate-quality curves as JSON files: read CompressAI, TinyLIC and official-MPA results, write CompressAI results,
and look up the published curves shipped under ``results/published/<source>/<dataset>/``.

A published curve is a reference codec without bitstreams: its points can be plotted and BD-rates of a run's codecs
computed against it (e.g. VTM on Kodak).

Formats read (anchors.md section 3):

- CompressAI: ``{"name", "description", ["meta"], "results": {"bpp": [...], "psnr-rgb": [...], ...}}``, or a bare
  results dict. Pre-2023 files and TinyLIC's use the aliases ``psnr`` and ``ms-ssim``.
- Official MPA (``compressai.utils.eval_var_model``): ``{"name": "mpa (q_task = 8.0)", "results": {"psnr",
  "ms-ssim", "lpips", "bpp", "encoding_time", "decoding_time", "enc_mem", "dec_mem"}}``; its PSNR is computed on
  the float reconstruction and its ``lpips`` is LPIPS-Alex v0.1, so it maps to ``lpips-alex``.

Metric keys are canonicalised (``psnr`` -> ``psnr-rgb``, ...). MS-SSIM is completed in both forms: ``ms-ssim-db-rgb``
is derived from the dataset-mean ``ms-ssim-rgb`` as CompressAI plots it, and the other way round for files that only
publish dB values.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bench.atomic import write_text_atomic
from bench.errors import BenchError
from bench.schema import KEY_BPP, KEY_MS_SSIM, KEY_MS_SSIM_DB, KEY_PSNR

KEY_LPIPS_ALEX = "lpips-alex"

# Aliases of each format, mapped to mpa-bench's result keys.
ALIASES: dict[str, dict[str, str]] = {
    "compressai": {"psnr": KEY_PSNR, "ms-ssim": KEY_MS_SSIM},
    "mpa": {"psnr": KEY_PSNR, "ms-ssim": KEY_MS_SSIM, "lpips": KEY_LPIPS_ALEX},
}
FORMATS = tuple(ALIASES)

# Where the shipped curves live; MPA_BENCH_PUBLISHED overrides it (e.g. for an installed, non-editable package).
PUBLISHED_ENV = "MPA_BENCH_PUBLISHED"
_REPO_PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "published"

_MPA_NAME = re.compile(r"q_task\s*=\s*([0-9.eE+-]+)")


class CurveFileError(BenchError):
    """A results JSON file that cannot be read as a rate-quality curve."""


@dataclass
class Curve:
    """A rate-quality curve: one row per rate point, sorted by bpp.

    Attributes:
        name: codec name as the file gives it (``VTM``, ``TinyLIC``, ``mpa (q_task = 8.0)``).
        points: DataFrame with column ``bpp`` first, then one column per metric key (and timing columns), sorted
            by bpp.
        source: who published it (``compressai``, ``tinylic``, ``mpa``, or ``run`` for a run's export).
        dataset: dataset name (``kodak``, ``clic2020-professional``, ...).
        description: the file's description string.
        meta: the file's ``meta`` block plus what the reader knows (format, q_task, PSNR mode).
        path: the file it was read from.
    """

    name: str
    points: pd.DataFrame
    source: str = ""
    dataset: str = ""
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def key(self) -> str:
        """``<source>/<dataset>/<file stem>``, unique among the shipped curves."""
        stem = self.path.stem if self.path is not None else self.name
        return f"{self.source}/{self.dataset}/{stem}"

    @property
    def bpp(self) -> np.ndarray:
        return self.points[KEY_BPP].to_numpy(dtype=np.float64)

    @property
    def metrics(self) -> list[str]:
        return [column for column in self.points.columns if column != KEY_BPP]

    def values(self, key: str) -> np.ndarray:
        """The column ``key`` as float64; raises :class:`CurveFileError` naming the available keys."""
        if key not in self.points.columns:
            raise CurveFileError(f"curve {self.key} has no {key!r}; it has {', '.join(self.metrics)}")
        return self.points[key].to_numpy(dtype=np.float64)


def _ms_ssim_to_db(values: np.ndarray) -> np.ndarray:
    from bench.metrics.fidelity import ms_ssim_to_db

    return np.array([ms_ssim_to_db(float(v)) if math.isfinite(v) else math.nan for v in values])


def _ms_ssim_from_db(values: np.ndarray) -> np.ndarray:
    return 1.0 - np.power(10.0, -np.asarray(values, dtype=np.float64) / 10.0)


def detect_format(data: Mapping[str, Any]) -> str:
    """``mpa`` for official-MPA ``eval_var_model`` output, else ``compressai`` (which covers TinyLIC)."""
    results = data.get("results", data)
    if _MPA_NAME.search(str(data.get("name", ""))) or {"enc_mem", "dec_mem", "lpips"} & set(results):
        return "mpa"
    return "compressai"


def curve_from_dict(
    data: Mapping[str, Any], source: str = "", dataset: str = "", fmt: str | None = None, label: str = "<dict>"
) -> Curve:
    """Builds a :class:`Curve` from a parsed results JSON (see the module docstring for the formats)."""
    if not isinstance(data, Mapping):
        raise CurveFileError(f"{label}: expected a JSON object, got {type(data).__name__}")
    fmt = fmt or detect_format(data)
    if fmt not in ALIASES:
        raise CurveFileError(f"{label}: unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    results = data["results"] if "results" in data else data
    if not isinstance(results, Mapping):
        raise CurveFileError(f"{label}: 'results' must be an object of equal-length lists")
    aliases = ALIASES[fmt]
    columns: dict[str, list[float]] = {}
    for raw_key, raw_values in results.items():
        if not isinstance(raw_values, list):
            continue  # scalars (per-image files) and nested objects are not curve columns
        key = aliases.get(raw_key, raw_key)
        if key in columns:
            raise CurveFileError(f"{label}: both {raw_key!r} and its canonical key {key!r} are present")
        try:
            columns[key] = [math.nan if v is None else float(v) for v in raw_values]
        except (TypeError, ValueError) as error:
            raise CurveFileError(f"{label}: results[{raw_key!r}] holds a non-number: {error}") from error
    if KEY_BPP not in columns:
        raise CurveFileError(f"{label}: results have no 'bpp' list (keys: {', '.join(results)})")
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise CurveFileError(f"{label}: results lists differ in length: {lengths}")
    points = pd.DataFrame(columns)
    if KEY_MS_SSIM in points and KEY_MS_SSIM_DB not in points:
        points[KEY_MS_SSIM_DB] = _ms_ssim_to_db(points[KEY_MS_SSIM].to_numpy(dtype=np.float64))
    elif KEY_MS_SSIM_DB in points and KEY_MS_SSIM not in points:
        points[KEY_MS_SSIM] = _ms_ssim_from_db(points[KEY_MS_SSIM_DB].to_numpy())
    points = points[[KEY_BPP] + [c for c in points.columns if c != KEY_BPP]]
    points = points.sort_values(KEY_BPP, kind="stable").reset_index(drop=True)
    meta = dict(data.get("meta") or {}) if "results" in data else {}
    meta["format"] = fmt
    if fmt == "mpa":
        meta["psnr_mode"] = "float"
        match = _MPA_NAME.search(str(data.get("name", "")))
        if match:
            meta["q_task"] = float(match.group(1))
    if not dataset and isinstance(meta.get("dataset"), str):
        dataset = meta["dataset"]
    return Curve(
        name=str(data.get("name", "")) if "results" in data else "",
        points=points,
        source=source,
        dataset=dataset,
        description=str(data.get("description", "")) if "results" in data else "",
        meta=meta,
    )


def read_curve(path: Path | str, source: str = "", dataset: str = "", fmt: str | None = None) -> Curve:
    """Reads a CompressAI / TinyLIC / official-MPA results JSON file.

    Raises:
        CurveFileError: unreadable JSON, no ``bpp``, lists of different lengths, or non-numbers.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CurveFileError(f"cannot read results file {path}: {error}") from error
    curve = curve_from_dict(data, source=source, dataset=dataset, fmt=fmt, label=str(path))
    if not curve.name:
        curve.name = path.stem
    curve.path = path
    return curve


def _json_number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def write_compressai_json(
    path: Path | str,
    name: str,
    description: str,
    results: Mapping[str, Sequence[float]],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Writes a CompressAI results file ``{name, description, [meta], results}`` atomically.

    ``results`` maps keys (``bpp`` required) to equal-length sequences; ``bpp`` is written first. Non-finite values
    (a metric that was n/a) are written as JSON ``null``, which :func:`read_curve` reads back as NaN.

    Raises:
        CurveFileError: no ``bpp`` or sequences of different lengths.
    """
    path = Path(path)
    if KEY_BPP not in results:
        raise CurveFileError(f"results for {path} need a 'bpp' list")
    lengths = {key: len(values) for key, values in results.items()}
    if len(set(lengths.values())) != 1:
        raise CurveFileError(f"results for {path} differ in length: {lengths}")
    ordered = [KEY_BPP] + [key for key in results if key != KEY_BPP]
    document: dict[str, Any] = {"name": name, "description": description}
    if meta:
        document["meta"] = dict(meta)
    document["results"] = {key: [_json_number(v) for v in results[key]] for key in ordered}
    write_text_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path


def write_curve(curve: Curve, path: Path | str) -> Path:
    """Writes ``curve`` as CompressAI JSON (its ``meta`` block without the reader's bookkeeping)."""
    meta = {k: v for k, v in curve.meta.items() if k not in ("format",)}
    results = {column: curve.points[column].tolist() for column in curve.points.columns}
    return write_compressai_json(path, curve.name, curve.description, results, meta or None)


def published_root() -> Path:
    """``$MPA_BENCH_PUBLISHED`` or the repository's ``results/published``."""
    override = os.environ.get(PUBLISHED_ENV)
    return Path(override).expanduser() if override else _REPO_PUBLISHED


def published_curves(dataset: str | None = None, source: str | None = None) -> list[Curve]:
    """The shipped published curves, optionally of one dataset and/or one source, sorted by key.

    Raises:
        CurveFileError: the published folder does not exist.
    """
    root = published_root()
    if not root.is_dir():
        raise CurveFileError(f"no published curves at {root} (set {PUBLISHED_ENV} to the results/published folder)")
    curves = []
    for path in sorted(root.glob("*/*/*.json")):
        curve_source, curve_dataset = path.parent.parent.name, path.parent.name
        if (dataset is None or curve_dataset == dataset) and (source is None or curve_source == source):
            curves.append(read_curve(path, source=curve_source, dataset=curve_dataset))
    return curves


def published_curve(key: str) -> Curve:
    """One shipped curve by key ``<source>/<dataset>/<stem>``, e.g. ``compressai/kodak/vtm``."""
    parts = key.split("/")
    if len(parts) != 3:
        raise CurveFileError(f"published curve key {key!r} must look like <source>/<dataset>/<name>")
    path = published_root() / parts[0] / parts[1] / f"{parts[2]}.json"
    if not path.is_file():
        known = ", ".join(curve.key for curve in published_curves(dataset=parts[1]))
        raise CurveFileError(f"no published curve {key!r}; for dataset {parts[1]!r}: {known or 'none'}")
    return read_curve(path, source=parts[0], dataset=parts[1])
