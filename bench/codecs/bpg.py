"""BPG (HEVC intra in Fabrice Bellard's BPG format) with bpgenc / bpgdec, given by path.

libbpg is not packaged by Debian: build it from https://bellard.org/bpg/ and give the binaries by path (options
``encoder``/``decoder``, or ``MPA_BENCH_BPG_ENCODER``/``MPA_BENCH_BPG_DECODER``), or put them on ``PATH``. Defaults
as CompressAI's BPG anchor (``bpg_444_x265_ycbcr``): 4:4:4 (``-f 444``), the x265 encoder (``-e x265``), Y'CbCr
(``-c ycbcr``, bpgenc's own BT.601 full-range conversion), 8 bits (``-b 8``); the rate point is the QP (``-q``,
0..51). bpgdec writes PNG.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import SubprocessCodec, Tool

BUILD_HINT = ("libbpg is not packaged: build bpgenc/bpgdec from https://bellard.org/bpg/ and pass encoder=PATH, "
              "decoder=PATH")


class BPG(SubprocessCodec):
    """BPG (bpgenc / bpgdec).

    Args:
        chroma: ``4:4:4`` or ``4:2:0``.
        backend: bpgenc's HEVC encoder, ``x265`` or ``jctvc``.
        colour_space: ``ycbcr`` or ``rgb`` (bpgenc ``-c``).
        bit_depth: 8 or 10 (bpgenc ``-b``).
        level: bpgenc's compression level ``-m`` (1 fastest .. 9 slowest; bpgenc's default 8).
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "bpg"
    display_name = "BPG"
    description: ClassVar[str] = "BPG (bpgenc / bpgdec, HEVC intra by x265, 4:4:4)"
    tools = (
        Tool("encoder", "bpgenc", ("-h",), r"BPG Image Encoder version (\S+)", BUILD_HINT),
        Tool("decoder", "bpgdec", ("-h",), r"BPG Image Decoder version (\S+)", BUILD_HINT),
    )
    default_points: ClassVar[tuple[float, ...]] = (47, 42, 37, 32, 27, 22, 17, 12)
    point_range = (0, 51)
    point_unit = "QPs"
    option_choices = {"chroma": ("4:4:4", "4:2:0"), "backend": ("x265", "jctvc"), "colour_space": ("ycbcr", "rgb"),
               "bit_depth": (8, 10), "level": range(1, 10)}
    output_name: ClassVar[str] = "image.bpg"
    input_last: ClassVar[bool] = True  # bpgenc's getopt stops at the file name outside GNU libc

    def __init__(self, chroma: str = "4:4:4", backend: str = "x265", colour_space: str = "ycbcr", bit_depth: int = 8,
                 level: int = 8, encoder: str | None = None, decoder: str | None = None,
                 timeout: float | None = None):
        super().__init__(encoder, decoder, timeout, chroma=chroma, backend=backend, colour_space=colour_space,
                         bit_depth=bit_depth, level=level)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        options = self.options
        return ["-f", options["chroma"].replace(":", ""), "-e", options["backend"], "-c", options["colour_space"],
                "-b", str(options["bit_depth"]), "-m", str(options["level"]), "-o", output]

    def point_arguments(self, point: float) -> list[str]:
        return ["-q", str(point)]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-o", output, bitstream]
