"""The bitstream container of the learned codecs: a small header, then the entropy-coded strings.

Layout (big-endian)::

    magic      4 bytes   b"MPAB"
    version    1 byte    FORMAT_VERSION
    codec      1 byte    architecture id (CODEC_IDS), so bytes of one codec are not decoded by another
    quality    8 bytes   float64 rate point (MPA accepts fractional q; float64 keeps it exact)
    height     2 bytes   unpadded image height
    width      2 bytes   unpadded image width
    count      1 byte    number of strings
    then per string: its length as an unsigned LEB128 varint, then its bytes

The header plus lengths is 19 bytes + about 2 bytes per string; bpp counts them, ``payload_bytes`` does not.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bench.errors import BenchError

MAGIC = b"MPAB"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sBBdHHB")

CODEC_IDS: dict[str, int] = {
    "mpa": 1,
    "mpa-enc": 2,
    "tinylic": 3,
    "bmshj2018-factorized": 16,
    "bmshj2018-hyperprior": 17,
    "mbt2018-mean": 18,
    "mbt2018": 19,
    "cheng2020-anchor": 20,
    "cheng2020-attn": 21,
    "elic": 32,
    "mric": 33,
}


class ContainerError(BenchError):
    """Bytes that are not a valid container of the expected codec and format version."""


@dataclass(frozen=True)
class Container:
    """Parsed container.

    Attributes:
        codec: registry name of the codec that wrote it.
        quality: the rate point.
        height, width: unpadded image size.
        strings: the entropy-coded strings, in the codec's order.
    """

    codec: str
    quality: float
    height: int
    width: int
    strings: tuple[bytes, ...]

    @property
    def payload_bytes(self) -> int:
        return sum(len(s) for s in self.strings)

    def header(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "codec": self.codec,
            "quality": self.quality,
            "height": self.height,
            "width": self.width,
            "string_lengths": [len(s) for s in self.strings],
        }


def pack(container: Container) -> bytes:
    """Serialises a container into bytes."""
    if container.codec not in CODEC_IDS:
        raise ValueError(f"codec {container.codec!r} has no container id")
    if not (0 < container.height < 2**16 and 0 < container.width < 2**16):
        raise ValueError(f"image size {container.height}x{container.width} does not fit the container (< 65536)")
    if len(container.strings) > 255:
        raise ValueError("too many strings for the container")
    parts = [
        _HEADER.pack(MAGIC, FORMAT_VERSION, CODEC_IDS[container.codec], float(container.quality),
                     container.height, container.width, len(container.strings))
    ]
    for string in container.strings:
        parts.append(_varint(len(string)))
        parts.append(bytes(string))
    return b"".join(parts)


def unpack(data: bytes, expected_codec: str | None = None) -> Container:
    """Parses bytes written by :func:`pack`.

    Raises:
        ContainerError: bad magic, unknown format version, another codec's bytes, truncated or trailing data.
    """
    if len(data) < _HEADER.size:
        raise ContainerError(f"bitstream of {len(data)} bytes is shorter than the {_HEADER.size}-byte header")
    magic, version, codec_id, quality, height, width, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ContainerError(f"not an mpa-bench bitstream (magic {magic!r}, expected {MAGIC!r})")
    if version != FORMAT_VERSION:
        raise ContainerError(f"bitstream format version {version} is not supported (this build reads {FORMAT_VERSION})")
    names = {v: k for k, v in CODEC_IDS.items()}
    if codec_id not in names:
        raise ContainerError(f"bitstream names an unknown codec id {codec_id}")
    codec = names[codec_id]
    if expected_codec is not None and codec != expected_codec:
        raise ContainerError(f"bitstream was written by codec {codec!r}, not {expected_codec!r}")
    offset = _HEADER.size
    strings = []
    for _ in range(count):
        length, offset = _read_varint(data, offset)
        if offset + length > len(data):
            raise ContainerError("bitstream is truncated")
        strings.append(bytes(data[offset : offset + length]))
        offset += length
    if offset != len(data):
        raise ContainerError(f"bitstream has {len(data) - offset} trailing bytes")
    return Container(codec, quality, height, width, tuple(strings))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if offset >= len(data):
            raise ContainerError("bitstream is truncated inside a string length")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            raise ContainerError("invalid string length in bitstream")
