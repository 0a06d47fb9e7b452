"""RGB <-> Y'CbCr conversion and the raw file formats, against closed forms and independent converters."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from bench.codecs.yuv import (
    RawImageError,
    YUVFormat,
    bytes_to_planes,
    planes_to_bytes,
    planes_to_rgb,
    read_y4m,
    rgb_to_planes,
    write_ppm,
    write_y4m,
)
from bench.errors import BenchError


def pixels(*colours):
    return np.array([colours], dtype=np.uint8)


@pytest.mark.parametrize(
    "rgb, fmt, expected",
    [
        # H.273 full range by hand: red in BT.709 is Y = 255 * 0.2126 = 54.21 -> 54, Cb = 128 - 255 * 0.2126 /
        # (2 * 0.9278) = 98.78 -> 99, Cr = 128 + 127.5 = 255.5 -> 256, clipped to 255.
        ((255, 0, 0), YUVFormat("444", 8, "bt709"), (54, 99, 255)),
        ((255, 255, 255), YUVFormat("444", 8, "bt709"), (255, 128, 128)),
        ((0, 0, 0), YUVFormat("444", 10, "bt601"), (0, 512, 512)),
        ((255, 255, 255), YUVFormat("444", 10, "bt601"), (1023, 512, 512)),
        # BT.601 blue: Y = 255 * 0.114 = 29.07 -> 29, Cb = 128 + 127.5 -> 255 (clipped), Cr = 128 - 29.07 / 1.402
        # = 107.27 -> 107.
        ((0, 0, 255), YUVFormat("444", 8, "bt601"), (29, 255, 107)),
    ],
)
def test_closed_form_colours(rgb, fmt, expected):
    planes = rgb_to_planes(pixels(rgb), fmt)
    assert tuple(int(plane[0, 0]) for plane in planes) == expected


def test_bt601_8_bit_agrees_with_pillows_jfif_conversion(kodak_crop):
    ours = np.stack(rgb_to_planes(kodak_crop, YUVFormat("444", 8, "bt601")), axis=-1).astype(int)
    pillow = np.asarray(Image.fromarray(kodak_crop).convert("YCbCr")).astype(int)  # libImaging, fixed point
    assert np.abs(ours - pillow).max() <= 1  # Pillow's integer arithmetic rounds some values down


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
def test_agrees_with_ffmpegs_swscale(kodak_crop, tmp_path, matrix):
    (tmp_path / "in.png").write_bytes(b"")
    Image.fromarray(kodak_crop).save(tmp_path / "in.png")
    height, width = kodak_crop.shape[:2]
    ffmpeg_matrix = {"bt709": "bt709", "bt601": "bt470bg"}[matrix]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "in.png"), "-vf",
                    f"scale=out_color_matrix={ffmpeg_matrix}:out_range=full:flags=accurate_rnd+full_chroma_int",
                    "-pix_fmt", "yuvj444p", "-f", "rawvideo", str(tmp_path / "out.yuv")], check=True)
    fmt = YUVFormat("444", 8, matrix)
    theirs = np.stack(bytes_to_planes((tmp_path / "out.yuv").read_bytes(), height, width, fmt), axis=-1)
    ours = np.stack(rgb_to_planes(kodak_crop, fmt), axis=-1)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1


def test_10_bit_444_round_trips_every_8_bit_colour_exactly():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(200, 500, 3), dtype=np.uint8)
    colours[0, :8] = [(r, g, b) for r in (0, 255) for g in (0, 255) for b in (0, 255)]  # the RGB cube's corners
    for matrix in ("bt709", "bt601"):
        fmt = YUVFormat("444", 10, matrix)
        np.testing.assert_array_equal(planes_to_rgb(rgb_to_planes(colours, fmt), fmt), colours)


def test_8_bit_444_round_trip_loses_at_most_a_few_levels(kodak_crop):
    fmt = YUVFormat("444", 8, "bt709")
    back = planes_to_rgb(rgb_to_planes(kodak_crop, fmt), fmt)
    error = np.abs(back.astype(int) - kodak_crop.astype(int))
    assert error.max() <= 2 and error.mean() < 0.5


def test_420_keeps_flat_colours_and_interpolates_linearly():
    flat = np.full((6, 8, 3), (200, 30, 90), dtype=np.uint8)
    fmt = YUVFormat("420", 10, "bt709")
    np.testing.assert_array_equal(planes_to_rgb(rgb_to_planes(flat, fmt), fmt), flat)
    # A chroma ramp c[i] = i upsamples to samples at half-sample positions: (j - 0.5) / 2 between the edges.
    ramp = np.tile(np.arange(4, dtype=np.float64), (2, 1))
    from bench.codecs.yuv import _upsample_axis

    np.testing.assert_allclose(_upsample_axis(ramp, 1)[0, 1:-1], (np.arange(1, 7) - 0.5) / 2)


def test_odd_sizes_in_420_and_bad_formats_are_refused():
    with pytest.raises(BenchError, match="even width and height"):
        rgb_to_planes(np.zeros((5, 8, 3), np.uint8), YUVFormat("420"))
    with pytest.raises(BenchError, match="chroma must be one of"):
        YUVFormat.of("4:2:2", 8, "bt709")
    with pytest.raises(BenchError, match="matrix must be one of"):
        YUVFormat("444", 8, "bt2020")
    assert YUVFormat.of("4:4:4", 10, "bt601") == YUVFormat("444", 10, "bt601")


def test_raw_and_y4m_files_round_trip():
    rng = np.random.default_rng(1)
    for fmt in (YUVFormat("444", 8), YUVFormat("420", 10)):
        planes = rgb_to_planes(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), fmt)
        data = planes_to_bytes(planes, fmt)
        assert len(data) == fmt.frame_bytes(4, 6)
        for a, b in zip(bytes_to_planes(data, 4, 6, fmt), planes):
            np.testing.assert_array_equal(a, b)
        read, read_fmt = read_y4m(write_y4m(planes, fmt), fmt.matrix)
        assert read_fmt == fmt
        for a, b in zip(read, planes):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(RawImageError, match="expected 72 for one 6x4 444 8-bit frame"):
        bytes_to_planes(b"\0" * 71, 4, 6, YUVFormat())
    with pytest.raises(RawImageError, match="not a YUV4MPEG2 file"):
        read_y4m(b"garbage", "bt709")


def test_y4m_headers_written_by_ffmpeg_are_read():
    header = b"YUV4MPEG2 W2 H2 F25:1 Ip A0:0 C420p10 XYSCSS=420P10 XCOLORRANGE=FULL\nFRAME\n"
    planes, fmt = read_y4m(header + bytes(range(12)), "bt601")
    assert fmt == YUVFormat("420", 10, "bt601") and planes[0].tolist() == [[256, 770], [1284, 1798]]


def test_ppm_is_what_pillow_reads(kodak_crop, tmp_path):
    (tmp_path / "x.ppm").write_bytes(write_ppm(kodak_crop))
    with Image.open(tmp_path / "x.ppm") as image:
        np.testing.assert_array_equal(np.asarray(image), kodak_crop)
