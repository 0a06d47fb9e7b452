"""Picture sizes from H.265 / H.266 sequence parameter sets, on bitstreams of the real encoders."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.codecs.nal import BitstreamSyntaxError, hevc_picture_size, nal_units, rbsp, vvc_picture_size

VVC = Path(__file__).parent / "assets" / "vvc"


@pytest.mark.parametrize("name, size", [("vtm-12.1_96x64_444.bin", (64, 96)), ("vtm-12.1_93x61_444.bin", (61, 93)),
                                        ("vtm-12.1_94x62_420.bin", (62, 94))])
def test_vtm_bitstreams(name, size):
    assert vvc_picture_size((VVC / name).read_bytes()) == size


@pytest.mark.skipif(shutil.which("x265") is None, reason="x265 not installed (apt-get install x265)")
@pytest.mark.parametrize("width, height, csp", [(96, 64, "i444"), (93, 67, "i444"), (100, 66, "i420"),
                                                (130, 70, "i420")])
def test_x265_bitstreams(tmp_path, width, height, csp):
    chroma = 3 if csp == "i444" else 1.5
    pixels = np.random.default_rng(0).integers(0, 256, int(width * height * chroma), dtype=np.uint8)
    (tmp_path / "in.yuv").write_bytes(pixels.tobytes())
    subprocess.run(["x265", "--input", str(tmp_path / "in.yuv"), "--input-res", f"{width}x{height}", "--input-csp",
                    csp, "--fps", "1", "--frames", "1", "--qp", "40", "--log-level", "error", "--output",
                    str(tmp_path / "out.hevc")], check=True, capture_output=True)
    assert hevc_picture_size((tmp_path / "out.hevc").read_bytes()) == (height, width)


def test_emulation_prevention_and_nal_splitting():
    assert rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x03") == b"\x00\x00\x01\x00\x00\x03"
    assert nal_units(b"\x00\x00\x00\x01AB\x00\x00\x01CD") == [b"AB", b"CD"]


def test_streams_without_an_sps_are_refused():
    with pytest.raises(BitstreamSyntaxError, match="no H.266 sequence parameter set"):
        vvc_picture_size(b"garbage")
    with pytest.raises(BitstreamSyntaxError, match="ends too early"):
        hevc_picture_size(b"\x00\x00\x01\x42\x01\x01")  # an SPS NAL header and nothing else
