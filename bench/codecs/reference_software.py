"""The JVET / JCT-VC reference software (VTM for VVC, HM for HEVC) as command-line codecs: what they share.

Both take a configuration file, raw planar Y'CbCr (``-i``, ``-wdt``, ``-hgt``, ``--InputChromaFormat``,
``--InputBitDepth``), a QP (``-q``) and write a raw Annex-B bitstream (``-b``; ``-o ""``: no reconstruction file);
both decoders write raw planar
Y'CbCr (``-o``) at an output bit depth (``-d``), cropped to the conformance window, so the picture size is read from
the bitstream's SPS (:mod:`bench.codecs.nal`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.codecs.subprocess_codec import CodecUnavailable, YUVSubprocessCodec, environment_variable
from bench.codecs.yuv import YUVFormat

CONFIG_NAME = "encoder.cfg"  # the configuration file's name in the work folder


class ReferenceSoftwareCodec(YUVSubprocessCodec):
    """The JVET/JCT-VC reference encoders (VTM, HM): a cfg file, raw YUV in, a raw bitstream out, raw YUV back.

    Args:
        config: the encoder configuration file (default: ``cfg/<default_config>`` beside the encoder's ``bin/``),
            copied into the work folder; its name and sha256 are in the codec's config.
        chroma, bit_depth, matrix: the Y'CbCr written for the encoder (``InputBitDepth`` = ``bit_depth``).
        internal_bit_depth: ``InternalBitDepth``.
        output_bit_depth: the decoder's output bit depth (``-d``).
        encoder, decoder, timeout: see :class:`bench.codecs.subprocess_codec.SubprocessCodec`.
    """

    default_config: ClassVar[str]
    default_points: ClassVar[tuple[float, ...]] = (47, 42, 37, 32, 27, 22, 17, 12)
    default_timeout: ClassVar[float] = 3600.0
    option_choices = {"internal_bit_depth": range(8, 17), "output_bit_depth": range(8, 17)}
    input_name: ClassVar[str] = "input.yuv"
    output_name: ClassVar[str] = "image.bin"
    decoded_name: ClassVar[str] = "decoded.yuv"

    def __init__(self, config: str | None = None, chroma: str = "4:4:4", bit_depth: int = 8, matrix: str = "bt709",
                 internal_bit_depth: int = 10, output_bit_depth: int = 8, encoder: str | None = None,
                 decoder: str | None = None, timeout: float | None = None):
        super().__init__(chroma, bit_depth, matrix, internal_bit_depth=internal_bit_depth,
                         output_bit_depth=output_bit_depth, encoder=encoder, decoder=decoder, timeout=timeout)
        config_file = self._find_config(config)
        self.config_bytes = config_file.read_bytes()
        self.options["config"] = {"name": config_file.name, "sha256": hashlib.sha256(self.config_bytes).hexdigest()}

    def _find_config(self, given: str | None) -> Path:
        variable = environment_variable(self.name, "config")
        value = given or os.environ.get(variable)
        path = Path(value).expanduser() if value else self.binaries["encoder"].resolve().parent.parent / "cfg" / \
            self.default_config
        if not path.is_file():
            raise CodecUnavailable(f"{self.name}: encoder configuration {path} not found; pass config=PATH (the "
                                   f"{self.default_config} of the same checkout) or set {variable}")
        return path

    def write_input(self, rgb: np.ndarray, path: Path) -> None:
        super().write_input(rgb, path)
        (path.parent / CONFIG_NAME).write_bytes(self.config_bytes)

    @property
    def decoded_format(self) -> YUVFormat:
        return YUVFormat(self.yuv.chroma, self.options["output_bit_depth"], self.yuv.matrix)

    def encoder_arguments(self, input: str, output: str, height: int, width: int) -> list[str]:
        chroma = self.yuv.chroma
        return [
            "-c", CONFIG_NAME, "-i", input, "-b", output, "-o", "", "-wdt", str(width), "-hgt", str(height),
            "-fr", "1", "-f", "1", f"--InputChromaFormat={chroma}", f"--ChromaFormatIDC={chroma}",
            f"--InputBitDepth={self.yuv.bit_depth}", f"--InternalBitDepth={self.options['internal_bit_depth']}",
            "--ConformanceWindowMode=1",
        ]

    def point_arguments(self, point: float) -> list[str]:
        return ["-q", str(point)]

    def decoder_arguments(self, bitstream: str, output: str) -> list[str]:
        return ["-b", bitstream, "-o", output, "-d", str(self.options["output_bit_depth"])]
