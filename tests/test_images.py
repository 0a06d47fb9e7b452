"""Image loading rules, the embedded and folder datasets, and the Kodak manifest."""

import hashlib
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bench.data.imagefile import load_rgb8
from bench.data.images import FolderDataset, KodakDataset, SampleDataset
from bench.data.manifest import load_manifest, verify
from bench.errors import DatasetError, ImageError
from tests.conftest import ASSETS


def write_png16(path, array):
    """Writes a 16-bit greyscale or RGB PNG by hand (Pillow cannot write 16-bit RGB)."""
    height, width = array.shape[:2]
    colour_type = 2 if array.ndim == 3 else 0
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_greyscale_is_replicated_to_three_channels(tmp_path):
    grey = np.arange(48 * 40, dtype=np.uint8).reshape(48, 40)
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    rgb = load_rgb8(tmp_path / "g.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (48, 40, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], grey)


def test_alpha_is_dropped_without_compositing(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, (20, 30, 4), dtype=np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_rgb8(tmp_path / "a.png"), rgba[:, :, :3])


def test_palette_images_use_their_palette(tmp_path):
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9)
    indices = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    image.save(tmp_path / "p.png")
    expected = np.array([[[0, 0, 0], [255, 0, 0]], [[0, 255, 0], [255, 0, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(load_rgb8(tmp_path / "p.png"), expected)


def test_16bit_images_keep_their_high_byte(tmp_path):
    values = np.arange(0, 65536, 97, dtype=np.uint16)[: 30 * 20]
    grey = values.reshape(30, 20)
    rgb = np.stack([grey, grey[::-1], 65535 - grey], axis=2)
    write_png16(tmp_path / "g16.png", grey)
    write_png16(tmp_path / "rgb16.png", rgb)
    np.testing.assert_array_equal(load_rgb8(tmp_path / "g16.png")[:, :, 0], (grey >> 8).astype(np.uint8))
    np.testing.assert_array_equal(load_rgb8(tmp_path / "rgb16.png"), (rgb >> 8).astype(np.uint8))


def test_exif_orientation_is_ignored(tmp_path):
    pixels = np.zeros((10, 30, 3), dtype=np.uint8)
    pixels[:, :5] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(pixels).save(tmp_path / "o.jpg", exif=exif, quality=100)
    loaded = load_rgb8(tmp_path / "o.jpg")
    assert loaded.shape == (10, 30, 3)
    assert loaded[:, :5].mean() > 200 and loaded[:, 10:].mean() < 30


@pytest.mark.parametrize("content", [b"not an image at all", None])
def test_corrupt_files_raise_a_one_line_error_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.png"
    if content is None:  # a truncated PNG
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
        content = buffer.getvalue()[:60]
    path.write_bytes(content)
    with pytest.raises(ImageError) as error:
        load_rgb8(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_sample_dataset_is_offline_real_and_stable():
    samples = SampleDataset().samples()
    ids = [sample.image_id for sample in samples]
    assert ids == ["astronaut", "chelsea", "coffee", "grace_hopper", "hubble_deep_field", "motorcycle_left", "rocket"]
    for sample in samples:
        image = sample.load()
        assert image.dtype == np.uint8 and image.ndim == 3 and min(image.shape[:2]) >= 300
        assert image.std() > 10  # a photograph, not a flat test card


def test_folder_dataset_is_recursive_sorted_and_skips_other_files(tmp_path):
    for relative in ["b/2.png", "a.png", "b/1.jpg", "notes.txt"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".txt"):
            path.write_text("x")
        else:
            Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)
    assert [s.image_id for s in FolderDataset(tmp_path).samples()] == ["a", "b/1", "b/2"]
    assert [s.image_id for s in FolderDataset(tmp_path, limit=2).samples()] == ["a", "b/1"]


def test_kodak_manifest_describes_the_real_files():
    manifest = load_manifest("kodak")
    assert [entry.path for entry in manifest.files] == [f"kodim{i:02d}.png" for i in range(1, 25)]
    entry = manifest.files[19]
    data = (ASSETS / "kodim20.png").read_bytes()
    assert entry.sha256 == hashlib.sha256(data).hexdigest() and entry.size == len(data)
    assert entry.pixels_sha256 == hashlib.sha256(load_rgb8(ASSETS / "kodim20.png").tobytes()).hexdigest()
    assert {(e.width, e.height) for e in manifest.files} == {(768, 512), (512, 768)}


def test_kodak_verify_reports_missing_corrupt_and_reencoded_files(tmp_path):
    root = tmp_path / "kodak"
    root.mkdir()
    image = load_rgb8(ASSETS / "kodim20.png")
    Image.fromarray(image).save(root / "kodim20.png", compress_level=1)  # same pixels, other bytes
    corrupt = bytearray((ASSETS / "kodim20.png").read_bytes())
    corrupt[5000] ^= 0xFF
    (root / "kodim19.png").write_bytes(bytes(corrupt))
    statuses = {s.path: s.status for s in verify(load_manifest("kodak"), tmp_path)}
    assert statuses["kodim20.png"] == "reencoded"
    assert statuses["kodim19.png"] == "corrupt"
    assert sum(status == "missing" for status in statuses.values()) == 22


def test_missing_kodak_is_one_line_naming_the_manifest_and_command(tmp_path):
    with pytest.raises(DatasetError) as error:
        KodakDataset(tmp_path).samples()
    message = str(error.value)
    assert "datasets/kodak.json" in message and "python -m bench datasets" in message and "\n" not in message
    assert json.loads((ASSETS.parent.parent / "datasets" / "kodak.json").read_text())["name"] == "kodak"
