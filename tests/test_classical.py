"""Classical codecs: decodes that agree with independent decoders, and the coding options in the files.

(Round trips through files, bpp and determinism of every codec are in tests/test_codecs.py, from the registry.)
"""

import shutil
import subprocess
import struct

import numpy as np
import pytest
from PIL import Image

from bench.codecs import codecs
from bench.codecs.classical import PillowCodec
from bench.tensors import tensor_to_uint8, uint8_to_tensor

CLASSICAL = [name for name in codecs.names() if issubclass(codecs.get(name), PillowCodec)]

# Debian's command-line decoders (other builds of the same formats' reference libraries), installed by .ci/run.
# JPEG XL's float pipeline may round differently across libjxl versions: one 8-bit level is allowed there.
INDEPENDENT_DECODERS = {
    "jpeg": (".jpg", ".ppm", lambda src, dst: ["djpeg", "-outfile", dst, src], 0),
    "webp": (".webp", ".ppm", lambda src, dst: ["dwebp", src, "-ppm", "-o", dst], 0),
    "avif": (".avif", ".png", lambda src, dst: ["avifdec", src, dst], 0),
    "jpegxl": (".jxl", ".png", lambda src, dst: ["djxl", src, dst], 1),
    "jpeg2000": (".jp2", ".ppm", lambda src, dst: ["opj_decompress", "-i", src, "-o", dst], 0),
    "hevc": (".heic", ".png", lambda src, dst: ["heif-convert", src, dst], 0),
}


def test_every_classical_codec_has_an_independent_decoder():
    assert sorted(INDEPENDENT_DECODERS) == sorted(CLASSICAL)


@pytest.fixture(scope="module", params=CLASSICAL)
def codec(request):
    return codecs.get(request.param)()


def test_decode_matches_independent_decoder(codec, kodak_crop, tmp_path):
    source_suffix, output_suffix, command, tolerance = INDEPENDENT_DECODERS[codec.name]
    tool = command("in", "out")[0]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed (.ci/run installs it from Debian's packages)")
    bitstream = codec.encode(uint8_to_tensor(kodak_crop), codec.rate_points()[2])
    source, output = tmp_path / f"in{source_suffix}", tmp_path / f"out{output_suffix}"
    source.write_bytes(bitstream.data)
    subprocess.run(command(str(source), str(output)), check=True, capture_output=True)
    with Image.open(output) as image:
        reference = np.asarray(image.convert("RGB")).astype(int)
    ours = tensor_to_uint8(codec.decode(bitstream)).astype(int)
    assert np.abs(ours - reference).max() <= tolerance


def test_rate_grows_with_the_rate_point_and_spans_the_range(codec, kodak_crop):
    x = uint8_to_tensor(kodak_crop)
    rates = [codec.encode(x, point).bpp for point in codec.rate_points()]
    assert len(rates) >= 6
    assert rates == sorted(rates)
    assert rates[0] < 0.35 and rates[-1] > 1.2


def _jpeg_sampling_factors(data: bytes) -> list[tuple[int, int]]:
    """Per-component (h, v) sampling factors read from the SOF0 marker."""
    start = data.index(b"\xff\xc0") + 4
    _, _, _, count = struct.unpack(">BHHB", data[start : start + 6])
    factors = data[start + 6 : start + 6 + 3 * count]
    return [(factors[3 * i + 1] >> 4, factors[3 * i + 1] & 15) for i in range(count)]


@pytest.mark.parametrize("subsampling, expected", [("4:2:0", [(2, 2), (1, 1), (1, 1)]),
                                                   ("4:4:4", [(1, 1), (1, 1), (1, 1)])])
def test_jpeg_chroma_subsampling_in_the_file(subsampling, expected, kodak_crop):
    data = codecs.get("jpeg")(subsampling=subsampling).encode(uint8_to_tensor(kodak_crop), 50).data
    assert _jpeg_sampling_factors(data) == expected


def test_jpeg2000_uses_the_irreversible_wavelet_and_colour_transform(kodak_crop):
    data = codecs.get("jpeg2000")().encode(uint8_to_tensor(kodak_crop), 0.5).data
    cod = data.index(b"\xff\x52")  # COD marker: Lcod(2) Scod(1) SGcod(4: order, layers(2), MCT) SPcod(...)
    mct = data[cod + 4 + 1 + 3]
    transformation = data[cod + 4 + 4 + 5 - 1 + 1]  # SPcod: levels, cb w, cb h, cb style, transformation
    assert mct == 1
    assert transformation == 0  # 0 = 9/7 irreversible, 1 = 5/3 reversible


def test_bad_subsampling_is_a_clear_error():
    with pytest.raises(Exception, match="subsampling must be one of"):
        codecs.get("jpeg")(subsampling="4:1:1")
