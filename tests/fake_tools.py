"""Fake command-line codec binaries for the tests: small executables that honour a real tool's command-line contract.

``install(folder, name, kind)`` writes an executable ``folder/name`` that runs this file as ``kind``. Kinds:

- ``copy-encoder`` / ``copy-decoder``: cwebp / dwebp contract (``... INPUT -o OUTPUT`` / ``INPUT -ppm -o OUTPUT``),
  copying the file (a lossless "codec" for RGB PNG input).
- ``vvc-encoder`` / ``hevc-encoder``: the VTM EncoderApp / HM TAppEncoder contract (``-c CFG -i YUV -b BIN -wdt W
  -hgt H --InputChromaFormat=C --InputBitDepth=B -q QP``): writes an Annex-B stream holding a sequence parameter set
  of the coded size (padded to a multiple of 8, with the conformance window, as the reference encoders do) and the
  raw input planes; ``vvc-decoder`` / ``hevc-decoder`` (``-b BIN -o YUV -d D``) write the planes back.
- ``bpg-encoder`` / ``bpg-decoder``: bpgenc ``-o OUTPUT ... INPUT`` / bpgdec ``-o OUTPUT INPUT``, copying.

Every fake appends its arguments, one JSON list per line, to ``$FAKE_TOOLS_LOG`` when that is set.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path


def install(folder: Path, name: str, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {kind} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def install_script(folder: Path, name: str, body: str) -> Path:
    """An executable shell script ``folder/name`` with ``body`` (for exit codes, hangs and garbage)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# --- bit writing, for the parameter sets ----------------------------------------------------------------------


class _Bits:
    def __init__(self):
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def align(self) -> None:
        while len(self.bits) % 8:
            self.bits.append(0)

    def rbsp(self) -> bytes:
        self.u(1, 1)  # rbsp_stop_one_bit
        self.align()
        return bytes(int("".join(map(str, self.bits[i : i + 8])), 2) for i in range(0, len(self.bits), 8))


def _emulation_prevention(payload: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in payload:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps(kind: str, chroma_format_idc: int, height: int, width: int) -> bytes:
    padded_w, padded_h = -(-width // 8) * 8, -(-height // 8) * 8
    unit_w, unit_h = (2, 2) if chroma_format_idc == 1 else (1, 1)
    bits = _Bits()
    if kind == "vvc":
        bits.u(8, 0)  # sps_seq_parameter_set_id, sps_video_parameter_set_id
        bits.u(3, 0)  # sps_max_sublayers_minus1
        bits.u(2, chroma_format_idc)
        bits.u(2, 1)  # sps_log2_ctu_size_minus5
        bits.u(1, 1)  # sps_ptl_dpb_hrd_params_present_flag
        bits.u(7, 2)  # general_profile_idc (Main 12 4:4:4 would be 35; any value parses)
        bits.u(1, 0)
        bits.u(8, 51)  # general_level_idc
        bits.u(2, 0)
        bits.u(1, 0)  # gci_present_flag
        bits.align()
        bits.align()
        bits.u(8, 0)  # ptl_num_sub_profiles
        bits.u(1, 0)  # sps_gdr_enabled_flag
        bits.u(1, 0)  # sps_ref_pic_resampling_enabled_flag
        header = bytes([0, (15 << 3) | 1])
    else:
        bits.u(4, 0)  # sps_video_parameter_set_id
        bits.u(3, 0)  # sps_max_sub_layers_minus1
        bits.u(1, 1)  # sps_temporal_id_nesting_flag
        bits.u(8, 4)  # general_profile_space, tier, general_profile_idc (RExt)
        bits.u(32, 1 << 27)  # general_profile_compatibility_flag[4]
        bits.u(48, 0)  # source flags and constraints: long zero runs, so emulation prevention is needed
        bits.u(8, 153)  # general_level_idc
        bits.ue(0)  # sps_seq_parameter_set_id
        bits.ue(chroma_format_idc)
        if chroma_format_idc == 3:
            bits.u(1, 0)
        header = bytes([33 << 1, 1])
    bits.ue(padded_w)
    bits.ue(padded_h)
    window = (padded_w, padded_h) != (width, height)
    bits.u(1, int(window))
    if window:
        for offset in (0, (padded_w - width) // unit_w, 0, (padded_h - height) // unit_h):
            bits.ue(offset)
    return b"\x00\x00\x00\x01" + header + _emulation_prevention(bits.rbsp())


def _options(args: list[str]) -> dict[str, str]:
    options, position = {}, 0
    while position < len(args):
        arg = args[position]
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            options[key] = value
            position += 1
        else:
            options[arg.lstrip("-")] = args[position + 1]
            position += 2
    return options


def _reference_encoder(kind: str, args: list[str]) -> None:
    options = _options(args)
    assert Path(options["c"]).is_file(), "the configuration file must be in the work folder"
    width, height, chroma = int(options["wdt"]), int(options["hgt"]), options["InputChromaFormat"]
    depth = int(options["InputBitDepth"])
    raw = Path(options["i"]).read_bytes()
    samples = width * height * (3 if chroma == "444" else 1.5) * (1 if depth == 8 else 2)
    assert len(raw) == samples, f"input holds {len(raw)} bytes, {samples} expected"
    meta = json.dumps({"depth": depth}).encode()
    sps = _sps(kind, 3 if chroma == "444" else 1, height, width)
    Path(options["b"]).write_bytes(sps + b"\x00\x00\x01RAW" + len(meta).to_bytes(2, "big") + meta + raw)


def _reference_decoder(args: list[str]) -> None:
    options = _options(args)
    data = Path(options["b"]).read_bytes()
    start = data.index(b"\x00\x00\x01RAW") + 6
    length = int.from_bytes(data[start : start + 2], "big")
    depth, raw = json.loads(data[start + 2 : start + 2 + length])["depth"], data[start + 2 + length :]
    assert depth == int(options["d"]) == 8, "the fake keeps 8-bit samples only"
    Path(options["o"]).write_bytes(raw)


def main(kind: str, args: list[str]) -> None:
    log = os.environ.get("FAKE_TOOLS_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps([kind, *args]) + "\n")
    if kind == "copy-encoder":
        shutil.copyfile(next(a for a in args if a.endswith(".png")), args[args.index("-o") + 1])
    elif kind == "copy-decoder":
        shutil.copyfile(next(a for a in args if not a.startswith("-")), args[args.index("-o") + 1])
    elif kind in ("vvc-encoder", "hevc-encoder"):
        _reference_encoder(kind.split("-")[0], args)
    elif kind in ("vvc-decoder", "hevc-decoder"):
        _reference_decoder(args)
    elif kind in ("bpg-encoder", "bpg-decoder"):
        shutil.copyfile(args[-1], args[args.index("-o") + 1])
    else:
        raise SystemExit(f"unknown fake {kind}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
