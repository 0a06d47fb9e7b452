"""Lossy WebP with libwebp's command-line tools (cwebp / dwebp).

cwebp reads the RGB PNG (no metadata copied) at a quality 0..100 (the rate point); dwebp writes PPM.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import SubprocessCodec, Tool


class CWebP(SubprocessCodec):
    """WebP (cwebp / dwebp).

    Args:
        method: cwebp's ``-m`` (0 fastest .. 6 slowest and best; 4 as Pillow).
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "cwebp"
    display_name = "WebP (cwebp)"
    description: ClassVar[str] = "WebP (libwebp cwebp / dwebp command line)"
    tools = (
        Tool("encoder", "cwebp", ("-version",), r"^(\d\S*)", "install it: apt-get install webp"),
        Tool("decoder", "dwebp", ("-version",), r"^(\d\S*)", "install it: apt-get install webp"),
    )
    default_points: ClassVar[tuple[float, ...]] = (1, 10, 25, 50, 75, 90, 97)
    point_range = (0, 100)
    point_unit = "qualities"
    integer_points = False
    option_choices = {"method": range(0, 7)}
    output_name: ClassVar[str] = "image.webp"
    decoded_name: ClassVar[str] = "decoded.ppm"

    def __init__(self, method: int = 4, encoder: str | None = None, decoder: str | None = None,
                 timeout: float | None = None):
        super().__init__(encoder, decoder, timeout, method=method)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        return ["-quiet", "-m", str(self.options["method"]), "-metadata", "none", input, "-o", output]

    def point_arguments(self, point: float) -> list[str]:
        return ["-q", f"{point:g}"]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-quiet", bitstream, "-ppm", "-o", output]
