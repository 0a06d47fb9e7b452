"""rows -> curves: dataset values per (dataset, codec, variant, rate point).

Per-image metrics are averaged over images (the mean of per-image values, as CompressAI and MPA report); pooled
metrics (mIoU, FID) are reduced by their own ``aggregate`` from the stored statistics. Rate is reported both as the
mean of per-image bpp and as total bits / total pixels (``bpp-pooled``).

Infinite per-image values (PSNR of a lossless reconstruction) are left out of a metric's mean, which is then the
mean over the other images; :func:`aggregation_notes` says which, as it says which images cost more than raw 8-bit
RGB (24 bpp: headers dominate tiny images), which inflates a mean bpp.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from bench.engine.store import RunStore
from bench.metrics import metrics
from bench.metrics.fidelity import ms_ssim_to_db
from bench.schema import KEY_BPP, KEY_DECODING_TIME, KEY_ENCODING_TIME, KEY_MS_SSIM, KEY_MS_SSIM_DB, KEY_PAYLOAD_BPP

log = logging.getLogger(__name__)

CURVE_KEYS = ["dataset", "codec", "variant", "point"]
KEY_POOLED_BPP = "bpp-pooled"


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of ``frame`` that hold registered metrics, in registry order."""
    return [name for name in metrics.names() if name in frame.columns]


RAW_RGB_BPP = 24.0


def rows_to_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Dataset values of per-image metrics, rate and times, one row per curve point, sorted by bpp."""
    ok = rows[rows["status"] == "ok"].copy()
    for column in metric_columns(ok):
        ok[column] = ok[column].mask(np.isinf(ok[column].astype(float)))
    if ok.empty:
        return pd.DataFrame(columns=[*CURVE_KEYS, "images", KEY_BPP])
    ok["bits"] = 8.0 * ok["num_bytes"]
    ok["pixels"] = ok["height"] * ok["width"]
    grouped = ok.groupby(CURVE_KEYS, sort=False)
    curves = grouped.agg(
        images=("image_id", "nunique"),
        **{KEY_BPP: ("bpp", "mean"), KEY_PAYLOAD_BPP: ("payload-bpp", "mean")},
        bits=("bits", "sum"),
        pixels=("pixels", "sum"),
        **{KEY_ENCODING_TIME: ("encode_time", "mean"), KEY_DECODING_TIME: ("decode_time", "mean")},
    )
    curves[KEY_POOLED_BPP] = curves.pop("bits") / curves.pop("pixels")
    for column in metric_columns(ok):
        curves[column] = grouped[column].mean()
    if KEY_MS_SSIM in curves:
        curves[KEY_MS_SSIM_DB] = curves[KEY_MS_SSIM].map(ms_ssim_to_db)
    return curves.reset_index().sort_values(["dataset", "codec", "variant", KEY_BPP], ignore_index=True)


def aggregation_notes(rows: pd.DataFrame) -> list[str]:
    """How :func:`rows_to_curves` treated unusual per-image values, one line per metric or rate point."""
    ok = rows[rows["status"] == "ok"]
    notes = []
    for column in metric_columns(ok):
        infinite = ok[np.isinf(ok[column].astype(float))]
        if len(infinite):
            images = sorted(set(infinite["image_id"]))
            notes.append(f"{column}: {len(infinite)} value(s) are infinite (lossless reconstruction) and left out of "
                         f"the dataset mean (images: {', '.join(images[:3])}{' ...' if len(images) > 3 else ''})")
    heavy = ok[ok["bpp"] > RAW_RGB_BPP]
    for (dataset, codec), group in heavy.groupby(["dataset", "codec"], sort=True):
        images = sorted(set(group["image_id"]))
        notes.append(f"{dataset} {codec}: {len(images)} image(s) cost more than raw RGB ({RAW_RGB_BPP:g} bpp; e.g. "
                     f"{images[0]} at {group['bpp'].max():.1f} bpp), typically headers dominating a tiny image; "
                     f"they inflate the mean bpp (bpp-pooled weighs images by size)")
    return notes


def pooled_values(store: RunStore, run_id: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Dataset values of pooled metrics (statistics summed or concatenated over images), one row per curve point,
    from the statistics of each metric's current configuration."""
    ok = rows[rows["status"] == "ok"]
    configs = store.metric_configs(run_id)
    current = dict(zip(configs["metric"], configs["config_hash"]))
    found = []
    for name in metrics.names():
        metric_class = metrics.get(name)
        if not metric_class.spec.pooled or name not in current:
            continue
        stats = dict(store.arrays(ok["id"].tolist(), name, current[name]))
        if not stats:
            continue
        for key, group in ok[ok["id"].isin(stats)].groupby(CURVE_KEYS, sort=False):
            value = metric_class.aggregate([stats[result_id] for result_id in group["id"]])
            found.append({**dict(zip(CURVE_KEYS, key)), name: value})
    if not found:
        return pd.DataFrame(columns=CURVE_KEYS)
    return pd.DataFrame(found).groupby(CURVE_KEYS, as_index=False).first()


def store_to_curves(store: RunStore, run_id: str, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every curve of a run (what its current suite asks for): per-image metrics averaged and pooled metrics
    aggregated; ``rows`` when already read."""
    rows = store.rows(run_id) if rows is None else rows
    curves = rows_to_curves(rows)
    pooled = pooled_values(store, run_id, rows)
    if len(pooled):
        curves = curves.merge(pooled, on=CURVE_KEYS, how="left")
    return curves


def failure_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"] == "failed"][["dataset", "image_id", "codec", "point", "error"]]
