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

Every curve carries its :class:`~bench.metrics.forms.Definitions` (rate: file or payload; PSNR, MS-SSIM and
perceptual metrics: 8-bit or float reconstruction; image set; source), taken from, in order: the file's own
``meta.definitions``, the entry for the shipped file in ``results/published/definitions.toml``, or the format (the
official MPA evaluation: payload rate, float reconstruction). A curve without known definitions has
``definitions = None`` and is compared with nothing.

Metric keys are canonicalised (``psnr`` -> ``psnr-rgb``, ...) and then named for their form
(:mod:`bench.metrics.forms`): a float PSNR is held as ``psnr-float``, a payload rate as ``payload-bpp``, so a column
never holds another form than its name says. MS-SSIM is completed in both forms: its dB form is derived from the
dataset-mean MS-SSIM as CompressAI plots it, and the other way round for files that only publish dB values.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bench.atomic import write_text_atomic
from bench.errors import BenchError
from bench.metrics import forms
from bench.metrics.forms import Definitions, ImageSet
from bench.schema import KEY_BPP, KEY_DECODING_TIME, KEY_ENCODING_TIME, KEY_MS_SSIM, KEY_MS_SSIM_DB, KEY_PAYLOAD_BPP, KEY_PSNR

KEY_LPIPS_ALEX = "lpips-alex"

# Aliases of each format, mapped to mpa-bench's result keys.
ALIASES: dict[str, dict[str, str]] = {
    "compressai": {"psnr": KEY_PSNR, "ms-ssim": KEY_MS_SSIM},
    "mpa": {"psnr": KEY_PSNR, "ms-ssim": KEY_MS_SSIM, "lpips": KEY_LPIPS_ALEX},
}
FORMATS = tuple(ALIASES)
DEFINITIONS_FILE = "definitions.toml"

# The official MPA evaluation (compressai.utils.eval_var_model): bytes of the entropy-coded strings; PSNR, MS-SSIM
# and LPIPS of the clamped float reconstruction (mpa-protocol.md, anchors.md section 4).
OFFICIAL_MPA = dict(rate=forms.RATE_PAYLOAD, psnr=forms.FLOAT, ms_ssim=forms.FLOAT, perceptual=forms.FLOAT,
                    source="NJUVISION/MPA compressai.utils.eval_var_model output",
                    basis="official MPA evaluation code: real bpp of the entropy-coded strings, metrics of the "
                          "clamped float reconstruction")
# The columns of a run curve written as official-MPA JSON keys (:func:`official_mpa_document`).
OFFICIAL_MPA_EXPORT = {KEY_BPP: KEY_PAYLOAD_BPP, "psnr": forms.KEY_PSNR_FLOAT, "ms-ssim": forms.KEY_MS_SSIM_FLOAT,
                       "lpips": "lpips-alex-float", KEY_ENCODING_TIME: KEY_ENCODING_TIME,
                       KEY_DECODING_TIME: KEY_DECODING_TIME}

# Where the shipped curves live; MPA_BENCH_PUBLISHED overrides it (e.g. for an installed, non-editable package).
PUBLISHED_ENV = "MPA_BENCH_PUBLISHED"
_REPO_PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "published"

_MPA_NAME = re.compile(r"q_task\s*=\s*([0-9.eE+-]+)")


class CurveFileError(BenchError):
    """A results JSON file that cannot be read as a rate-quality curve."""


