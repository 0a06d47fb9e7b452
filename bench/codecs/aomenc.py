"""AV1 intra with libaom's command-line encoder and decoder (aomenc / aomdec).

The image goes in as Y4M (Y'CbCr converted here, :mod:`bench.codecs.yuv`: full range, BT.709 by default, 4:4:4 by
default, which AV1's High profile codes), is coded as one key frame in constant-quality mode (``--end-usage=q``,
rate point = ``--cq-level`` from 63, lowest rate, down to 0) into a low-overhead OBU stream (``--obu``: no IVF
container; every byte counts), and comes back from aomdec as Y4M, converted back here.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.subprocess_codec import Tool, YUVSubprocessCodec


class AOMEnc(YUVSubprocessCodec):
    """AV1 intra (aomenc / aomdec).

    Args:
        chroma, bit_depth, matrix: the Y'CbCr the image is coded in.
        cpu_used: aomenc's speed (0 slowest and best .. 9); CompressAI's anchor used 0.
        tune: ``psnr`` or ``ssim``.
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    name: ClassVar[str] = "aomenc"
    display_name = "AV1 (aomenc)"
    description: ClassVar[str] = "AV1 intra (libaom aomenc / aomdec command line)"
    tools = (
        Tool("encoder", "aomenc", ("--help",), r"AV1 Encoder (v\S+)", "install it: apt-get install aom-tools"),
        Tool("decoder", "aomdec", ("--help",), r"AV1 Decoder (v\S+)", "install it: apt-get install aom-tools"),
    )
    default_points: ClassVar[tuple[float, ...]] = (60, 52, 44, 36, 28, 20, 12, 4)
    point_range = (0, 63)
    point_unit = "cq-levels"
    option_choices = {"cpu_used": range(0, 10), "tune": ("psnr", "ssim"), "bit_depth": (8, 10, 12)}
    input_name: ClassVar[str] = "input.y4m"
    output_name: ClassVar[str] = "image.obu"
    decoded_name: ClassVar[str] = "decoded.y4m"

    def __init__(self, chroma: str = "4:4:4", bit_depth: int = 8, matrix: str = "bt709", cpu_used: int = 4,
                 tune: str = "psnr", encoder: str | None = None, decoder: str | None = None,
                 timeout: float | None = None):
        super().__init__(chroma, bit_depth, matrix, cpu_used=cpu_used, tune=tune, encoder=encoder, decoder=decoder,
                         timeout=timeout)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        depth = str(self.yuv.bit_depth)
        return [
            "--quiet", "--limit=1", "--passes=1", "--end-usage=q", f"--cpu-used={self.options['cpu_used']}",
            f"--tune={self.options['tune']}", "--threads=1", f"--bit-depth={depth}", f"--input-bit-depth={depth}",
            "--obu", "-o", output, input,
        ]

    def point_arguments(self, point: float) -> list[str]:
        return [f"--cq-level={point}"]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-o", output, bitstream]
