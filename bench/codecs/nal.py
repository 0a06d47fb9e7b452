"""Picture size from the sequence parameter set of an H.265 (HEVC) or H.266 (VVC) Annex-B bitstream.

The reference decoders (HM's TAppDecoder, VTM's DecoderApp) write raw planar YUV without a header, so reading their
output needs the picture size, which the bitstream itself carries: the SPS's coded size minus its conformance
window (the cropped size the decoders write). Parsed from the syntax of H.265 (v8) 7.3.2.2 / 7.3.3 and H.266 (v2)
7.3.2.4 / 7.3.3.1 / 7.3.3.2, after removing emulation-prevention bytes (7.4.2).
"""

from __future__ import annotations

import re

from bench.errors import BenchError

HEVC_SPS = 33  # nal_unit_type of an SPS: H.265 Table 7-1
VVC_SPS = 15  # H.266 Table 5
_START_CODE = re.compile(b"\x00\x00\x01")
_CROP_UNITS = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}  # chroma_format_idc -> (SubWidthC, SubHeightC)


class BitstreamSyntaxError(BenchError):
    """A bitstream without a parsable sequence parameter set."""


class BitReader:
    """Reads u(n) and ue(v) fields (H.265/H.266 clause 9.2) from an RBSP, most significant bit first."""

    def __init__(self, data: bytes):
        self.data, self.position = data, 0

    def u(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            if self.position >= 8 * len(self.data):
                raise BitstreamSyntaxError("sequence parameter set ends too early")
            value = (value << 1) | (self.data[self.position // 8] >> (7 - self.position % 8)) & 1
            self.position += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamSyntaxError("invalid Exp-Golomb code in the sequence parameter set")
        return (1 << zeros) - 1 + self.u(zeros)

    def align(self) -> None:
        self.position = -(-self.position // 8) * 8


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B byte stream (start codes removed, trailing zero bytes kept)."""
    starts = [match.end() for match in _START_CODE.finditer(data)]
    return [data[start : end - 3] for start, end in zip(starts, starts[1:] + [len(data) + 3])]


def rbsp(nal: bytes) -> bytes:
    """Removes emulation-prevention bytes (``00 00 03`` -> ``00 00``)."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", nal)


def hevc_picture_size(data: bytes) -> tuple[int, int]:
    """(height, width) of an H.265 bitstream's first SPS, conformance window applied."""
    for nal in nal_units(data):
        if len(nal) > 2 and (nal[0] >> 1) & 0x3F == HEVC_SPS:
            bits = BitReader(rbsp(nal[2:]))
            bits.u(4)  # sps_video_parameter_set_id
            sub_layers = bits.u(3)  # sps_max_sub_layers_minus1
            bits.u(1)  # sps_temporal_id_nesting_flag
            _skip_hevc_profile_tier_level(bits, sub_layers)
            bits.ue()  # sps_seq_parameter_set_id
            chroma_format_idc = bits.ue()
            if chroma_format_idc == 3:
                bits.u(1)  # separate_colour_plane_flag
            return _cropped(bits, chroma_format_idc)
    raise BitstreamSyntaxError("no H.265 sequence parameter set in the bitstream")


def _skip_hevc_profile_tier_level(bits: BitReader, sub_layers: int) -> None:
    bits.u(8)  # general_profile_space, general_tier_flag, general_profile_idc
    bits.u(32)  # general_profile_compatibility_flag[32]
    bits.u(48)  # 4 source flags + 43 constraint bits + 1 (general_inbld_flag or reserved)
    bits.u(8)  # general_level_idc
    present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
    if sub_layers > 0:
        bits.u(2 * (8 - sub_layers))  # reserved_zero_2bits
    for profile, level in present:
        bits.u(88 * profile + 8 * level)


def vvc_picture_size(data: bytes) -> tuple[int, int]:
    """(height, width) of an H.266 bitstream's first SPS, conformance window applied."""
    for nal in nal_units(data):
        if len(nal) > 2 and nal[1] >> 3 == VVC_SPS:
            bits = BitReader(rbsp(nal[2:]))
            bits.u(8)  # sps_seq_parameter_set_id, sps_video_parameter_set_id
            sub_layers = bits.u(3)  # sps_max_sublayers_minus1
            chroma_format_idc = bits.u(2)
            bits.u(2)  # sps_log2_ctu_size_minus5
            if bits.u(1):  # sps_ptl_dpb_hrd_params_present_flag
                _skip_vvc_profile_tier_level(bits, sub_layers)
            bits.u(1)  # sps_gdr_enabled_flag
            if bits.u(1):  # sps_ref_pic_resampling_enabled_flag
                bits.u(1)  # sps_res_change_in_clvs_allowed_flag
            return _cropped(bits, chroma_format_idc)
    raise BitstreamSyntaxError("no H.266 sequence parameter set in the bitstream")


def _skip_vvc_profile_tier_level(bits: BitReader, sub_layers: int) -> None:
    bits.u(8)  # general_profile_idc, general_tier_flag
    bits.u(8)  # general_level_idc
    bits.u(2)  # ptl_frame_only_constraint_flag, ptl_multilayer_enabled_flag
    if bits.u(1):  # gci_present_flag
        bits.u(71)  # the general constraint flags and fields of H.266 7.3.3.2
        bits.u(bits.u(8))  # gci_num_additional_bits, then those bits
    bits.align()  # gci_alignment_zero_bit
    present = [bits.u(1) for _ in range(sub_layers)]
    bits.align()  # ptl_reserved_zero_bit
    bits.u(8 * sum(present))  # sublayer_level_idc
    bits.u(32 * bits.u(8))  # ptl_num_sub_profiles, general_sub_profile_idc


def _cropped(bits: BitReader, chroma_format_idc: int) -> tuple[int, int]:
    width, height = bits.ue(), bits.ue()
    if bits.u(1):  # conformance_window_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        unit_w, unit_h = _CROP_UNITS.get(chroma_format_idc, (1, 1))
        width -= unit_w * (left + right)
        height -= unit_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise BitstreamSyntaxError(f"sequence parameter set gives an invalid picture size {width}x{height}")
    return height, width