@dataclass
class Curve:
    """A rate-quality curve: one row per rate point, sorted by rate.

    Attributes:
        name: codec name as the file gives it (``VTM``, ``TinyLIC``, ``mpa (q_task = 8.0)``).
        points: DataFrame, one column per quantity named for its form (``bpp`` or ``payload-bpp``, ``psnr-rgb`` or
            ``psnr-float``, ...; see the module docstring), sorted by rate.
        source: who published it (``compressai``, ``tinylic``, ``mpa``, or ``run`` for a run's export).
        dataset: dataset name (``kodak``, ``clic2020-professional``, ...).
        description: the file's description string.
        meta: the file's ``meta`` block plus what the reader knows (format, q_task).
        definitions: what the numbers mean; None when unknown (such a curve is compared with nothing).
        path: the file it was read from.
    """

    name: str
    points: pd.DataFrame
    source: str = ""
    dataset: str = ""
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    definitions: Definitions | None = None
    path: Path | None = None

    @property
    def key(self) -> str:
        """``<source>/<dataset>/<file stem>``, unique among the shipped curves."""
        stem = self.path.stem if self.path is not None else self.name
        return f"{self.source}/{self.dataset}/{stem}"

    @property
    def rate_key(self) -> str:
        """The rate column: ``payload-bpp`` for a payload-rate curve, else ``bpp``."""
        return KEY_PAYLOAD_BPP if KEY_BPP not in self.points and KEY_PAYLOAD_BPP in self.points else KEY_BPP

    @property
    def bpp(self) -> np.ndarray:
        """The curve's rate, in its own form (see :attr:`rate_key`)."""
        return self.points[self.rate_key].to_numpy(dtype=np.float64)

    @property
    def metrics(self) -> list[str]:
        return [column for column in self.points.columns if column != self.rate_key]

    def values(self, key: str) -> np.ndarray:
        """The column ``key`` as float64; raises :class:`CurveFileError` naming the available keys."""
        if key not in self.points.columns:
            raise CurveFileError(f"curve {self.key} has no {key!r}; it has {', '.join(self.metrics)}")
        return self.points[key].to_numpy(dtype=np.float64)

    def own_values(self, metric: str) -> np.ndarray:
        """A metric in whichever form the curve holds it (``psnr-rgb`` gives a float-PSNR curve's ``psnr-float``)."""
        form = self.definitions.form(metric) if self.definitions is not None else None
        return self.values(form.key(metric) if form is not None else metric)


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


def _definitions(data: Mapping[str, Any], fmt: str, dataset: str, given: Definitions | None,
                 label: str) -> Definitions | None:
    meta = data.get("meta") if "results" in data else None
    if isinstance(meta, Mapping) and isinstance(meta.get("definitions"), Mapping):
        try:
            return Definitions.from_dict(dict(meta["definitions"]), dataset)
        except (KeyError, TypeError, ValueError) as error:
            raise CurveFileError(f"{label}: meta.definitions is malformed ({error}); it needs rate (file|payload) "
                                 f"and psnr (8-bit|float)") from error
    if given is not None:
        return given
    if fmt == "mpa":
        return Definitions(images=ImageSet(dataset or "?"), **OFFICIAL_MPA)
    return None


def _completed_ms_ssim(points: pd.DataFrame) -> pd.DataFrame:
    for linear, db in ((KEY_MS_SSIM, KEY_MS_SSIM_DB), (forms.KEY_MS_SSIM_FLOAT, forms.KEY_MS_SSIM_DB_FLOAT)):
        if linear in points and db not in points:
            points[db] = _ms_ssim_to_db(points[linear].to_numpy(dtype=np.float64))
        elif db in points and linear not in points:
            points[linear] = _ms_ssim_from_db(points[db].to_numpy())
    return points


def curve_from_dict(
    data: Mapping[str, Any], source: str = "", dataset: str = "", fmt: str | None = None, label: str = "<dict>",
    definitions: Definitions | None = None,
) -> Curve:
    """Builds a :class:`Curve` from a parsed results JSON (see the module docstring for the formats).

    Args:
        definitions: what the numbers mean when the file's ``meta`` does not say (the shipped files' table).
    """
    if not isinstance(data, Mapping):
        raise CurveFileError(f"{label}: expected a JSON object, got {type(data).__name__}")
    fmt = fmt or detect_format(data)
    if fmt not in ALIASES:
        raise CurveFileError(f"{label}: unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    results = data["results"] if "results" in data else data
    if not isinstance(results, Mapping):
        raise CurveFileError(f"{label}: 'results' must be an object of equal-length lists")
    known = _definitions(data, fmt, dataset, definitions, label)
    renames = known.renames() if known is not None else {}
    aliases = ALIASES[fmt]
    columns: dict[str, list[float]] = {}
    for raw_key, raw_values in results.items():
        if not isinstance(raw_values, list):
            continue  # scalars (per-image files) and nested objects are not curve columns
        canonical = aliases.get(raw_key, raw_key)
        key = renames.get(canonical, canonical)
        if key in columns:
            raise CurveFileError(f"{label}: {raw_key!r} and another key both give {key!r} (its definitions: "
                                 f"{known.as_dict() if known else 'unknown'})")
        try:
            columns[key] = [math.nan if v is None else float(v) for v in raw_values]
        except (TypeError, ValueError) as error:
            raise CurveFileError(f"{label}: results[{raw_key!r}] holds a non-number: {error}") from error
    rate_key = renames.get(KEY_BPP, KEY_BPP)
    if rate_key not in columns:
        raise CurveFileError(f"{label}: results have no 'bpp' list (keys: {', '.join(results)})")
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise CurveFileError(f"{label}: results lists differ in length: {lengths}")
    points = _completed_ms_ssim(pd.DataFrame(columns))
    points = points[[rate_key] + [c for c in points.columns if c != rate_key]]
    points = points.sort_values(rate_key, kind="stable").reset_index(drop=True)
    meta = dict(data.get("meta") or {}) if "results" in data else {}
    meta["format"] = fmt
    if fmt == "mpa":
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
        definitions=known,
    )


