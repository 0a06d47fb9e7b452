"""The bad-input matrix of issue 10: each case gets one clear line naming the file and the fix (exit 2 for bad usage
or input, exit 1 for failed items), the run goes on, and nothing already stored is lost."""

import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from bench.cli import main
from tests.cli_helpers import cli, one_error_line
from bench.codecs.base import Decoded
from bench.codecs.classical import WebP
from bench.data.imagefile import load_rgb8
from bench.engine.lock import RunLock
from bench.engine.plan import build_plan
from bench.engine.run import STORE_NAME, run_suite
from bench.engine.runner import execute
from bench.engine.store import RunStore, StoreError
from bench.engine.suite import load_suite
from bench.errors import ImageError

SUITE = """
name = "bad"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb"]

[[codecs]]
codec = "jpeg"
points = [30, 70]
"""





def folder(tmp_path: Path, kodak_crop: np.ndarray, count: int = 2) -> Path:
    images = tmp_path / "images"
    images.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.ascontiguousarray(kodak_crop[:, index * 16 :])).save(images / f"img{index}.png")
    return images


def suite_file(tmp_path: Path, root: Path, text: str = SUITE) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text.format(root=root))
    return path


def literal_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, followed by a few bytes of image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


# --- images -------------------------------------------------------------------------------------------------------


def test_a_decompression_bomb_is_a_failed_item_and_the_run_goes_on(tmp_path, kodak_crop):
    images = folder(tmp_path, kodak_crop)
    (images / "zz_bomb.png").write_bytes(png_claiming(20000, 20000))  # 400 MP claimed, 100 bytes on disk
    with pytest.raises(ImageError, match="decompression bomb"):
        load_rgb8(images / "zz_bomb.png")
    arguments = ("run", "--suite", str(suite_file(tmp_path, images)), "--runs-dir", str(tmp_path / "runs"),
                 "--no-progress", "--workers", "1")
    for _ in range(2):  # the rerun retries the failed items and goes on the same way
        status, out, err = cli(*arguments)
        assert status == 1 and "2 items failed" in err and "zz_bomb.png: refused as a decompression bomb" in err
        rows = pd.read_csv(tmp_path / "runs" / "bad-folder" / "results.csv")
        assert (rows["status"] == "ok").sum() == 4 and (rows["status"] == "failed").sum() == 2


def test_images_above_the_size_limit_fail_with_how_to_raise_it(tmp_path, kodak_crop):
    images = folder(tmp_path, kodak_crop, count=1)
    status, _, err = cli("run", "--suite", str(suite_file(tmp_path, images)), "--runs-dir", str(tmp_path / "runs"),
                         "--no-progress", "--workers", "1", "--max-megapixels", "0.01")
    assert status == 1 and "above the limit of 0.01 MP; raise max_megapixels" in err


class NaNCodec(WebP):
    """A plugin-style codec whose decoder returns NaN (no native pixel path): the engine's own check must catch it."""

    name = "nan-codec"

    def decode_variants(self, bitstream, variants):
        for variant in variants:
            yield Decoded(variant, torch.full((1, 3, bitstream.height, bitstream.width), np.nan), 0.0, {})


def test_a_non_finite_reconstruction_fails_the_item(tmp_path, kodak_crop, monkeypatch):
    from bench.codecs import codecs

    monkeypatch.setitem(codecs._targets, "nan-codec", "tests.test_bad_input:NaNCodec")
    monkeypatch.setattr("bench.timing.NativeCodec", type("NoNativeCodec", (), {}))  # decode through decode_variants
    images = folder(tmp_path, kodak_crop, count=1)
    suite = load_suite(str(suite_file(tmp_path, images, SUITE.replace('codec = "jpeg"', 'codec = "nan-codec"'))))
    result = run_suite(suite, tmp_path / "runs", progress=False)
    assert result.outcome.computed == 0 and len(result.outcome.failures) == 2
    assert all("non-finite values" in failure for failure in result.outcome.failures)


# --- suite files and options --------------------------------------------------------------------------------------

