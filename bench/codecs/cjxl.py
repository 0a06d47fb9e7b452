"""JPEG XL with libjxl's command-line tools (cjxl / djxl).

cjxl reads the RGB PNG and codes it with its lossy VarDCT mode at a butteraugli distance (the rate point: larger
is lower rate; 1.0 is "visually lossless"); djxl writes 8-bit PNG. bpp counts the whole ``.jxl`` file.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import SubprocessCodec, Tool


class CJXL(SubprocessCodec):
    """JPEG XL (cjxl / djxl).

    Args:
        effort: cjxl's effort (1 fastest .. 9).
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "cjxl"
    display_name = "JPEG XL (cjxl)"
    description: ClassVar[str] = "JPEG XL (libjxl cjxl / djxl command line)"
    tools = (
        Tool("encoder", "cjxl", ("--version",), r"cjxl (v\S+)", "install it: apt-get install libjxl-tools"),
        Tool("decoder", "djxl", ("--version",), r"djxl (v\S+)", "install it: apt-get install libjxl-tools"),
    )
    default_points: ClassVar[tuple[float, ...]] = (25, 15, 8, 4, 2.5, 1.5, 1, 0.6)
    point_range = (0.1, 25)
    point_unit = "butteraugli distances"
    integer_points = False
    option_choices = {"effort": range(1, 10)}
    output_name: ClassVar[str] = "image.jxl"

    def __init__(self, effort: int = 7, encoder: str | None = None, decoder: str | None = None,
                 timeout: float | None = None):
        super().__init__(encoder, decoder, timeout, effort=effort)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        return [input, output, "--effort", str(self.options["effort"]), "--num_threads", "1", "--quiet"]

    def point_arguments(self, point: float) -> list[str]:
        return ["--distance", f"{point:g}"]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return [bitstream, output, "--num_threads", "1", "--quiet"]
