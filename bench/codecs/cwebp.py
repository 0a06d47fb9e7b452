"""Lossy WebP with libwebp's command-line tools (cwebp / dwebp).

cwebp reads the RGB PNG (no metadata copied) at a quality 0..100 (the rate point); dwebp writes PPM.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import SubprocessCodec, Tool
from bench.errors import BenchError


class CWebP(SubprocessCodec):
    """WebP (cwebp / dwebp).

    Args:
        method: cwebp's ``-m`` (0 fastest .. 6 slowest and best; 4 as Pillow).
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "cwebp"
    description: ClassVar[str] = "WebP (libwebp cwebp / dwebp command line)"
    tools = (
        Tool("encoder", "cwebp", ("-version",), r"^(\d\S*)", "install it: apt-get install webp"),
        Tool("decoder", "dwebp", ("-version",), r"^(\d\S*)", "install it: apt-get install webp"),
    )
    default_points: ClassVar[tuple[float, ...]] = (1, 10, 25, 50, 75, 90, 97)
    output_name: ClassVar[str] = "image.webp"
    decoded_name: ClassVar[str] = "decoded.ppm"

    def __init__(self, method: int = 4, encoder: str | None = None, decoder: str | None = None,
                 timeout: float | None = None):
        if not isinstance(method, int) or not 0 <= method <= 6:
            raise BenchError(f"cwebp method must be an integer 0..6, got {method!r}")
        super().__init__(encoder, decoder, timeout, method=method)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        return ["-quiet", "-m", str(self.options["method"]), "-metadata", "none", input, "-o", output]

    def point_arguments(self, point: float) -> list[str]:
        if not 0 <= point <= 100:
            raise BenchError(f"cwebp rate points are qualities 0..100, got {point:g}")
        return ["-q", f"{point:g}"]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-quiet", bitstream, "-ppm", "-o", output]