BAD_SUITES = [
    ('points = [-5]', "rate point -5 is outside jpeg's range"),
    ('points = [500, 1000]', "rate point 500 is outside jpeg's range"),
    ('points = [50, 50.4, 50]', "rate point 50 is listed twice"),
    ('points = []', "points must be a non-empty list"),
    ('points = [nan]', "rate point nan is not a finite number"),
    ('points = ["3"]', "rate point '3' is not a finite number"),
    ('options = { subsampling = "4:1:1" }', "subsampling = '4:1:1' must be one of"),
    ('options = { qualty = 3 }', "unknown option qualty"),
]


@pytest.mark.parametrize("line, message", BAD_SUITES)
def test_bad_codec_values_are_refused_when_the_suite_is_read(tmp_path, line, message):
    text = f'name = "s"\ndatasets = ["sample"]\n[[codecs]]\ncodec = "jpeg"\n{line}\n'
    status, _, err = cli("run", "--suite", str(literal_suite(tmp_path, text)), "--runs-dir",
                         str(tmp_path / "runs"), "--no-progress")
    assert status == 2 and message in one_error_line(err)
    assert not (tmp_path / "runs").exists()


BAD_TOP_LEVEL = [
    ('datasets = [{ name = "sample", limit = -1 }]', "limit must be a whole number >= 1, got -1"),
    ('datasets = [{ name = "sample", limit = 0 }]', "limit must be a whole number >= 1, got 0"),
    ('datasets = [{ name = "sample", limit = "3" }]', "limit must be a whole number, got '3'"),
    ('datasets = [{ name = "folder", lmit = 2 }]', "unknown option lmit"),
    ('datasets = ["sample"]\nkeep_bitstreams = "no"', "keep_bitstreams must be true or false, got 'no'"),
    ('datasets = ["sample"]\nmetrics = []', "has no metrics"),
    ('datasets = ["sample"]\nmax_megapixels = -3', "max_megapixels must be a positive number"),
    ('datasets = ["sample"]\ncodecs = "jpeg"', "codecs must be an array"),
]


@pytest.mark.parametrize("top, message", BAD_TOP_LEVEL)
def test_bad_suite_values_are_refused_in_one_line(tmp_path, top, message):
    codecs = '' if "codecs =" in top else '[[codecs]]\ncodec = "jpeg"\n'
    text = f'name = "s"\n{top}\n{codecs}'
    status, _, err = cli("run", "--suite", str(literal_suite(tmp_path, text)), "--runs-dir",
                         str(tmp_path / "runs"), "--no-progress")
    assert status == 2 and message in one_error_line(err)


@pytest.mark.parametrize("codec, options, message", [
    ("avif", "{ speed = 99 }", "speed = 99 must be a whole number 0..10"),
    ("webp", '{ method = "fast" }', "method = 'fast' must be a whole number"),
    ("jpeg2000", "{}", "rate point -1 is outside jpeg2000's range"),
])
def test_codec_options_are_checked_against_what_the_codec_declares(tmp_path, codec, options, message):
    points = "points = [-1]" if codec == "jpeg2000" else ""
    text = f'name = "s"\ndatasets = ["sample"]\n[[codecs]]\ncodec = "{codec}"\noptions = {options}\n{points}\n'
    status, _, err = cli("run", "--suite", str(literal_suite(tmp_path, text)), "--runs-dir",
                         str(tmp_path / "runs"), "--no-progress")
    assert status == 2 and message in one_error_line(err)


def test_a_binary_file_given_as_suite_is_refused(tmp_path):
    path = tmp_path / "suite.toml"
    path.write_bytes(bytes(range(256)))
    status, _, err = cli("run", "--suite", str(path))
    assert status == 2 and "not a text file" in one_error_line(err)


def test_a_checkpoint_for_a_codec_the_suite_does_not_run_is_refused(tmp_path):
    status, _, err = cli("run", "--checkpoint", "nosuch=/x.pth", "--runs-dir", str(tmp_path / "runs"))
    assert status == 2 and "suite 'default' runs no codec 'nosuch'" in one_error_line(err)


