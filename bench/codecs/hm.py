"""HEVC intra with the HM reference software (TAppEncoder / TAppDecoder), CompressAI's HEVC anchor.

HM is not packaged: build it from the HM repository (https://vcgit.hhi.fraunhofer.de/jvet/HM, cmake, like VTM) and
give the binaries by path (options ``encoder``/``decoder``, or ``MPA_BENCH_HM_ENCODER``/``MPA_BENCH_HM_DECODER``).
Defaults as CompressAI's HM anchor: ``cfg/encoder_intra_main_rext.cfg`` (4:4:4 needs the RExt profiles), 8-bit
Y'CbCr 4:4:4 from RGB with BT.709 (full range, converted and rounded here), QPs 12..47, ``ConformanceWindowMode=1``,
8-bit decoder output; ``InternalBitDepth`` 10 as for VTM (an option).
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.nal import hevc_picture_size
from bench.codecs.reference_software import ReferenceSoftwareCodec
from bench.codecs.subprocess_codec import Tool

BUILD_HINT = ("HM is not packaged: build TAppEncoder/TAppDecoder from https://vcgit.hhi.fraunhofer.de/jvet/HM "
              "(cmake) and pass encoder=.../bin/TAppEncoderStatic, decoder=.../bin/TAppDecoderStatic")


class HM(ReferenceSoftwareCodec):
    """HEVC intra, HM reference software (see the module docstring for the conventions)."""

    name: ClassVar[str] = "hm"
    display_name = "HM"
    description: ClassVar[str] = "HEVC intra (HM reference software, encoder_intra_main_rext.cfg, 4:4:4)"
    tools = (
        Tool("encoder", "TAppEncoderStatic", ("--help",), r"HM software: Encoder Version \[(\S+?)\]", BUILD_HINT),
        Tool("decoder", "TAppDecoderStatic", ("--help",), r"HM software: Decoder Version \[(\S+?)\]", BUILD_HINT),
    )
    default_config: ClassVar[str] = "encoder_intra_main_rext.cfg"
    point_range = (0, 51)
    point_unit = "QPs"

    def picture_size(self, bitstream: bytes) -> tuple[int, int]:
        return hevc_picture_size(bitstream)
