"""The run store never serves a number measured on other images, code, libraries, weights or points (issue 10).

Every expected value is recomputed independently of the engine: Pillow's JPEG encoder and a NumPy PSNR."""

import dataclasses
import io
import json
import math
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.codecs.classical import JPEG
from bench.data.digest import DigestCache, array_digest, sample_digest
from bench.data.images import FolderDataset
from bench.engine.export import codec_description, neutralize_formulas
from bench.engine.run import STORE_NAME, run_suite
from bench.engine.suite import load_suite

SUITE = """
name = "trust"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb"]

[[codecs]]
codec = "jpeg"
points = {points}
"""



def suite_file(path: Path, root: Path, points=(50,)) -> Path:
    path.write_text(SUITE.format(root=root, points=list(points)))
    return path


def oracle_jpeg(image: np.ndarray, quality: int) -> tuple[float, float]:
    """(bpp, PSNR) of Pillow's JPEG 4:2:0 at ``quality``, computed without bench."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling="4:2:0")
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).astype(np.float64)
    mse = np.mean((image.astype(np.float64) - decoded) ** 2) / 255.0**2
    return 8.0 * len(buffer.getvalue()) / (image.shape[0] * image.shape[1]), -10.0 * math.log10(mse)


def two_folders(tmp_path: Path, kodak_crop: np.ndarray) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Folders A and B with one file of the same name and different pixels."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    pixels_a, pixels_b = kodak_crop, np.ascontiguousarray(kodak_crop[::-1, ::-1])
    Image.fromarray(pixels_a).save(a / "img.png")
    Image.fromarray(pixels_b).save(b / "img.png")
    return a, b, pixels_a, pixels_b


def test_other_pixels_under_the_same_name_are_measured_not_reused(tmp_path, kodak_crop):
    a, b, pixels_a, pixels_b = two_folders(tmp_path, kodak_crop)
    runs = tmp_path / "runs"
    first = run_suite(load_suite(str(suite_file(tmp_path / "a.toml", a))), runs, progress=False)
    second = run_suite(load_suite(str(suite_file(tmp_path / "b.toml", b))), runs, progress=False)
    assert first.run_dir == second.run_dir  # same suite name and dataset: one run directory
    assert second.outcome.computed == 1 and second.outcome.reused == 0
    for result, pixels in ((first, pixels_a), (second, pixels_b)):
        bpp, psnr = oracle_jpeg(pixels, 50)
        row = result.curves.iloc[0]
        assert row["bpp"] == pytest.approx(bpp, rel=1e-12) and row["psnr-rgb"] == pytest.approx(psnr, abs=1e-6)
    # Both measurements stay in the store; only B's is reported.
    stored = sqlite3.connect(second.run_dir / STORE_NAME).execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert stored == 2 and len(pd.read_csv(second.run_dir / "results.csv")) == 1
    # Back to A: its stored item is reused (same pixels), not measured again.
    again = run_suite(load_suite(str(suite_file(tmp_path / "a.toml", a))), runs, progress=False)
    assert again.outcome.reused == 1 and again.curves.iloc[0]["bpp"] == first.curves.iloc[0]["bpp"]


def test_a_changed_library_version_or_code_version_is_measured_again(tmp_path, kodak_crop, monkeypatch):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "img.png")
    suite = load_suite(str(suite_file(tmp_path / "s.toml", folder, (20, 60))))
    runs = tmp_path / "runs"
    assert run_suite(suite, runs, progress=False).outcome.computed == 2
    assert run_suite(suite, runs, progress=False).outcome.reused == 2
    real_versions = JPEG.versions
    monkeypatch.setattr(JPEG, "versions", lambda self: {**real_versions(self), "libjpeg-turbo": "99.0"})
    upgraded = run_suite(suite, runs, progress=False)
    assert upgraded.outcome.computed == 2 and upgraded.outcome.reused == 0
    monkeypatch.setattr(JPEG, "code_version", JPEG.code_version + 1)
    assert run_suite(suite, runs, progress=False).outcome.computed == 2


def test_removed_points_leave_curves_exports_and_check(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "img.png")
    runs = tmp_path / "runs"
    first = run_suite(load_suite(str(suite_file(tmp_path / "s.toml", folder, (50, 70, 90)))), runs, progress=False)
    baseline = tmp_path / "baseline.json"
    assert main(["check", str(first.run_dir), "--baseline", str(baseline), "--update"]) == 0
    second = run_suite(load_suite(str(suite_file(tmp_path / "s.toml", folder, (50, 70, 85)))), runs, progress=False)
    assert second.outcome.computed == 1 and second.outcome.reused == 2
    assert sorted(second.curves["point"]) == [50.0, 70.0, 85.0]
    assert sorted(pd.read_csv(second.run_dir / "curves.csv")["point"]) == [50.0, 70.0, 85.0]
    assert sorted(pd.read_csv(second.run_dir / "results.csv")["point"]) == [50.0, 70.0, 85.0]
    document = json.loads((second.run_dir / "json" / "folder" / "jpeg.json").read_text())
    assert document["meta"]["points"] == [50.0, 70.0, 85.0] and len(document["results"]["bpp"]) == 3
    # The baseline has point 90, which the run no longer measures: check must say so and fail.
    assert main(["check", str(second.run_dir), "--baseline", str(baseline)]) == 1


def test_a_limited_rerun_reports_only_the_limited_images(tmp_path, kodak_image):
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(kodak_image[index * 100 : index * 100 + 96, :128]).save(folder / f"img{index}.png")
    suite = load_suite(str(suite_file(tmp_path / "s.toml", folder)))
    runs = tmp_path / "runs"
    assert run_suite(suite, runs, progress=False).curves.iloc[0]["images"] == 3
    limited = dataclasses.replace(suite, datasets=(dataclasses.replace(suite.datasets[0], limit=1),))
    result = run_suite(limited, runs, progress=False)
    assert result.outcome.reused == 1 and result.curves.iloc[0]["images"] == 1
    assert list(pd.read_csv(result.run_dir / "results.csv")["image_id"]) == ["img0"]


def test_image_digest_hashes_pixels_and_target_and_is_cached_per_file(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "a.png")
    # Same pixels in another file format: same digest (the digest is of the pixels, not the file).
    Image.fromarray(kodak_crop).save(folder / "b.bmp")
    samples = {s.image_id: s for s in FolderDataset(folder).samples()}
    assert sample_digest(samples["a"]) == sample_digest(samples["b"])
    import hashlib

    expected = hashlib.sha256(f"mpa-bench-image/1 |u1 {kodak_crop.shape}\n".encode() + kodak_crop.tobytes())
    assert sample_digest(samples["a"]) == expected.hexdigest()
    assert array_digest(kodak_crop, 3) != array_digest(kodak_crop, 4) != array_digest(kodak_crop)
    cache = DigestCache({"name": "folder"}, tmp_path / "digests.sqlite")
    assert cache.get(samples["a"]) is None
    cache.put(samples["a"], "abc")
    assert cache.get(samples["a"]) == "abc"
    assert DigestCache({"name": "other loader"}, tmp_path / "digests.sqlite").get(samples["a"]) is None
    stat = (folder / "a.png").stat()
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: digest again
    assert cache.get(samples["a"]) is None


def test_image_ids_keep_the_extension_when_stems_clash(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "photo.png")
    Image.fromarray(kodak_crop[::-1]).save(folder / "photo.jpg")
    Image.fromarray(kodak_crop).save(folder / "other.png")
    assert [s.image_id for s in FolderDataset(folder).samples()] == ["other", "photo.jpg", "photo.png"]


def test_infinite_values_are_left_out_of_means_with_a_note(tmp_path, kodak_crop):
    """A flat grey image that JPEG reproduces exactly (PSNR inf) beside a photo: the mean is the photo's PSNR."""
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "photo.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(folder / "flat.png")
    result = run_suite(load_suite(str(suite_file(tmp_path / "s.toml", folder))), tmp_path / "runs", progress=False)
    _, psnr = oracle_jpeg(kodak_crop, 50)
    assert result.curves.iloc[0]["psnr-rgb"] == pytest.approx(psnr, abs=1e-6)
    assert any("psnr-rgb: 1 value(s) are infinite" in note and "flat" in note for note in result.notes)


