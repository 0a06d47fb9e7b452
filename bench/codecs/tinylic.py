"""TinyLIC, the fixed-rate base model of MPA, and its codec wrapper."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import torch

from bench.codecs.learned import InMemoryModels, Weights, in_memory_weights, rate_point_files
from bench.codecs.transformer_lic import DEPTHS, NUM_HEADS, TransformerCodec, TransformerLIC

TINYLIC_WEIGHTS_HINT = (
    "the official TinyLIC weights are linked from the README of https://github.com/lumingzzz/TinyLIC; "
    "pass them with --checkpoint tinylic=PATH (a file, a folder of one file per rate sorted low to high rate, or "
    "checkpoint = [\"low.pth.tar\", ..., \"high.pth.tar\"] in a suite)"
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


class TinyLICCodec(TransformerCodec):
    """TinyLIC as a bench codec: one checkpoint per rate point.

    Args:
        checkpoint: a checkpoint file (one rate point, 1); a list of files (rate points 1, 2, ... in list order,
            low to high rate); or a folder whose ``*.pth``, ``*.pth.tar``, ``*.pt``, ``*.ckpt`` files are the rate
            points 1, 2, ... in sorted file-name order (name them low to high rate).
        device: ``cpu`` or ``cuda[:i]``.
        attention: neighborhood-attention path (``auto``, ``reference``, ``tiled``, ``flex``).
    """

    name: ClassVar[str] = "tinylic"
    description: ClassVar[str] = "TinyLIC (Lu & Ma 2022), fixed-rate"
    container_id: ClassVar[int] = 3
    checkpoint_label: ClassVar[str] = "a TinyLIC"
    weights_hint: ClassVar[str] = TINYLIC_WEIGHTS_HINT
    # lumingzzz/TinyLIC publishes its weights on Google Drive without digests: none is known to be official.
    KNOWN_OFFICIAL_SHA256: ClassVar[frozenset[str]] = frozenset()
    model_class: ClassVar[type[TinyLIC]] = TinyLIC

    def __init__(self, checkpoint: str | Sequence[str] | InMemoryModels, device: str = "cpu",
                 attention: str = "auto"):
        if isinstance(checkpoint, InMemoryModels):
            weights = in_memory_weights(checkpoint)
        else:
            weights = {float(i): Weights(path=path) for i, path in enumerate(rate_point_files(checkpoint, TINYLIC_WEIGHTS_HINT), 1)}
        super().__init__(weights, device, attention)

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        """Neighborhood-attention blocks with relative position bias, and no quality gains."""
        return "g_a1.residual_group.blocks.0.attn.rpb" in state_dict and "Gain" not in state_dict

    def rate_points(self) -> Sequence[float]:
        return tuple(sorted(self.weights))


# --- test-only variant: the reduced architecture with seeded random weights -----------------------------------

TINY_ARCHITECTURE: dict[str, Any] = dict(N=32, M=80, depths=(1, 1, 1, 1, 1, 1), num_heads=(2, 2, 2, 2, 2, 2))


def random_tinylic(seed: int) -> TinyLIC:
    """The reduced TinyLIC with seeded random weights (g_a6 scaled up so that symbols are nonzero); the global
    random state is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyLIC(**TINY_ARCHITECTURE).eval()
    with torch.no_grad():
        model.g_a6.weight.mul_(4.0)
    return model


class TinyLICTinyCodec(TinyLICCodec):
    """Test only: TinyLIC's structure reduced (N=32, M=80, one block per stage), two rate points with seeded random
    weights (seeds ``seed`` and ``seed + 1``)."""

    name: ClassVar[str] = "tinylic-tiny"
    description: ClassVar[str] = "TEST ONLY: reduced TinyLIC architecture with random weights (no trained model)"
    test_only: ClassVar[bool] = True

    def __init__(self, seed: int = 1, device: str = "cpu", attention: str = "auto"):
        models = {1.0: random_tinylic(seed), 2.0: random_tinylic(seed + 1)}
        super().__init__(InMemoryModels(models, f"random weights (seeds {seed}, {seed + 1}), test only"), device,
                         attention)
