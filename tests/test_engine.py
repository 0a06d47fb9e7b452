"""The engine end to end: plan, run store, reuse, resume after SIGKILL, failures, exports."""

import dataclasses
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shutil
from PIL import Image

from bench.engine.executors import ExecutionConfig
from bench.engine.run import STORE_NAME, run_suite
from bench.engine.suite import load_suite, suite_to_toml

SUITE = """
name = "tiny"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb", "ms-ssim-rgb"]

[[codecs]]
codec = "jpeg"
points = {jpeg_points}

[[codecs]]
codec = "webp"
label = "webp-m6"
points = [20, 80]
options = {{ method = 6 }}
"""


def make_folder(root: Path, image: np.ndarray, count: int, corrupt: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        crop = image[index * 40 : index * 40 + 192, index * 60 : index * 60 + 256]
        Image.fromarray(crop).save(root / f"img{index}.png")
    if corrupt:
        (root / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def write_suite(path: Path, root: Path, jpeg_points=(10, 50)) -> Path:
    path.write_text(SUITE.format(root=root, jpeg_points=list(jpeg_points)))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, kodak_image):
    """One run shared by the read-only tests; tests that change the store copy it first."""
    tmp_path = tmp_path_factory.mktemp("tiny")
    root = make_folder(tmp_path / "images", kodak_image, 3, corrupt=True)
    suite = load_suite(str(write_suite(tmp_path / "tiny.toml", root)))
    return suite, run_suite(suite, tmp_path / "runs", progress=False)


def copy_runs(result, destination: Path) -> Path:
    shutil.copytree(result.run_dir.parent, destination)
    return destination


def test_run_measures_every_item_and_records_failures(tiny_run):
    suite, result = tiny_run
    assert result.outcome.computed == 3 * 4
    assert len(result.outcome.failures) == 4
    assert all("zz_broken.png" in failure and "cannot decode" in failure for failure in result.outcome.failures)
    rows = pd.read_csv(result.run_dir / "results.csv")
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 12 and ok.duplicated(["codec", "image_id", "point", "variant"]).sum() == 0
    np.testing.assert_allclose(ok["bpp"], 8.0 * ok["num_bytes"] / (ok["height"] * ok["width"]), rtol=1e-15)


def test_stored_bitstreams_reproduce_the_stored_metrics(tiny_run):
    """Second implementation: decode each stored file with Pillow directly and recompute PSNR in integers."""
    suite, result = tiny_run
    images = Path(suite.datasets[0].root)
    store = sqlite3.connect(result.run_dir / STORE_NAME)
    query = ("SELECT r.image_id, r.metrics, b.data, r.num_bytes FROM results r JOIN bitstreams b USING "
             "(run_id, codec, config_hash, dataset, image_id, point) WHERE r.status = 'ok'")
    checked = 0
    for image_id, metrics, data, num_bytes in store.execute(query):
        original = np.asarray(Image.open(images / f"{image_id}.png").convert("RGB"))
        decoded = np.asarray(Image.open(__import__("io").BytesIO(data)).convert("RGB"))
        mse = np.mean((original.astype(np.float64) - decoded) ** 2) / 255**2
        # The metric works on float32 [0, 1] tensors: agreement with the integer computation to 1e-6 dB.
        assert json.loads(metrics)["psnr-rgb"] == pytest.approx(-10 * math.log10(mse), abs=1e-6)
        assert len(data) == num_bytes
        checked += 1
    assert checked == 12


def test_exports_are_means_of_the_per_image_rows(tiny_run):
    _, result = tiny_run
    rows = pd.read_csv(result.run_dir / "results.csv")
    ok = rows[rows["status"] == "ok"]
    document = json.loads((result.run_dir / "json" / "folder" / "webp-m6.json").read_text())
    assert document["name"] == "WebP (webp-m6)" and set(document["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb",
                                                                          "encoding_time", "decoding_time"}
    webp = ok[ok["codec"] == "webp-m6"].groupby("point")
    expected_bpp = webp["bpp"].mean().sort_values()
    assert document["results"]["bpp"] == pytest.approx(list(expected_bpp))
    assert document["results"]["psnr-rgb"] == pytest.approx(list(webp["psnr-rgb"].mean()[expected_bpp.index]))
    assert document["meta"]["images"] == 3
    curves = pd.read_csv(result.run_dir / "curves.csv")
    jpeg = curves[curves["codec"] == "jpeg"]
    pooled = ok[ok["codec"] == "jpeg"].groupby("point").apply(
        lambda g: (8 * g["num_bytes"]).sum() / (g["height"] * g["width"]).sum(), include_groups=False)
    assert list(jpeg.sort_values("point")["bpp-pooled"]) == pytest.approx(list(pooled.sort_index()))


def test_rerun_reuses_everything_and_retries_only_failures(tiny_run, tmp_path):
    suite, first = tiny_run
    runs = copy_runs(first, tmp_path / "runs")
    created = pd.read_csv(first.run_dir / "results.csv").query("status == 'ok'")["created"].tolist()
    again = run_suite(suite, runs, progress=False)
    assert again.outcome.computed == 0 and again.outcome.reused == 12 and len(again.outcome.failures) == 4
    assert pd.read_csv(again.run_dir / "results.csv").query("status == 'ok'")["created"].tolist() == created
    fresh = run_suite(suite, runs, fresh=True, progress=False)
    assert fresh.outcome.computed == 12


def test_a_new_metric_is_measured_from_stored_bitstreams_keeping_codec_rows(tiny_run, tmp_path):
    """A metric the store lacks is scored on the stored bitstreams decoded again: the codec's rows (bytes, times,
    creation, PSNR) stay as stored, and the new MS-SSIM values equal those a run measuring it from the start has."""
    suite, full = tiny_run
    fewer = dataclasses.replace(suite, metrics=("psnr-rgb",))
    first = run_suite(fewer, tmp_path / "runs", progress=False)
    assert "ms-ssim-rgb" not in first.curves
    result = run_suite(suite, tmp_path / "runs", progress=False)
    assert result.outcome.computed == 0 and result.outcome.rescored == 12
    before = pd.read_csv(first.run_dir / "results.csv").query("status == 'ok'")
    after = pd.read_csv(result.run_dir / "results.csv").query("status == 'ok'")
    merged = before.merge(after, on=["codec", "image_id", "point", "variant"], suffixes=("_before", "_after"))
    assert len(merged) == 12
    for column in ("created", "encode_time", "num_bytes", "bitstream_sha256", "psnr-rgb"):
        assert (merged[f"{column}_before"] == merged[f"{column}_after"]).all(), column
    measured = pd.read_csv(full.run_dir / "results.csv").query("status == 'ok'")
    compared = after.merge(measured, on=["codec", "image_id", "point", "variant"], suffixes=("", "_measured"))
    np.testing.assert_allclose(compared["ms-ssim-rgb"], compared["ms-ssim-rgb_measured"], rtol=1e-6)
    # JPEG decodes to 8-bit pixels, so the float forms equal the 8-bit ones exactly.
    assert (after["psnr-float"] == after["psnr-rgb"]).all() and (after["ms-ssim-float"] == after["ms-ssim-rgb"]).all()


def test_suite_file_round_trip(tiny_run):
    suite, result = tiny_run
    assert load_suite(str(result.run_dir / "suite.toml")) == suite
    assert suite_to_toml(load_suite("default")).count("[[codecs]]") == 7


def _stable_columns(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["codec", "dataset", "image_id", "point", "variant", "status", "num_bytes", "bitstream_sha256",
               "psnr-rgb", "ms-ssim-rgb"]
    return frame[columns].sort_values(["codec", "image_id", "point"]).reset_index(drop=True)


def _session_members(session_id: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":  # fields: state, ppid, pgrp, session
            members.append(int(stat.parent.name))
    return members


def _assert_workers_exit(session_id: int, timeout: float = 60.0) -> None:
    """Worker processes of a killed run must not outlive it."""
    deadline = time.time() + timeout
    while _session_members(session_id) and time.time() < deadline:
        time.sleep(0.2)
    assert _session_members(session_id) == []


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, kodak_image):
    root = make_folder(tmp_path / "images", kodak_image, 3)
    suite_file = write_suite(tmp_path / "tiny.toml", root, jpeg_points=(5, 15, 30, 50, 70, 90))
    command = [sys.executable, "-m", "bench", "run", "--suite", str(suite_file), "--runs-dir", str(tmp_path / "killed"),
               "--no-progress", "--workers", "2"]
    process = subprocess.Popen(command, cwd=Path(__file__).parent.parent, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               start_new_session=True)
    store_path = tmp_path / "killed" / "tiny-folder" / STORE_NAME
    stored_before = 0
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if store_path.exists():
            try:
                stored_before = sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                stored_before = 0
            if stored_before >= 3:
                break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _assert_workers_exit(process.pid)
    total = 3 * (6 + 2)
    assert 3 <= stored_before < total, "the run must be killed mid-way"
    survivors = pd.read_sql_query("SELECT * FROM results", sqlite3.connect(store_path))
    assert len(survivors) < total

    suite = load_suite(str(suite_file))
    resumed = run_suite(suite, tmp_path / "killed", progress=False)
    assert resumed.outcome.reused == len(survivors)
    assert resumed.outcome.computed == total - len(survivors)
    final = pd.read_csv(resumed.run_dir / "results.csv")
    assert len(final) == total and not final.duplicated(["codec", "image_id", "point", "variant"]).any()
    stored = pd.read_sql_query("SELECT * FROM results", sqlite3.connect(store_path))
    kept = stored.merge(survivors[["codec", "image_id", "point", "created"]], on=["codec", "image_id", "point"])
    assert (kept["created_x"] == kept["created_y"]).all()  # stored items were not recomputed

    # The killed run measured in 2 worker processes (the CLI default here), the rest ran in this process, the
    # reference runs with 2 workers: bytes are identical, metrics agree to float32 reduction-order noise.
    uninterrupted = run_suite(suite, tmp_path / "straight", progress=False,
                              execution=ExecutionConfig(kind="process", workers=2))
    pd.testing.assert_frame_equal(_stable_columns(final),
                                  _stable_columns(pd.read_csv(uninterrupted.run_dir / "results.csv")),
                                  check_exact=False, rtol=1e-6)