def read_curve(path: Path | str, source: str = "", dataset: str = "", fmt: str | None = None,
               definitions: Definitions | None = None) -> Curve:
    """Reads a CompressAI / TinyLIC / official-MPA results JSON file.

    Raises:
        CurveFileError: unreadable JSON, no ``bpp``, lists of different lengths, or non-numbers.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CurveFileError(f"cannot read results file {path}: {error}") from error
    curve = curve_from_dict(data, source=source, dataset=dataset, fmt=fmt, label=str(path), definitions=definitions)
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
    """Writes ``curve`` as CompressAI JSON: CompressAI's keys (``bpp``, ``psnr-rgb``, ...) in the curve's own form,
    with its definitions in ``meta.definitions`` (which :func:`read_curve` reads back)."""
    meta = {k: v for k, v in curve.meta.items() if k not in ("format", "definitions")}
    back = {column: key for key, column in (curve.definitions.renames() if curve.definitions else {}).items()}
    results = {back.get(column, column): curve.points[column].tolist() for column in curve.points.columns}
    if curve.definitions is not None:
        meta["definitions"] = curve.definitions.as_dict()
    return write_compressai_json(path, curve.name, curve.description, results, meta or None)


def official_mpa_document(points: pd.DataFrame, q_task: float, description: str = "Inference (ans)") -> dict:
    """A run curve as the official MPA evaluation writes it (``results_q_task<Q>.json``): payload bpp and the
    float-reconstruction metrics under the official keys (``bpp``, ``psnr``, ``ms-ssim``, ``lpips``).

    Args:
        points: one curve's rows (``payload-bpp``, ``psnr-float``, ...), in any order.

    Raises:
        CurveFileError: the curve lacks payload bpp or float PSNR (the official form cannot be written).
    """
    missing = [column for column in (KEY_PAYLOAD_BPP, forms.KEY_PSNR_FLOAT) if column not in points]
    if missing:
        raise CurveFileError(f"cannot write the official MPA form: the curve has no {', '.join(missing)} "
                             f"(run with --metric psnr-float)")
    ordered = points.sort_values(KEY_PAYLOAD_BPP)
    results = {key: [_json_number(v) for v in ordered[column]] for key, column in OFFICIAL_MPA_EXPORT.items()
               if column in ordered}
    return {"name": f"mpa (q_task = {q_task:g})", "description": description, "results": results}


def published_root() -> Path:
    """``$MPA_BENCH_PUBLISHED`` or the repository's ``results/published``."""
    override = os.environ.get(PUBLISHED_ENV)
    return Path(override).expanduser() if override else _REPO_PUBLISHED


def shipped_definitions(root: Path | None = None) -> dict[str, Definitions]:
    """{curve key: definitions} from ``<root>/definitions.toml`` (empty when the folder has none).

    Raises:
        CurveFileError: a malformed definitions file.
    """
    path = (root or published_root()) / DEFINITIONS_FILE
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text())
        return {key: Definitions.from_dict(entry, key.split("/")[1] if key.count("/") == 2 else "")
                for key, entry in table.items()}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise CurveFileError(f"cannot read {path}: {error}") from error


def published_curves(dataset: str | None = None, source: str | None = None) -> list[Curve]:
    """The shipped published curves, optionally of one dataset and/or one source, sorted by key.

    Raises:
        CurveFileError: the published folder does not exist.
    """
    root = published_root()
    if not root.is_dir():
        raise CurveFileError(f"no published curves at {root} (set {PUBLISHED_ENV} to the results/published folder)")
    known = shipped_definitions(root)
    curves = []
    for path in sorted(root.glob("*/*/*.json")):
        curve_source, curve_dataset = path.parent.parent.name, path.parent.name
        if (dataset is None or curve_dataset == dataset) and (source is None or curve_source == source):
            key = f"{curve_source}/{curve_dataset}/{path.stem}"
            curves.append(read_curve(path, source=curve_source, dataset=curve_dataset, definitions=known.get(key)))
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
    return read_curve(path, source=parts[0], dataset=parts[1], definitions=shipped_definitions().get(key))
