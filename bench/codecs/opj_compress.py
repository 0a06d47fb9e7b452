"""JPEG 2000 with OpenJPEG's command-line tools (opj_compress / opj_decompress).

opj_compress reads a binary PPM and codes it with the irreversible 9/7 wavelet (``-I``) and its default RGB->YCC
colour transform, in one quality layer at a target rate: the rate point is bits per pixel, passed as the
compression ratio ``-r 24/bpp`` of the 24-bit source. The output is the raw codestream (``.j2k``, no JP2 boxes,
every byte counted); opj_decompress writes PPM.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bench.codecs.subprocess_codec import SubprocessCodec, Tool
from bench.codecs.yuv import write_ppm


class OPJCompress(SubprocessCodec):
    """JPEG 2000 (opj_compress / opj_decompress), 9/7 wavelet, colour transform, one layer at a target bpp.

    Args:
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "opj_compress"
    display_name = "JPEG2000 (opj_compress)"
    description: ClassVar[str] = "JPEG 2000 (OpenJPEG opj_compress / opj_decompress command line, 9/7, MCT)"
    tools = (
        Tool("encoder", "opj_compress", ("-h",), r"openjp2 library (v\S+?)\.?$",
             "install it: apt-get install libopenjp2-tools"),
        Tool("decoder", "opj_decompress", ("-h",), r"openjp2 library (v\S+?)\.?$",
             "install it: apt-get install libopenjp2-tools"),
    )
    default_points: ClassVar[tuple[float, ...]] = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0)
    point_range = (0.001, 23.9)
    point_unit = "bits per pixel"
    integer_points = False
    input_name: ClassVar[str] = "input.ppm"
    output_name: ClassVar[str] = "image.j2k"
    decoded_name: ClassVar[str] = "decoded.ppm"

    def __init__(self, encoder: str | None = None, decoder: str | None = None, timeout: float | None = None):
        super().__init__(encoder, decoder, timeout)

    def write_input(self, rgb: np.ndarray, path) -> None:
        path.write_bytes(write_ppm(rgb))

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        return ["-i", input, "-o", output, "-I"]

    def point_arguments(self, point: float) -> list[str]:
        return ["-r", f"{24.0 / point:.6g}"]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-quiet", "-i", bitstream, "-o", output]