@pytest.mark.parametrize("arguments, message", [
    (("--run-id", "../escape"), "run id '../escape' must be"),
    (("--run-id", "/abs/x"), "run id '/abs/x' must be"),
])
def test_run_ids_cannot_leave_the_runs_folder(tmp_path, arguments, message):
    status, _, err = cli("run", *arguments, "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    assert status == 2 and message in one_error_line(err)
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", ".."])
def test_suite_names_cannot_leave_the_runs_folder(tmp_path, name):
    text = f'name = "{name}"\ndatasets = ["sample"]\n[[codecs]]\ncodec = "jpeg"\n'
    status, _, err = cli("run", "--suite", str(literal_suite(tmp_path, text)), "--runs-dir",
                         str(tmp_path / "runs"))
    assert status == 2 and "suite name" in one_error_line(err)


def test_relative_paths_in_a_suite_file_are_relative_to_the_file(tmp_path, kodak_crop, monkeypatch):
    project = tmp_path / "project"
    images = folder(project, kodak_crop, count=1)
    assert images.parent == project
    (project / "s.toml").write_text(SUITE.format(root="images"))
    monkeypatch.chdir(tmp_path)  # elsewhere: "images" would not be found relative to here
    suite = load_suite("project/s.toml")
    assert suite.datasets[0].root == str(images)


def test_no_gpu_and_a_file_as_runs_dir_are_one_line_each(tmp_path):
    if not torch.cuda.is_available():
        status, _, err = cli("run", "--device", "cuda", "--runs-dir", str(tmp_path / "runs"))
        assert status == 2 and "no CUDA GPU is visible" in one_error_line(err)
    (tmp_path / "file").write_text("x")
    status, _, err = cli("run", "--runs-dir", str(tmp_path / "file"), "--no-progress", "--limit", "1")
    assert status == 2 and "is a file, not a directory" in one_error_line(err)


# --- the run store ------------------------------------------------------------------------------------------------


@pytest.fixture
def stored_run(tmp_path, kodak_crop):
    images = folder(tmp_path, kodak_crop)
    path = suite_file(tmp_path, images)
    result = run_suite(load_suite(str(path)), tmp_path / "runs", progress=False)
    return path, result.run_dir


def damage_truncate(store: Path) -> None:
    store.write_bytes(b"")


def damage_garbage(store: Path) -> None:
    store.write_bytes(os.urandom(8192))


def damage_middle_pages(store: Path) -> None:
    data = bytearray(store.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset + 8 : offset + 200] = os.urandom(192)
    store.write_bytes(bytes(data))


def damage_directory(store: Path) -> None:
    store.unlink()
    store.mkdir()


def damage_other_program(store: Path) -> None:
    store.unlink()
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")


def damage_old_schema(store: Path) -> None:
    with sqlite3.connect(store) as db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def damage_json(store: Path) -> None:
    with sqlite3.connect(store) as db:
        db.execute("UPDATE results SET metrics = '{broken' WHERE id = (SELECT MIN(id) FROM results)")


@pytest.mark.parametrize("damage, message", [
    (damage_truncate, "is damaged: the file is empty (truncated)"),
    (damage_garbage, "is damaged: the file is not an SQLite database"),
    (damage_middle_pages, "is damaged"),
    (damage_directory, "is a directory, not a results file"),
    (damage_other_program, "is an SQLite database of another program"),
    (damage_old_schema, "has schema version 1"),
    (damage_json, "holds malformed JSON"),
])
def test_a_damaged_store_is_named_and_fresh_moves_it_aside(stored_run, damage, message):
    path, run_dir = stored_run
    store = run_dir / STORE_NAME
    damage(store)
    base = ("run", "--suite", str(path), "--runs-dir", str(run_dir.parent), "--no-progress", "--workers", "1")
    status, _, err = cli(*base)
    line = one_error_line(err)
    assert status == 2 and message in line and str(store) in line and "--fresh" in line
    status, out, err = cli(*base, "--fresh")
    assert status == 0, err
    assert "4 items computed" in out
    assert len(list(run_dir.glob(f"{STORE_NAME}.*.bak"))) == 1  # the damaged file is kept, renamed


def test_report_and_check_do_not_write_into_the_run_directory(stored_run, tmp_path):
    _, run_dir = stored_run
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    status, _, err = cli("check", str(run_dir), "--baseline", str(tmp_path / "b.json"), "--update")
    assert status == 0, err
    assert cli("check", str(run_dir), "--baseline", str(tmp_path / "b.json"))[0] == 0
    with RunStore(run_dir / STORE_NAME, readonly=True) as store:
        assert len(store.rows("bad-folder")) == 4
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before


def test_a_run_directory_that_cannot_be_written_is_refused_in_one_line(stored_run, monkeypatch):
    path, run_dir = stored_run
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == run_dir and mode == os.W_OK
                        else real_access(p, mode))
    status, _, err = cli("run", "--suite", str(path), "--runs-dir", str(run_dir.parent), "--no-progress")
    assert status == 2 and "is read-only" in one_error_line(err)


