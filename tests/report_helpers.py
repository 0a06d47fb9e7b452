"""A small run store for the report and check tests: a real run (JPEG and WebP on two crops of Kodak image 20, with
bitstreams) plus synthetic curves with known values (MPA alpha sweep, TinyLIC at 0.9 x VTM's published rates, task
curves), written through the engine's own store API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from bench.engine.run import STORE_NAME, run_suite
from bench.engine.store import ItemKey, Row, RunStore, SelectedItem
from bench.engine.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
VTM_KODAK = ROOT / "results" / "published" / "compressai" / "kodak" / "vtm.json"
ALPHAS = (0.0, 0.0001, 0.001, 0.01, 0.1, 1.0)
QUALITIES = (1.0, 2.0, 3.0, 4.0)
# A huge fake image, so that integer byte counts give bpp values within 1e-7 of the intended ones.
HEIGHT, WIDTH = 20000, 40000

SUITE = """
name = "tiny"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb", "ms-ssim-rgb"]

[[codecs]]
codec = "jpeg"
points = [20, 50, 80]

[[codecs]]
codec = "webp"
points = [30, 70]
"""


def vtm_kodak() -> dict[str, list[float]]:
    return json.loads(VTM_KODAK.read_text())["results"]


def mpa_psnr(quality: float, alpha: float) -> float:
    return 26.0 + 2.5 * quality + 1.5 * alpha


def mpa_lpips(quality: float, alpha: float) -> float:
    return 0.30 - 0.05 * quality + 0.04 * alpha


def task_top1(quality: float, alpha: float) -> float:
    return 40.0 + 8.0 * quality + 10.0 * alpha


def task_miou(quality: float, alpha: float) -> float:
    return 0.20 + 0.03 * quality + 0.05 * alpha


def _bytes(bpp: float) -> int:
    return int(round(bpp * HEIGHT * WIDTH / 8.0))


SYNTHETIC_IMAGE = "synthetic-image"


def _metric_hashes(store: RunStore, run_id: str) -> dict[str, str]:
    """The run's metric hashes, plus synthetic ones registered for the metrics the run did not measure."""
    hashes = dict(store.metric_configs(run_id)[["metric", "config_hash"]].itertuples(index=False))
    for key in ("lpips-alex", "fid-256", "top1", "miou"):
        if key not in hashes:
            hashes[key] = f"synthetic-{key}"
            store.register_metric(run_id, key, hashes[key], {"synthetic": True})
    return hashes


def _write(store: RunStore, key: ItemKey, variants_metrics: dict[str, dict[str, float]], bpp: float,
           hashes: dict[str, str]) -> None:
    """Writes one synthetic item and adds it to the run's selection, as a run would."""
    rows = [Row(variant, height=HEIGHT, width=WIDTH, num_bytes=_bytes(bpp), payload_bytes=_bytes(bpp),
                encode_time=0.01, decode_time=0.01, metrics=metrics,
                metric_hashes={k: hashes[k] for k in metrics})
            for variant, metrics in variants_metrics.items()]
    store.write_item(key, rows)
    store.set_selection(key.run_id, [SelectedItem(key.codec, key.config_hash, key.dataset, key.image_id, key.point)],
                        (), replace=False)


def _codec(store: RunStore, run_id: str, label: str, codec: str) -> str:
    config_hash = f"synthetic-{label}"
    store.register_codec(run_id, label, codec, config_hash, {"synthetic": True}, {"synthetic": "1"}, "synthetic")
    return config_hash


def add_synthetic(store: RunStore, run_id: str) -> None:
    """Kodak: TinyLIC at 0.9 x VTM's rates with VTM's quality, MPA (alpha sweep), a non-monotonic codec;
    ImageNet and ADE20K: MPA task paths."""
    vtm = vtm_kodak()
    hashes = _metric_hashes(store, run_id)
    tinylic = _codec(store, run_id, "tinylic", "tinylic")
    for index, (bpp, psnr, msssim) in enumerate(zip(vtm["bpp"], vtm["psnr-rgb"], vtm["ms-ssim-rgb"])):
        metrics = {"psnr-rgb": psnr, "ms-ssim-rgb": msssim, "lpips-alex": 0.3 / (index + 1)}
        _write(store, ItemKey(run_id, "tinylic", tinylic, "kodak", "kodim01", SYNTHETIC_IMAGE, float(index + 1)),
               {"default": metrics}, 0.9 * bpp, hashes)
    broken = _codec(store, run_id, "broken", "jpeg")
    for index, (bpp, psnr) in enumerate([(0.2, 30.0), (0.4, 29.0), (0.8, 33.0), (1.6, 36.0)]):
        _write(store, ItemKey(run_id, "broken", broken, "kodak", "kodim01", SYNTHETIC_IMAGE, float(index + 1)),
               {"default": {"psnr-rgb": psnr}}, bpp, hashes)
    mpa = _codec(store, run_id, "mpa", "mpa")
    for quality in QUALITIES:
        variants = {f"alpha={alpha!r},task=mse": {
            "psnr-rgb": mpa_psnr(quality, alpha), "lpips-alex": mpa_lpips(quality, alpha),
            "fid-256": 40.0 / quality + alpha} for alpha in ALPHAS}
        _write(store, ItemKey(run_id, "mpa", mpa, "kodak", "kodim01", SYNTHETIC_IMAGE, quality), variants,
               0.1 * quality, hashes)
    for dataset, label, task, key, value in (("imagenet", "mpa-cls", "cls", "top1", task_top1),
                                             ("ade20k", "mpa-seg", "seg", "miou", task_miou)):
        config_hash = _codec(store, run_id, label, "mpa")
        for quality in QUALITIES:
            variants = {f"alpha={alpha!r},task={task}": {key: value(quality, alpha)} for alpha in (0.0, 1.0)}
            _write(store, ItemKey(run_id, label, config_hash, dataset, "img0", SYNTHETIC_IMAGE, quality), variants,
                   0.1 * quality, hashes)


def make_images(root: Path, image: np.ndarray, count: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        crop = image[index * 60 : index * 60 + 192, index * 80 : index * 80 + 256]
        Image.fromarray(crop).save(root / f"img{index}.png")
    return root


def build_run(base: Path, image: np.ndarray) -> Path:
    """Writes the run directory ``base/runs/tiny-folder`` and returns it."""
    images = make_images(base / "images", image)
    suite_file = base / "tiny.toml"
    suite_file.write_text(SUITE.format(root=images))
    result = run_suite(load_suite(str(suite_file)), base / "runs", progress=False)
    with RunStore(result.run_dir / STORE_NAME) as store:
        add_synthetic(store, result.plan.run_id)
    return result.run_dir


_RUNS: dict[str, Path] = {}


def shared_run(tmp_path_factory, image: np.ndarray) -> Path:
    """One run per test session, shared by the report, Chromium and check tests (which copy it to change it)."""
    if "run" not in _RUNS:
        _RUNS["run"] = build_run(tmp_path_factory.mktemp("report-run"), image)
    return _RUNS["run"]
