"""RGB <-> Y'CbCr conversion and the raw file formats command-line codecs read and write (planar YUV, Y4M, PPM).

Conversion (ITU-T H.273, full range, ``VideoFullRangeFlag = 1``), for 8-bit R, G, B in 0..255 and a bit depth n:

    E_R, E_G, E_B = R / 255, G / 255, B / 255
    E_Y  = K_R * E_R + (1 - K_R - K_B) * E_G + K_B * E_B
    E_Cb = (E_B - E_Y) / (2 * (1 - K_B))          in [-0.5, 0.5]
    E_Cr = (E_R - E_Y) / (2 * (1 - K_R))
    Y  = clip(round((2^n - 1) * E_Y), 0, 2^n - 1)
    Cb = clip(round((2^n - 1) * E_Cb + 2^(n-1)), 0, 2^n - 1)        (Cr likewise)

with ``round(v) = floor(v + 0.5)`` (H.273's Round for the non-negative values that occur), in float64.
BT.601 (H.273 MatrixCoefficients 5/6): K_R = 0.299, K_B = 0.114; BT.709 (MatrixCoefficients 1): K_R = 0.2126,
K_B = 0.0722. The inverse dequantises (``E_Y = Y / (2^n - 1)``, ``E_Cb = (Cb - 2^(n-1)) / (2^n - 1)``), inverts the
matrix exactly (R = Y + 2 (1 - K_R) Cr, B = Y + 2 (1 - K_B) Cb, G = (Y - K_R R - K_B B) / (1 - K_R - K_B)) and
rounds to 8 bits the same way, clipping to 0..255. 8-bit 4:4:4 at full range loses up to about one 8-bit level per
channel in a round trip; 10-bit 4:4:4 round-trips every 8-bit colour exactly.

4:2:0 (chroma sited between the luma samples, as JPEG): each chroma sample is the mean of its 2x2 luma-grid block,
rounded as above (odd sizes are refused: H.264/5/6 crop in whole chroma samples, so an odd-sized picture cannot be
described by the bitstream). Upsampling is the separable linear interpolation that matches that siting: each output
sample is 3/4 of the nearest chroma sample plus 1/4 of the next one (edges replicated).

Files: planar Y, Cb, Cr; 8-bit samples one byte each, 9- to 16-bit samples two bytes little-endian (what x265,
VTM, HM and ffmpeg's ``yuv420p10le`` read and write). Y4M (YUV4MPEG2) is the same planes after a text header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError

MATRICES: dict[str, tuple[float, float]] = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
CHROMA_FORMATS = ("444", "420")


class RawImageError(BenchError):
    """Bytes that are not the raw image they should be (wrong size, bad header)."""


@dataclass(frozen=True)
class YUVFormat:
    """How an RGB image is written as Y'CbCr.

    Attributes:
        chroma: ``444`` or ``420``.
        bit_depth: 8 to 16.
        matrix: ``bt601`` or ``bt709`` (full range).
    """

    chroma: str = "444"
    bit_depth: int = 8
    matrix: str = "bt709"

    def __post_init__(self) -> None:
        if self.chroma not in CHROMA_FORMATS:
            raise BenchError(f"chroma must be one of {', '.join(CHROMA_FORMATS)} (written 444 or 4:4:4), "
                             f"got {self.chroma!r}")
        if not isinstance(self.bit_depth, int) or not 8 <= self.bit_depth <= 16:
            raise BenchError(f"bit_depth must be an integer from 8 to 16, got {self.bit_depth!r}")
        if self.matrix not in MATRICES:
            raise BenchError(f"matrix must be one of {', '.join(MATRICES)}, got {self.matrix!r}")

    @classmethod
    def of(cls, chroma: str, bit_depth: int, matrix: str) -> "YUVFormat":
        """Accepts ``4:4:4`` and ``444`` spellings."""
        return cls(str(chroma).replace(":", ""), bit_depth, matrix)

    @property
    def sample_bytes(self) -> int:
        return 1 if self.bit_depth == 8 else 2

    def chroma_size(self, height: int, width: int) -> tuple[int, int]:
        return (height, width) if self.chroma == "444" else (height // 2, width // 2)

    def frame_bytes(self, height: int, width: int) -> int:
        chroma_h, chroma_w = self.chroma_size(height, width)
        return (height * width + 2 * chroma_h * chroma_w) * self.sample_bytes


def _round(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5)


def rgb_to_planes(rgb: np.ndarray, fmt: YUVFormat) -> list[np.ndarray]:
    """(H, W, 3) uint8 RGB -> [Y, Cb, Cr] uint16 planes (chroma subsampled for 4:2:0)."""
    height, width = rgb.shape[:2]
    if fmt.chroma == "420" and (height % 2 or width % 2):
        raise BenchError(f"4:2:0 needs an even width and height, this image is {width}x{height}; use chroma 4:4:4")
    k_r, k_b = MATRICES[fmt.matrix]
    e = rgb.astype(np.float64) / 255.0
    e_y = k_r * e[..., 0] + (1.0 - k_r - k_b) * e[..., 1] + k_b * e[..., 2]
    e_cb = (e[..., 2] - e_y) / (2.0 * (1.0 - k_b))
    e_cr = (e[..., 0] - e_y) / (2.0 * (1.0 - k_r))
    scale, offset = 2**fmt.bit_depth - 1, 2 ** (fmt.bit_depth - 1)
    if fmt.chroma == "420":
        e_cb, e_cr = (_block_mean(plane) for plane in (e_cb, e_cr))
    planes = [_round(scale * e_y), _round(scale * e_cb + offset), _round(scale * e_cr + offset)]
    return [np.clip(plane, 0, scale).astype(np.uint16) for plane in planes]


def planes_to_rgb(planes: list[np.ndarray], fmt: YUVFormat) -> np.ndarray:
    """[Y, Cb, Cr] planes -> (H, W, 3) uint8 RGB (chroma upsampled for 4:2:0)."""
    k_r, k_b = MATRICES[fmt.matrix]
    scale, offset = 2**fmt.bit_depth - 1, 2 ** (fmt.bit_depth - 1)
    e_y = planes[0].astype(np.float64) / scale
    e_cb, e_cr = ((plane.astype(np.float64) - offset) / scale for plane in planes[1:])
    if fmt.chroma == "420":
        e_cb, e_cr = (_upsample(plane) for plane in (e_cb, e_cr))
    e_r = e_y + 2.0 * (1.0 - k_r) * e_cr
    e_b = e_y + 2.0 * (1.0 - k_b) * e_cb
    e_g = (e_y - k_r * e_r - k_b * e_b) / (1.0 - k_r - k_b)
    rgb = np.stack([e_r, e_g, e_b], axis=-1)
    return np.clip(_round(255.0 * rgb), 0, 255).astype(np.uint8)


def _block_mean(plane: np.ndarray) -> np.ndarray:
    height, width = plane.shape
    return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))


def _upsample(plane: np.ndarray) -> np.ndarray:
    return _upsample_axis(_upsample_axis(plane, 0), 1)


def _upsample_axis(plane: np.ndarray, axis: int) -> np.ndarray:
    """Doubles one axis: output 2i is 3/4 c[i] + 1/4 c[i-1], output 2i+1 is 3/4 c[i] + 1/4 c[i+1] (edges
    replicated)."""
    padded = np.concatenate([np.take(plane, [0], axis), plane, np.take(plane, [-1], axis)], axis=axis)
    count = plane.shape[axis]
    centre = np.take(padded, range(1, count + 1), axis)
    before = np.take(padded, range(0, count), axis)
    after = np.take(padded, range(2, count + 2), axis)
    even, odd = 0.75 * centre + 0.25 * before, 0.75 * centre + 0.25 * after
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(plane.shape)
    shape[axis] *= 2
    return out.reshape(shape)


# --- files -----------------------------------------------------------------------------------------------------


def planes_to_bytes(planes: list[np.ndarray], fmt: YUVFormat) -> bytes:
    dtype = np.uint8 if fmt.sample_bytes == 1 else np.dtype("<u2")
    return b"".join(np.ascontiguousarray(plane, dtype=dtype).tobytes() for plane in planes)


def bytes_to_planes(data: bytes, height: int, width: int, fmt: YUVFormat) -> list[np.ndarray]:
    """Planar Y, Cb, Cr of one frame; raises :class:`RawImageError` when the size does not match."""
    expected = fmt.frame_bytes(height, width)
    if len(data) != expected:
        raise RawImageError(f"{len(data)} bytes, expected {expected} for one {width}x{height} {fmt.chroma} "
                            f"{fmt.bit_depth}-bit frame")
    dtype = np.uint8 if fmt.sample_bytes == 1 else np.dtype("<u2")
    samples = np.frombuffer(data, dtype=dtype).astype(np.uint16)
    chroma_h, chroma_w = fmt.chroma_size(height, width)
    luma = height * width
    chroma = chroma_h * chroma_w
    return [samples[:luma].reshape(height, width),
            samples[luma : luma + chroma].reshape(chroma_h, chroma_w),
            samples[luma + chroma :].reshape(chroma_h, chroma_w)]


_Y4M_COLOURSPACES = {("444", 8): "C444", ("420", 8): "C420jpeg", ("444", 10): "C444p10", ("420", 10): "C420p10",
                     ("444", 12): "C444p12", ("420", 12): "C420p12"}
_Y4M_HEADER = re.compile(rb"^YUV4MPEG2((?: [^ \n]+)*)\n")


def write_y4m(planes: list[np.ndarray], fmt: YUVFormat) -> bytes:
    """One-frame YUV4MPEG2 file (4:2:0 written as ``C420jpeg``: chroma between the luma samples)."""
    colourspace = _Y4M_COLOURSPACES.get((fmt.chroma, fmt.bit_depth))
    if colourspace is None:
        raise BenchError(f"Y4M has no colour space for {fmt.chroma} at {fmt.bit_depth} bits (8, 10 or 12)")
    height, width = planes[0].shape
    header = f"YUV4MPEG2 W{width} H{height} F1:1 Ip A1:1 {colourspace}\n".encode()
    return header + b"FRAME\n" + planes_to_bytes(planes, fmt)


def read_y4m(data: bytes, matrix: str) -> tuple[list[np.ndarray], YUVFormat]:
    """The first frame of a YUV4MPEG2 file and its format (``matrix`` is not in Y4M: the caller's)."""
    match = _Y4M_HEADER.match(data)
    if not match:
        raise RawImageError("not a YUV4MPEG2 file (no 'YUV4MPEG2 ...' header line)")
    fields = {field[:1]: field[1:] for field in match.group(1).decode("ascii", "replace").split()}
    try:
        width, height = int(fields["W"]), int(fields["H"])
    except (KeyError, ValueError) as error:
        raise RawImageError(f"Y4M header without a valid size: {match.group(0)!r}") from error
    colourspace = "C" + fields.get("C", "420jpeg")
    chroma = "444" if colourspace.startswith("C444") else "420" if colourspace.startswith("C420") else None
    depth = re.search(r"p(\d+)$", colourspace)
    if chroma is None:
        raise RawImageError(f"Y4M colour space {colourspace} is not 4:4:4 or 4:2:0")
    fmt = YUVFormat(chroma, int(depth.group(1)) if depth else 8, matrix)
    frame = data.find(b"FRAME", match.end())
    if frame != match.end():
        raise RawImageError("Y4M file without a FRAME after its header")
    start = data.index(b"\n", frame) + 1
    return bytes_to_planes(data[start : start + fmt.frame_bytes(height, width)], height, width, fmt), fmt


def write_ppm(rgb: np.ndarray) -> bytes:
    """Binary PPM (P6, maxval 255) of an (H, W, 3) uint8 image."""
    height, width = rgb.shape[:2]
    return f"P6\n{width} {height}\n255\n".encode() + np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
