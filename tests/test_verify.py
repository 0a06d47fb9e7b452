"""``bench verify``: every stored number derived again from the stored bitstreams (issue 10).

The honest run passes; a run whose stored metric, bitstream, or image was altered behind the store's back fails,
naming the item."""

import json
import shutil
import sqlite3

import pytest
from PIL import Image

from bench.cli import main
from bench.engine.run import STORE_NAME, run_suite
from bench.engine.suite import load_suite
from bench.engine.verify import verify_run

SUITE = """
name = "verified"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb", "ms-ssim-rgb"]

[[codecs]]
codec = "jpeg"
points = [20, 60]

[[codecs]]
codec = "webp"
points = [50]
"""


@pytest.fixture(scope="module")
def honest_run(tmp_path_factory, kodak_image):
    base = tmp_path_factory.mktemp("verify")
    images = base / "images"
    images.mkdir()
    for index in range(2):
        Image.fromarray(kodak_image[index * 80 : index * 80 + 192, :256]).save(images / f"img{index}.png")
    (base / "s.toml").write_text(SUITE.format(root=images))
    return run_suite(load_suite(str(base / "s.toml")), base / "runs", progress=False).run_dir


def tampered(run_dir, tmp_path):
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


def test_an_honest_run_verifies(honest_run, capsys):
    result = verify_run(honest_run, progress=False)
    assert result.passed, result.mismatches
    assert {label: t.items for label, t in result.tallies.items()} == {"jpeg": 4, "webp": 2}
    assert sum(t.values for t in result.tallies.values()) == 6 * 4  # PSNR and MS-SSIM, 8-bit and float forms
    assert main(["verify", str(honest_run), "--no-progress"]) == 0
    assert "6 items, 24 metric values derived again from the stored bitstreams: OK" in capsys.readouterr().out


def test_an_altered_metric_value_fails(honest_run, tmp_path, capsys):
    run_dir = tampered(honest_run, tmp_path)
    with sqlite3.connect(run_dir / STORE_NAME) as db:
        result_id, metrics = db.execute("SELECT id, metrics FROM results WHERE codec = 'webp' ORDER BY id").fetchone()
        values = json.loads(metrics)
        values["psnr-rgb"] += 0.001
        db.execute("UPDATE results SET metrics = ? WHERE id = ?", (json.dumps(values), result_id))
    assert main(["verify", str(run_dir), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH metric" in out and "webp@50" in out and "psnr-rgb: stored" in out and "FAILED: 1 mismatch" in out


def test_an_altered_bitstream_fails(honest_run, tmp_path):
    run_dir = tampered(honest_run, tmp_path)
    with sqlite3.connect(run_dir / STORE_NAME) as db:
        rowid, data = db.execute("SELECT rowid, data FROM bitstreams WHERE codec = 'jpeg' AND point = 60 "
                                 "ORDER BY rowid").fetchone()
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x5A
        db.execute("UPDATE bitstreams SET data = ? WHERE rowid = ?", (bytes(flipped), rowid))
    result = verify_run(run_dir, progress=False)
    assert [(m.kind, m.codec, m.point) for m in result.mismatches] == [("bitstream", "jpeg", 60.0)]


def test_a_changed_image_is_reported_not_scored(honest_run, tmp_path):
    run_dir = tampered(honest_run, tmp_path)
    suite = load_suite(str(run_dir / "suite.toml"))
    images = tmp_path / "moved-images"
    shutil.copytree(suite.datasets[0].root, images)
    image = Image.open(images / "img1.png")
    image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(images / "img1.png")
    result = verify_run(run_dir, data_root=str(images), progress=False)
    assert {m.kind for m in result.mismatches} == {"image"}
    assert {m.image_id for m in result.mismatches} == {"img1"} and len(result.mismatches) == 3


def test_sample_checks_a_subset(honest_run):
    result = verify_run(honest_run, sample=2, progress=False)
    assert result.passed and sum(t.items for t in result.tallies.values()) == 2


def test_verify_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main(["verify", str(tmp_path), "--no-progress"]) == 2
    assert "no suite.toml" in capsys.readouterr().err
