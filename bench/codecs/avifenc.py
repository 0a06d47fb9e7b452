"""AVIF with libavif's command-line tools (avifenc / avifdec, AV1 by libaom).

avifenc converts the RGB PNG to Y'CbCr itself (libavif's default: BT.601 matrix, full range) and writes an AVIF
file (every byte counts, container included); avifdec writes 8-bit RGB PNG. The rate point is the AV1 quantizer,
fixed by ``--min Q --max Q`` (0..63, 63 lowest rate): the avifenc of Debian 12 (0.11) has no ``-q`` quality option.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import SubprocessCodec, Tool


class AVIFEnc(SubprocessCodec):
    """AVIF (avifenc / avifdec).

    Args:
        chroma: ``4:4:4`` or ``4:2:0``.
        speed: avifenc's speed (0 slowest .. 10).
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "avifenc"
    display_name = "AVIF (AV1, avifenc)"
    description: ClassVar[str] = "AVIF (libavif avifenc / avifdec command line, aom)"
    tools = (
        Tool("encoder", "avifenc", ("--version",), r"Version: (\S+)", "install it: apt-get install libavif-bin"),
        Tool("decoder", "avifdec", ("--version",), r"Version: (\S+)", "install it: apt-get install libavif-bin"),
    )
    default_points: ClassVar[tuple[float, ...]] = (58, 50, 42, 34, 26, 18, 10)
    point_range = (0, 63)
    point_unit = "AV1 quantizers"
    option_choices = {"chroma": ("4:4:4", "4:2:0"), "speed": range(0, 11)}
    output_name: ClassVar[str] = "image.avif"

    def __init__(self, chroma: str = "4:4:4", speed: int = 6, encoder: str | None = None,
                 decoder: str | None = None, timeout: float | None = None):
        super().__init__(encoder, decoder, timeout, chroma=chroma, speed=speed)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        return ["--jobs", "1", "--codec", "aom", "--speed", str(self.options["speed"]),
                "--yuv", self.options["chroma"].replace(":", ""), "--depth", "8", input, output]

    def point_arguments(self, point: float) -> list[str]:
        return ["--min", str(point), "--max", str(point)]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["--jobs", "1", "--depth", "8", bitstream, output]
