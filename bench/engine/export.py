"""curves -> files: per-image CSV, curve CSV, CompressAI-format JSON per codec and dataset, and the summary table.

Run directory layout::

    runs/<run-id>/
      results.sqlite         the run store
      suite.toml             the resolved suite (rerun with --suite runs/<run-id>/suite.toml)
      environment.json       library versions, machine, git commit
      results.csv            one row per image x codec x rate point x decoder variant
      curves.csv             dataset values per curve point
      json/<dataset>/<codec>[__<variant>].json   CompressAI schema {name, description, meta, results: {...}}

Every file is written atomically (a complete file or none). Text cells of the CSVs that a spreadsheet would run as
a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are prefixed with ``'``, as OWASP
recommends against CSV injection. Each JSON's ``meta`` says what produced the curve: the codec's config hash, code
version, library versions and checkpoints (path, sha256, whether official), and each metric's weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from bench.atomic import atomic_path
from bench.engine.aggregate import metric_columns
from bench.metrics.forms import ImageSet, run_definitions
from bench.published import write_compressai_json
from bench.schema import (
    DEFAULT_VARIANT,
    KEY_BPP,
    KEY_DECODING_TIME,
    KEY_ENCODING_TIME,
    KEY_MS_SSIM,
    KEY_MS_SSIM_DB,
    KEY_PAYLOAD_BPP,
    KEY_PSNR,
)

COMPRESSAI_KEYS = (KEY_BPP, KEY_PSNR, KEY_MS_SSIM, KEY_ENCODING_TIME, KEY_DECODING_TIME)


def curve_name(codec: str, variant: str) -> str:
    return codec if variant == DEFAULT_VARIANT else f"{codec} ({variant})"


def _file_stem(codec: str, variant: str) -> str:
    stem = codec if variant == DEFAULT_VARIANT else f"{codec}__{variant}"
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", stem.replace(",", "+"))


def curve_results(curve: pd.DataFrame) -> dict[str, list[float]]:
    """The result lists of one curve (rows sorted by bpp): CompressAI's keys first, then every other metric."""
    keys = [key for key in COMPRESSAI_KEYS if key in curve]
    keys += [key for key in (KEY_PAYLOAD_BPP, KEY_MS_SSIM_DB, *metric_columns(curve)) if key in curve and key not in keys]
    return {key: [float(v) for v in curve[key]] for key in keys}


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot be run as spreadsheet formulas (see the module docstring)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
                             for v in frame[column]]
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Writes ``frame`` atomically with formula-like text neutralized."""
    with atomic_path(path) as temporary:
        neutralize_formulas(frame).to_csv(temporary, index=False)
    return path


def weights_phrase(provenance: dict[str, Any]) -> str:
    """``official weights``, ``weights sha256 <first 12>`` (per file), or "" for a codec without weights."""
    checkpoints = provenance.get("checkpoints") or {}
    if not checkpoints:
        return ""
    if provenance.get("official"):
        return "official weights"
    digests = sorted({str(entry.get("sha256", "?"))[:12] for entry in checkpoints.values()})
    return "weights sha256 " + ", ".join(digests)


def codec_description(description: str, provenance: dict[str, Any]) -> str:
    """The codec's description with what its weights are (never claiming official weights unverified)."""
    return ", ".join(part for part in (description, weights_phrase(provenance)) if part)


def export_name(codec: str | None, label: str, variant: str) -> str:
    """The ``name`` of an exported curve: the codec class's ``display_name`` (what CompressAI's ``plot`` reads; the
    label added when it is not the registry name), else the label; the variant appended."""
    from bench.codecs import codecs

    display = codecs.get(codec).display_name if codec in codecs else ""
    if not display:
        return curve_name(label, variant)
    return curve_name(display if label == codec else f"{display} ({label})", variant)


def _image_set(dataset: str, count: int, image_sets: dict[str, tuple[int | None, str]] | None) -> ImageSet:
    limit, preprocessing = (image_sets or {}).get(dataset, (None, "none"))
    return ImageSet(dataset, count, preprocessing, limit)


def export_run(run_dir: Path, rows: pd.DataFrame, curves: pd.DataFrame, codecs: pd.DataFrame,
               metric_configs: pd.DataFrame | None = None,
               image_sets: dict[str, tuple[int | None, str]] | None = None, source: str = "mpa-bench") -> list[Path]:
    """Writes the CSVs and one CompressAI JSON per (dataset, codec, variant); returns the JSON paths.

    Args:
        image_sets: each dataset's ``(limit, preprocessing)``: the image set the curves average over, which each
            JSON's definitions state.
        source: what the definitions name as the curves' origin (``mpa-bench run <id>``).
    """
    write_csv(rows.drop(columns=["id", "run_id", "metric_hashes"], errors="ignore"), run_dir / "results.csv")
    write_csv(curves, run_dir / "curves.csv")
    codec_info = {record["label"]: record for record in codecs.to_dict("records")} if len(codecs) else {}
    metric_info = {}
    if metric_configs is not None:
        for record in metric_configs.to_dict("records"):
            metric_info[record["metric"]] = {"config_hash": record["config_hash"],
                                             **json.loads(record["config"]),
                                             "provenance": json.loads(record["provenance"])}
    written = []
    for (dataset, codec, variant), curve in curves.groupby(["dataset", "codec", "variant"], sort=True):
        info = codec_info.get(codec, {})
        provenance = json.loads(info.get("provenance") or "{}")
        results = curve_results(curve)
        meta = {"dataset": dataset, "codec": codec, "codec_name": info.get("codec"), "variant": variant,
                "config_hash": info.get("config_hash"), "versions": json.loads(info.get("versions") or "{}"),
                "config": json.loads(info.get("config") or "{}"), "provenance": provenance,
                "points": [float(p) for p in curve["point"]], "images": int(curve["images"].max()),
                "metrics": {key: metric_info[key] for key in results if key in metric_info},
                "definitions": run_definitions(_image_set(dataset, int(curve["images"].max()), image_sets),
                                               source).as_dict(),
                "source": "mpa-bench"}
        path = run_dir / "json" / dataset / f"{_file_stem(codec, variant)}.json"
        written.append(write_compressai_json(path, export_name(info.get("codec"), codec, variant),
                                             codec_description(info.get("description", ""), provenance),
                                             results, meta))
    return written


def summary_table(curves: pd.DataFrame, metrics: Sequence[str] | None = None) -> str:
    """The per-codec table printed at the end of a run: mean bpp and each metric per rate point (``metrics``: the
    ones the suite asked for; the other form of each is in the exports)."""
    if curves.empty:
        return "(no results)"
    shown = [key for key in metric_columns(curves) if metrics is None or key in metrics]
    columns = ["dataset", "codec", "variant", "point", "images", KEY_BPP, *shown]
    table = curves[[c for c in columns if c in curves]].copy()
    if (table["variant"] == DEFAULT_VARIANT).all():
        table = table.drop(columns=["variant"])
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
