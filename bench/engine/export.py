"""curves -> files: per-image CSV, curve CSV, CompressAI-format JSON per codec and dataset, and the summary table.

Run directory layout::

    runs/<run-id>/
      results.sqlite         the run store
      suite.toml             the resolved suite (rerun with --suite runs/<run-id>/suite.toml)
      environment.json       library versions, machine, git commit
      results.csv            one row per image x codec x rate point x decoder variant
      curves.csv             dataset values per curve point
      json/<dataset>/<codec>[__<variant>].json   CompressAI schema {name, description, results: {...}}
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from bench.engine.aggregate import metric_columns
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


def export_run(run_dir: Path, rows: pd.DataFrame, curves: pd.DataFrame, codecs: pd.DataFrame) -> list[Path]:
    """Writes the CSVs and one CompressAI JSON per (dataset, codec, variant); returns the JSON paths."""
    rows.drop(columns=["id", "run_id"], errors="ignore").to_csv(run_dir / "results.csv", index=False)
    curves.to_csv(run_dir / "curves.csv", index=False)
    descriptions = dict(zip(codecs["label"], codecs["description"])) if len(codecs) else {}
    hashes = dict(zip(codecs["label"], codecs["config_hash"])) if len(codecs) else {}
    written = []
    for (dataset, codec, variant), curve in curves.groupby(["dataset", "codec", "variant"], sort=True):
        meta = {"dataset": dataset, "codec": codec, "variant": variant, "config_hash": hashes.get(codec),
                "points": [float(p) for p in curve["point"]], "images": int(curve["images"].max()),
                "source": "mpa-bench"}
        path = run_dir / "json" / dataset / f"{_file_stem(codec, variant)}.json"
        written.append(write_compressai_json(path, curve_name(codec, variant), descriptions.get(codec, ""),
                                             curve_results(curve), meta))
    return written


def summary_table(curves: pd.DataFrame) -> str:
    """The per-codec table printed at the end of a run: mean bpp and each metric per rate point."""
    if curves.empty:
        return "(no results)"
    columns = ["dataset", "codec", "variant", "point", "images", KEY_BPP, *metric_columns(curves)]
    table = curves[[c for c in columns if c in curves]].copy()
    if (table["variant"] == DEFAULT_VARIANT).all():
        table = table.drop(columns=["variant"])
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
