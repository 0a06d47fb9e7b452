"""Wall-clock timing of work that may run on a GPU: ``time.perf_counter`` around CUDA-synchronised calls; and the
timed region of a codec: its own encode and decode of bytes.

A codec whose library works on its own image type (:class:`NativeCodec`: the classical codecs, on Pillow images) is
timed on the library's own encode and decode only: the conversions float tensor -> 8-bit array -> library image and
back happen outside the clock and are recorded apart (``convert``), as ``compressai.utils.bench`` times Pillow's
``save`` and ``open`` + ``load`` of an image already in memory. Learned codecs are timed through ``encode`` and
``decode_variants``, whose work is the codec's own.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterable, Iterator, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch

from bench.codecs.base import Codec, Decoded
from bench.schema import Bitstream
from bench.tensors import tensor_to_uint8, uint8_to_tensor

T = TypeVar("T")


def synchronize(device: str | torch.device) -> None:
    """Waits for queued CUDA work on ``device``; nothing to do on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: str | torch.device, function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """Runs ``function(*args, **kwargs)``; returns its result and wall time, CUDA synchronised on both sides."""
    synchronize(device)
    start = time.perf_counter()
    result = function(*args, **kwargs)
    synchronize(device)
    return result, time.perf_counter() - start


class Stopwatch:
    """Accumulates named intervals (e.g. ``network``, ``entropy``) of :func:`timed` calls."""

    def __init__(self, device: str | torch.device):
        self.device = device
        self.times: dict[str, float] = {}

    def run(self, name: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result, seconds = timed(self.device, function, *args, **kwargs)
        self.times[name] = self.times.get(name, 0.0) + seconds
        return result


@runtime_checkable
class NativeCodec(Protocol):
    """A codec whose library codes its own image type: ``to_native`` / ``from_native`` convert (H, W, 3) uint8
    arrays, ``encode_native`` / ``decode_native`` are the library's own coding of bytes (what latency times)."""

    def to_native(self, rgb: np.ndarray) -> Any: ...

    def from_native(self, image: Any) -> np.ndarray: ...

    def encode_native(self, image: Any, point: float) -> Bitstream: ...

    def decode_native(self, bitstream: Bitstream) -> Any: ...


def timed_encode(codec: Codec, x: torch.Tensor, point: float,
                 device: str | torch.device = "cpu") -> tuple[Bitstream, float, float]:
    """Encodes ``x`` (float, (1, 3, H, W)); returns the bitstream, the seconds of the codec's own encode, and the
    seconds of the input conversion outside it (0 for codecs that are not :class:`NativeCodec`)."""
    if isinstance(codec, NativeCodec):
        native, convert = timed("cpu", lambda: codec.to_native(tensor_to_uint8(x)))
        bitstream, seconds = timed(device, codec.encode_native, native, point)
        return bitstream, seconds, convert
    bitstream, seconds = timed(device, codec.encode, x, point)
    return bitstream, seconds, 0.0


def timed_decode(codec: Codec, bitstream: Bitstream, variants: Iterable[str],
                 device: str | torch.device = "cpu") -> Iterator[Decoded]:
    """Decodes ``bitstream`` with each variant; ``Decoded.seconds`` is the codec's own decode of the bytes (for a
    :class:`NativeCodec` without the output conversion, which is ``timings["convert"]``)."""
    if not isinstance(codec, NativeCodec):
        yield from codec.decode_variants(bitstream, variants)
        return
    for variant in variants:
        native, seconds = timed(device, codec.decode_native, bitstream)
        x_hat, convert = timed("cpu", lambda image=native: uint8_to_tensor(codec.from_native(image)))
        yield Decoded(variant, x_hat, seconds, {"convert": convert})


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Runs the block with ``count`` torch CPU threads (None: unchanged), restoring the previous count after."""
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