def test_a_full_disk_keeps_what_was_stored_and_a_rerun_resumes(tmp_path, kodak_crop):
    images = folder(tmp_path, kodak_crop, count=4)
    suite = load_suite(str(suite_file(tmp_path, images)))
    plan = build_plan(suite)
    run_dir = tmp_path / "runs" / plan.run_id
    store = RunStore(run_dir / STORE_NAME)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 6}")  # SQLite's own "database or disk is full"
    with pytest.raises(StoreError, match="disk full while writing .* every item written before is kept"):
        execute(plan, store, progress=False)
    store.close()
    kept = sqlite3.connect(run_dir / STORE_NAME).execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert 0 < kept < 8
    resumed = run_suite(suite, tmp_path / "runs", progress=False)
    assert resumed.outcome.reused == kept and resumed.outcome.computed == 8 - kept


def test_a_second_run_on_the_same_directory_is_told_at_once(stored_run):
    path, run_dir = stored_run
    with RunLock(run_dir):
        status, _, err = cli("run", "--suite", str(path), "--runs-dir", str(run_dir.parent), "--no-progress")
    assert status == 2 and f"{run_dir} is in use by another run (pid {os.getpid()})" in one_error_line(err)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="ignore")
    except OSError:
        return ""


def test_a_killed_worker_ends_the_run_in_one_line_and_a_rerun_completes(tmp_path, kodak_image):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(6):
        Image.fromarray(kodak_image[index * 40 : index * 40 + 256, :384]).save(images / f"img{index}.png")
    path = suite_file(tmp_path, images, SUITE.replace("points = [30, 70]", "points = [10, 30, 50, 70, 90]"))
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--runs-dir", str(tmp_path / "runs"),
               "--no-progress", "--workers", "2"]
    process = subprocess.Popen(command, cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    store = tmp_path / "runs" / "bad-folder" / STORE_NAME
    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and process.poll() is None and not killed:
        try:
            stored = sqlite3.connect(store).execute("SELECT COUNT(*) FROM results").fetchone()[0] if store.exists() \
                else 0
        except sqlite3.OperationalError:
            stored = 0
        workers = [pid for pid in _children(process.pid)  # pool workers, not the resource tracker
                   if "spawn_main" in _cmdline(pid)]
        if stored >= 2 and workers:
            os.kill(workers[0], signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    _, err = process.communicate(timeout=120)
    assert killed, "the run ended before a worker could be killed"
    assert process.returncode == 2 and "a worker process died" in one_error_line(err)
    resumed = run_suite(load_suite(str(path)), tmp_path / "runs", progress=False)
    assert resumed.outcome.reused >= 2 and resumed.outcome.reused + resumed.outcome.computed == 30
    rows = pd.read_csv(tmp_path / "runs" / "bad-folder" / "results.csv")
    assert len(rows) == 30 and not rows.duplicated(["image_id", "point"]).any()


def test_environment_names_each_codec_and_metric(stored_run):
    _, run_dir = stored_run
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["codecs"]["jpeg"]["versions"]["libjpeg-turbo"]


def test_profile_refuses_a_size_it_cannot_hold(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "jpeg", "--size", "100000x100000"])
    assert exit_info.value.code == 2 and "100000x100000 is 10000 MP; profile sizes up to 50 MP" in capsys.readouterr().err
