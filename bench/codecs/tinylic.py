"""TinyLIC, the fixed-rate base model of MPA, and its codec wrapper."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Sequence

import torch

from bench.codecs.base import Decoded
from bench.codecs.learned import (
    LearnedCodec,
        checkpoint_digest,
    crop_center,
    library_versions,
    make_bitstream,
    padded_size,
    prepare_input,
    read_bitstream,
    resolve_device,
)
from bench.codecs.transformer_lic import DEPTHS, NUM_HEADS, TransformerLIC
from bench.errors import CheckpointError
from bench.schema import Bitstream
from bench.timing import Stopwatch

TINYLIC_WEIGHTS_HINT = (
    "the official TinyLIC weights are linked from the README of https://github.com/lumingzzz/TinyLIC; "
    "pass them with --checkpoint tinylic=PATH (a file, or a folder of one file per rate, sorted low to high rate)"
)


class TinyLIC(TransformerLIC):
    """TinyLIC: M. Lu, Z. Ma, "High-Efficiency Lossy Image Coding Through Adaptive Neighborhood Information
    Aggregation" (arXiv 2204.11448); reproduces ``compressai/models/tinylic.py`` of lumingzzz/TinyLIC as of its
    "fix a bug" commit a52cbea (unchanged up to b9081f7: slice 0's spatial contexts accumulated in ``forward``), whose
    entropy model and coding order MPA inherits unchanged.

    One model per rate; no gains or layer scales. Its bundled neighborhood attention zero-pads inputs smaller
    than the kernel (right/bottom) and crops back, so inputs down to 64 px work.

    API as the official model: ``forward(x)`` -> {x_hat, likelihoods{y, z}}, ``compress(x)`` ->
    {strings: [[y], z_strings], shape}, ``decompress(strings, shape)`` -> {x_hat}.
    """

    architecture: ClassVar[str] = "tinylic"
    min_size: ClassVar[int] = 64

    def __init__(self, N: int = 128, M: int = 320, depths: Sequence[int] = DEPTHS,
                 num_heads: Sequence[int] = NUM_HEADS):
        super().__init__(N, M, levels=None, pad_small=True, encoder_multipath=False, decoder_task_ratios=None,
                         depths=depths, num_heads=num_heads)

    def forward(self, x: torch.Tensor) -> dict:
        return self._forward(x, None, None, 0)

    def compress(self, x: torch.Tensor) -> dict:
        y, z, _ = self.analyze(x)
        result, _ = self.code_latents(y, z)
        return result

    def decompress(self, strings, shape) -> dict:
        return {"x_hat": self.synthesize(self.decode_latents(strings, shape))}


class TinyLICCodec(LearnedCodec):
    """TinyLIC as a bench codec: one official checkpoint per rate point.

    Args:
        checkpoint: a checkpoint file (one rate point, 1) or a folder whose ``*.pth``, ``*.pth.tar``, ``*.pt``,
            ``*.ckpt`` files are the rate points 1, 2, ... in sorted file-name order (name them low to high rate).
        device: ``cpu`` or ``cuda[:i]``.
        attention: neighborhood-attention path (``auto``, ``reference``, ``tiled``, ``flex``).
    """

    name: ClassVar[str] = "tinylic"
    description: ClassVar[str] = "TinyLIC (Lu & Ma 2022), fixed-rate, official weights"
    pad_multiple: ClassVar[int] = 256

    def __init__(self, checkpoint: str, device: str = "cpu", attention: str = "auto"):
        self.checkpoint = str(checkpoint)
        self.device = resolve_device(device)
        self.attention = attention
        self.files = _checkpoint_files(Path(checkpoint))
        self._models: dict[int, TinyLIC] = {}

    def rate_points(self) -> Sequence[float]:
        return tuple(float(i) for i in range(1, len(self.files) + 1))

    def model(self, point: float) -> TinyLIC:
        index = int(point)
        if index != point or not 1 <= index <= len(self.files):
            raise ValueError(f"TinyLIC rate point must be one of {list(self.rate_points())}, got {point}")
        if index not in self._models:
            self._models[index] = TinyLIC.from_checkpoint(
                self.files[index - 1], self.device, self.attention, TINYLIC_WEIGHTS_HINT
            )
        return self._models[index]

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        model = self.model(point)
        padded, height, width = prepare_input(x, self.device, self.pad_multiple)
        clock = Stopwatch(self.device)
        y, z, _ = clock.run("network", model.analyze, padded)
        result, _ = clock.run("entropy", model.code_latents, y, z)
        strings = [result["strings"][0][0], result["strings"][1][0]]
        return make_bitstream(self.name, point, height, width, strings, clock.times)

    @torch.inference_mode()
    def decode_variants(self, bitstream: Bitstream, variants: Iterable[str]) -> Iterator[Decoded]:
        container = read_bitstream(bitstream, self.name)
        model = self.model(container.quality)
        height, width = padded_size(container.height, container.width, self.pad_multiple)
        clock = Stopwatch(self.device)
        y_string, z_string = container.strings
        y_hat = clock.run("entropy", model.decode_latents, [[y_string], [z_string]], (height // 64, width // 64))
        x_hat = clock.run("synthesis", model.synthesize, y_hat)
        x_hat = crop_center(x_hat, container.height, container.width, self.pad_multiple).float().cpu()
        for variant in variants:
            self.check_single_decoder(variant)
            yield Decoded(variant, x_hat, sum(clock.times.values()), dict(clock.times))

    def config(self) -> dict[str, Any]:
        return {
            "checkpoint_sha256": [checkpoint_digest(path) for path in self.files],
            "attention": self.attention,
            "device": str(self.device),
        }

    def versions(self) -> dict[str, str]:
        return library_versions()


def _checkpoint_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        suffixes = (".pth", ".pth.tar", ".pt", ".ckpt", ".tar")
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
        if files:
            return files
        raise CheckpointError(f"checkpoint folder {path} holds no .pth/.pth.tar/.pt/.ckpt file; {TINYLIC_WEIGHTS_HINT}")
    raise CheckpointError(f"checkpoint {path} not found; {TINYLIC_WEIGHTS_HINT}")