def test_tiny_images_whose_headers_dominate_are_noted(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop[:2, :2]).save(folder / "tiny.png")
    result = run_suite(load_suite(str(suite_file(tmp_path / "s.toml", folder))), tmp_path / "runs", progress=False)
    assert any("cost more than raw RGB" in note and "tiny" in note for note in result.notes)


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "=HYPERLINK(1).png")
    Image.fromarray(kodak_crop).save(folder / "@SUM(1).png")
    result = run_suite(load_suite(str(suite_file(tmp_path / "s.toml", folder))), tmp_path / "runs", progress=False)
    cells = pd.read_csv(result.run_dir / "results.csv")["image_id"].tolist()
    assert sorted(cells) == ["'=HYPERLINK(1)", "'@SUM(1)"]
    frame = neutralize_formulas(pd.DataFrame({"a": ["-1+2", "+x", "\tcmd", "plain", None], "n": [-1.0] * 5}))
    assert frame["a"].tolist()[:4] == ["'-1+2", "'+x", "'\tcmd", "plain"] and frame["n"].tolist() == [-1.0] * 5


def test_descriptions_say_official_weights_only_for_official_digests():
    assert codec_description("JPEG", {}) == "JPEG"
    unknown = {"checkpoints": {"1": {"path": "a.pth", "sha256": "0123456789abcdef0000"}}, "official": False}
    assert codec_description("MPA", unknown) == "MPA, weights sha256 0123456789ab"
    assert codec_description("MPA", {**unknown, "official": True}) == "MPA, official weights"


