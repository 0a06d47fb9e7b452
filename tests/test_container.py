"""The bitstream container of the learned codecs."""

import struct

import pytest

from bench.schema import Bitstream

from bench.codecs.container import (
    FORMAT_VERSION,
    MAGIC,
    Container,
    ContainerError,
    pack,
    unpack,
)


def test_round_trip_keeps_every_field_and_counts_the_header():
    strings = (b"\x00\x01y-stream" * 30, b"", b"z")
    container = Container(1, 2.75, 512, 768, strings)
    data = pack(container)
    assert unpack(data) == container
    header = 4 + 1 + 1 + 8 + 2 + 2 + 1
    assert len(data) == header + sum(len(s) for s in strings) + 2 + 1 + 1  # varints: 300 -> 2 bytes, 0 -> 1, 1 -> 1
    assert container.payload_bytes == sum(len(s) for s in strings)
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION and data[5] == 1


def test_fractional_quality_is_exact():
    for quality in (1.0, 3.3333333333333335, 7.999999, 8.0):
        assert unpack(pack(Container(1, quality, 1, 1, ()))).quality == quality


def test_large_string_lengths_use_multi_byte_varints():
    big = bytes(range(256)) * 1000
    assert unpack(pack(Container(3, 1, 64, 64, (big,)))).strings == (big,)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"JUNK" + d[4:], "not an mpa-bench bitstream"),
        (lambda d: d[:4] + bytes([FORMAT_VERSION + 1]) + d[5:], "format version"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:10], "shorter than"),
    ],
)
def test_corrupt_bitstreams_are_rejected(mutate, message):
    data = pack(Container(1, 1, 256, 256, (b"abc", b"de")))
    with pytest.raises(ContainerError, match=message):
        unpack(mutate(data))


def test_bytes_of_another_or_an_unknown_codec_are_rejected_by_the_codec():
    from bench.codecs import codecs

    codec = codecs.get("bmshj2018-hyperprior-tiny")()
    tinylic = pack(Container(codecs.get("tinylic").container_id, 1, 256, 256, (b"abc",)))
    with pytest.raises(ContainerError, match="written by codec 'tinylic', not 'bmshj2018-hyperprior-tiny'"):
        codec.decode(Bitstream(tinylic, 256, 256, 0))
    unknown = pack(Container(250, 1, 256, 256, (b"abc",)))
    with pytest.raises(ContainerError, match="id 250 \\(unknown\\)"):
        codec.decode(Bitstream(unknown, 256, 256, 0))


def test_sizes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="does not fit"):
        pack(Container(1, 1, 70000, 10, ()))
    with pytest.raises(ValueError, match="does not fit the container"):
        pack(Container(256, 1, 10, 10, ()))
    assert struct.calcsize(">4sBBdHHB") == 19
