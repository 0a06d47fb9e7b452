"""VVC intra with the VTM reference software (EncoderApp / DecoderApp), the anchor learned-codec papers report.

VTM is not packaged: build it from the VVCSoftware_VTM repository with ``scripts/build_vtm.sh SRC_DIR`` and give
the binaries by path (options ``encoder``/``decoder``, or ``MPA_BENCH_VTM_ENCODER``/``MPA_BENCH_VTM_DECODER``).
The conventions of the published anchors are the defaults, each an option recorded in the run's config:

- the intra configuration ``cfg/encoder_intra_vtm.cfg`` of the same checkout (found next to the encoder's
  ``bin/``, or option ``config``, or ``MPA_BENCH_VTM_CONFIG``); its sha256 keys the results;
- input: 8-bit Y'CbCr 4:4:4 from RGB with BT.709 (CompressAI's convention), full range, converted here
  (:mod:`bench.codecs.yuv`, rounded, not truncated as CompressAI's wrapper does); ``matrix``, ``chroma`` and
  ``bit_depth`` change it;
- ``InternalBitDepth`` 10; QPs 12..47 (the rate point, ``-q``); ``ConformanceWindowMode=1`` (sizes that are not a
  multiple of the minimum CU are padded by the encoder and cropped by the decoder);
- decoding: DecoderApp ``-d 8`` (8-bit output), converted back to RGB here. The picture size is read from the
  bitstream's SPS (:mod:`bench.codecs.nal`), since DecoderApp writes raw planes without a header.

PSNR is measured against the original RGB image (not against the Y'CbCr-converted one as CompressAI's 2020 VTM
wrapper did, see results/published/PROVENANCE.md), so colour conversion losses count.
"""

from __future__ import annotations

from typing import ClassVar

from bench.codecs.nal import vvc_picture_size
from bench.codecs.reference_software import ReferenceSoftwareCodec
from bench.codecs.subprocess_codec import Tool

BUILD_HINT = ("VTM is not packaged: build it with scripts/build_vtm.sh SRC_DIR (a VVCSoftware_VTM checkout, tag "
              "VTM-12.1 or later) and pass encoder=SRC_DIR/bin/EncoderAppStatic, decoder=SRC_DIR/bin/DecoderAppStatic")


class VTM(ReferenceSoftwareCodec):
    """VVC intra, VTM reference software (see the module docstring for the conventions)."""

    name: ClassVar[str] = "vtm"
    display_name = "VTM"
    description: ClassVar[str] = "VVC intra (VTM reference software, encoder_intra_vtm.cfg, 4:4:4, 10-bit internal)"
    tools = (
        Tool("encoder", "EncoderAppStatic", ("--help",), r"VTM Encoder Version (\S+)", BUILD_HINT),
        Tool("decoder", "DecoderAppStatic", ("--help",), r"VTM Decoder Version (\S+)", BUILD_HINT),
    )
    default_config: ClassVar[str] = "encoder_intra_vtm.cfg"
    point_range = (0, 63)
    point_unit = "QPs"

    def picture_size(self, bitstream: bytes) -> tuple[int, int]:
        return vvc_picture_size(bitstream)
