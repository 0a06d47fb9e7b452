"""The Codec interface every codec implements, classical or learned."""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator, Sequence

import torch

from bench.schema import DEFAULT_VARIANT, Bitstream


@dataclass(frozen=True)
class Decoded:
    """One reconstruction of a bitstream by one decoder variant.

    Attributes:
        variant: the decoder variant that produced it.
        x_hat: (1, 3, H, W) float32 in [0, 1], cropped to the original size.
        seconds: wall time of a standalone decode of this variant (shared entropy decoding included).
        timings: optional breakdown in seconds (e.g. ``{"entropy": .., "synthesis": ..}``).
    """

    variant: str
    x_hat: torch.Tensor
    seconds: float
    timings: dict[str, float]


class Codec(abc.ABC):
    """A codec: rate points in, real bytes out, and one or more decoders for those bytes.

    Subclasses set ``name`` (the registry name), take their options as typed keyword arguments, and implement
    :meth:`encode` and :meth:`decode`. Inputs are float32 RGB in [0, 1], (3, H, W) or (1, 3, H, W).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # The name exported JSON curves carry for this codec (CompressAI's own `plot` draws names holding "JPEG", "WebP",
    # "AV1", "BPG", "HM" or "VTM" dashed, as classical codecs); empty: the suite label.
    display_name: ClassVar[str] = ""
    # Bump when a change to this codec's code changes its bytes or reconstructions: it is part of the run-store key,
    # so rows measured by the old code are recomputed, and the golden bitstream tests insist on it.
    code_version: ClassVar[int] = 1
    # What a suite may set, checked when it is read and when the codec is built (bench.options): the rate points'
    # range (inclusive; None for any finite point), what they are, and whether they are whole numbers; the allowed
    # values of options (a tuple, or a range of integers) by option name.
    point_range: ClassVar[tuple[float, float] | None] = None
    point_unit: ClassVar[str] = ""
    integer_points: ClassVar[bool] = False
    option_choices: ClassVar[dict[str, Sequence[Any]]] = {}
    # True for variants that exist to test the code (random weights): never a reported number.
    test_only: ClassVar[bool] = False

    @abc.abstractmethod
    def rate_points(self) -> Sequence[float]:
        """Default rate points (the codec's own quality parameter), from low to high rate."""

    def decoder_variants(self) -> Sequence[str]:
        """Decoder variants one bitstream can be decoded with; classical codecs have one."""
        return (DEFAULT_VARIANT,)

    @abc.abstractmethod
    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        """Encodes an image at a rate point into the exact bytes of a file."""

    @abc.abstractmethod
    def decode(self, bitstream: Bitstream, variant: str = DEFAULT_VARIANT) -> torch.Tensor:
        """Decodes ``bitstream.data`` (and nothing else) into a (1, 3, H, W) float32 image in [0, 1]."""

    def decode_variants(self, bitstream: Bitstream, variants: Iterable[str]) -> Iterator[Decoded]:
        """Decodes one bitstream with several variants; codecs that share work across variants override this."""
        for variant in variants:
            start = time.perf_counter()
            x_hat = self.decode(bitstream, variant)
            yield Decoded(variant, x_hat, time.perf_counter() - start, {})

    def config(self) -> dict[str, Any]:
        """Resolved options that determine the output bytes (hashed into the run store key)."""
        return {}

    def versions(self) -> dict[str, str]:
        """Versions of the libraries (and checkpoint hashes) that produce this codec's output."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """Where the codec's weights come from, for exports and reports; empty for codecs without weights.

        Learned codecs return ``{"checkpoints": {point or "all": {"path", "sha256"}}, "official": bool}``, where
        ``official`` is True only when every checkpoint's sha256 is a published official digest.
        """
        return {}
