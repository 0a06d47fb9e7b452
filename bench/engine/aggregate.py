"""rows -> curves: dataset values per (dataset, codec, variant, rate point).

Per-image metrics are averaged over images (the mean of per-image values, as CompressAI and MPA report); pooled
metrics (mIoU, FID) are reduced by their own ``aggregate`` from the stored statistics. Rate is reported both as the
mean of per-image bpp and as total bits / total pixels (``bpp-pooled``).
"""

from __future__ import annotations

import logging

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


def rows_to_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Dataset values of per-image metrics, rate and times, one row per curve point, sorted by bpp."""
    ok = rows[rows["status"] == "ok"].copy()
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


def pooled_values(store: RunStore, rows: pd.DataFrame) -> pd.DataFrame:
    """Dataset values of pooled metrics (statistics summed or concatenated over images), one row per curve point."""
    ok = rows[rows["status"] == "ok"]
    found = []
    for name in metrics.names():
        metric_class = metrics.get(name)
        if not metric_class.spec.pooled:
            continue
        stats = dict(store.arrays(ok["id"].tolist(), name))
        if not stats:
            continue
        for key, group in ok[ok["id"].isin(stats)].groupby(CURVE_KEYS, sort=False):
            value = metric_class.aggregate([stats[result_id] for result_id in group["id"]])
            found.append({**dict(zip(CURVE_KEYS, key)), name: value})
    if not found:
        return pd.DataFrame(columns=CURVE_KEYS)
    return pd.DataFrame(found).groupby(CURVE_KEYS, as_index=False).first()


def store_to_curves(store: RunStore, run_id: str | None = None) -> pd.DataFrame:
    """Every curve of a run: per-image metrics averaged and pooled metrics aggregated."""
    rows = store.rows(run_id)
    curves = rows_to_curves(rows)
    pooled = pooled_values(store, rows)
    if len(pooled):
        curves = curves.merge(pooled, on=CURVE_KEYS, how="left")
    return curves


def failure_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"] == "failed"][["dataset", "image_id", "codec", "point", "error"]]
