"""Command-line codecs against independent decoders: their files read by the Pillow plugins (other builds of the
same format libraries) give the images their own decoder binaries give."""

import io

import numpy as np
import pytest
from PIL import Image

from bench.codecs import codecs
from bench.errors import BenchError
from bench.tensors import tensor_to_uint8, uint8_to_tensor

# codec -> (Pillow plugin to import first, largest difference in 8-bit levels). libjxl 0.7 (djxl) and the plugin's
# newer libjxl round their float XYB->RGB conversion differently by one level.
PILLOW_READERS = {"cwebp": (None, 0), "opj_compress": (None, 0), "avifenc": (None, 0), "cjxl": ("pillow_jxl", 1)}


@pytest.mark.parametrize("name", sorted(PILLOW_READERS))
def test_files_decode_the_same_with_pillow(name, kodak_crop):
    plugin, tolerance = PILLOW_READERS[name]
    if plugin:
        __import__(plugin)
    try:
        codec = codecs.get(name)()
    except BenchError as error:
        pytest.skip(str(error))
    points = codec.rate_points()
    bitstream = codec.encode(uint8_to_tensor(kodak_crop), points[len(points) // 2])
    ours = tensor_to_uint8(codec.decode(bitstream)).astype(int)
    with Image.open(io.BytesIO(bitstream.data)) as image:
        pillow = np.asarray(image.convert("RGB")).astype(int)
    assert np.abs(ours - pillow).max() <= tolerance