def test_exports_carry_provenance_of_codecs_and_metrics(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop).save(folder / "img.png")
    result = run_suite(load_suite(str(suite_file(tmp_path / "s.toml", folder))), tmp_path / "runs", progress=False)
    document = json.loads((result.run_dir / "json" / "folder" / "jpeg.json").read_text())
    meta = document["meta"]
    assert meta["versions"]["libjpeg-turbo"] and meta["versions"]["code_version"] == str(JPEG.code_version)
    assert meta["config_hash"] and meta["metrics"]["psnr-rgb"]["config_hash"]
    # CompressAI's plot draws names holding "JPEG" dashed, as a classical codec; the definitions state the forms.
    assert document["name"] == "JPEG" and meta["codec"] == "jpeg"
    assert meta["definitions"]["rate"] == "file" and meta["definitions"]["psnr"] == "8-bit"
    assert meta["definitions"]["images"] == {"name": "folder", "count": 1, "preprocessing": "none"}
    environment = json.loads((result.run_dir / "environment.json").read_text())
    assert environment["codecs"]["jpeg"]["code_version"] == JPEG.code_version
    assert environment["metrics"]["psnr-rgb"]["config_hash"] == meta["metrics"]["psnr-rgb"]["config_hash"]
    assert {"timm", "lpips", "torch-fidelity"} <= set(environment["packages"])
    assert environment["executor"]["kind"] == "local"


def test_a_random_weight_mpa_export_does_not_claim_official_weights(tmp_path, kodak_crop):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(kodak_crop[:64, :64]).save(folder / "img.png")
    (tmp_path / "s.toml").write_text(f'name = "random"\ndatasets = [{{ name = "folder", root = "{folder}" }}]\n'
                                     f'metrics = ["psnr-rgb"]\n[[codecs]]\ncodec = "mpa-tiny"\npoints = [4.5]\n')
    result = run_suite(load_suite(str(tmp_path / "s.toml")), tmp_path / "runs", progress=False)
    for path in result.exported:
        document = json.loads(path.read_text())
        assert "official" not in document["description"] and document["meta"]["provenance"]["official"] is False
        digest = document["meta"]["provenance"]["checkpoints"]["all"]["sha256"]
        assert document["description"].endswith(f"weights sha256 {digest[:12]}")
