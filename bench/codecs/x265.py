"""HEVC intra with the x265 command-line encoder, decoded by ffmpeg's HEVC decoder.

x265 has no decoder and the HM/libde265 decoders are not packaged by Debian, so the bitstream (a raw Annex-B
``.hevc`` file, every byte counted) is decoded by ffmpeg (libavcodec's HEVC decoder, a conforming decoder written
independently of x265) to Y4M. The image goes in as raw planar Y'CbCr converted here (:mod:`bench.codecs.yuv`: full
range, BT.709 by default, 4:4:4 or 4:2:0, 8 or 10 bits) and comes back the same way; the stream signals that
conversion in its VUI. The rate point is the QP of the intra picture (``--qp`` with ``--ipratio 1``, so that x265
does not lower the I-picture QP by its default I/P ratio), from 51 (lowest rate) down to 0.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import Tool, YUVSubprocessCodec

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_COLORMATRIX = {"bt709": "bt709", "bt601": "smpte170m"}


class X265(YUVSubprocessCodec):
    """HEVC intra (x265), one picture per file.

    Args:
        chroma, bit_depth, matrix: the Y'CbCr the image is coded in (``4:4:4`` by default, as BPG).
        preset: x265's speed preset.
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "x265"
    display_name = "HEVC (x265)"
    description: ClassVar[str] = "HEVC intra (x265 command line; decoded by ffmpeg)"
    tools = (
        Tool("encoder", "x265", ("--version",), r"HEVC encoder version (\S+)", "install it: apt-get install x265"),
        Tool("decoder", "ffmpeg", ("-version",), r"ffmpeg version (\S+)", "install it: apt-get install ffmpeg"),
    )
    default_points: ClassVar[tuple[float, ...]] = (47, 42, 37, 32, 27, 22, 17, 12)
    point_range = (0, 51)
    point_unit = "QPs"
    option_choices = {"preset": PRESETS, "bit_depth": (8, 10, 12)}
    input_name: ClassVar[str] = "input.yuv"
    output_name: ClassVar[str] = "image.hevc"
    decoded_name: ClassVar[str] = "decoded.y4m"

    def __init__(self, chroma: str = "4:4:4", bit_depth: int = 8, matrix: str = "bt709", preset: str = "medium",
                 encoder: str | None = None, decoder: str | None = None, timeout: float | None = None):
        super().__init__(chroma, bit_depth, matrix, preset=preset, encoder=encoder, decoder=decoder, timeout=timeout)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        depth = str(self.yuv.bit_depth)
        return [
            "--input", input, "--input-res", f"{width}x{height}", "--input-csp", f"i{self.yuv.chroma}",
            "--input-depth", depth, "--output-depth", depth, "--fps", "1", "--frames", "1",
            "--preset", self.options["preset"], "--ipratio", "1", "--no-info", "--log-level", "error",
            "--range", "full", "--colormatrix", _COLORMATRIX[self.yuv.matrix], "--output", output,
        ]

    def point_arguments(self, point: float) -> list[str]:
        return ["--qp", str(point)]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-v", "error", "-nostdin", "-y", "-i", bitstream, "-f", "yuv4mpegpipe", "-strict", "-1", output]
