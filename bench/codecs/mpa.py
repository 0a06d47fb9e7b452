"""MPA (NeurIPS 2024) and its stage-1 model MPAEnc, faithful to NJUVISION/MPA 0d7aeef, and their codecs."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Iterable, Iterator, Sequence

import torch

from bench.codecs.base import Decoded
from bench.codecs.layers import LEVELS, TASK_HIDDEN_RATIOS, check_quality
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
from bench.codecs.transformer_lic import DEPTHS, NUM_HEADS, TransformerLIC, check_task
from bench.schema import Bitstream
from bench.timing import Stopwatch

MPA_WEIGHTS_HINT = (
    "the official MPA weights (checkpoint_step3.pth.tar for mpa, the step-1/2 files for mpa-enc) are linked from "
    "the README of https://github.com/NJUVISION/MPA (Google Drive / Baidu); pass them with "
    "--checkpoint mpa=PATH (or mpa-enc=PATH)"
)

TASKS: tuple[str, ...] = ("mse", "cls", "seg")  # official task_idx 0, 1, 2


class MPAEnc(TransformerLIC):
    """MPAEnc, the stage-1 model of X. Zhang, P. Guo, M. Lu, Z. Ma, "All-in-One Image Coding for Joint
    Human-Machine Vision with Multi-Path Aggregation", NeurIPS 2024 (arXiv 2409.19660); reproduces
    ``compressai/models/mpa_enc.py`` of NJUVISION/MPA 0d7aeef.

    Variable rate: quality q in [1, 8] scales y and z by learned gains and every block by learned layer scales.
    The encoder stages g_a1/g_a3/g_a5 route the ``int(T * p_enc(q))`` best-scored tokens through the full MLP
    and the rest through a light FastMlp (p_enc(q) = (5^((q-1)/7) - 1) / 4); the decoder is plain. ``forward``
    takes integer q only (as the official one); ``compress``/``decompress`` interpolate fractional q.
    """

    architecture: ClassVar[str] = "mpa-enc"

    def __init__(self, N: int = 128, M: int = 320, depths: Sequence[int] = DEPTHS,
                 num_heads: Sequence[int] = NUM_HEADS, *, decoder_task_ratios: Sequence[float] | None = None):
        super().__init__(N, M, levels=LEVELS, pad_small=False, encoder_multipath=True,
                         decoder_task_ratios=decoder_task_ratios, depths=depths, num_heads=num_heads)

    def forward(self, x: torch.Tensor, quality: float = 1, q_task: float = 1, task_idx: int = 0) -> dict:
        if int(quality) != quality:
            raise ValueError(f"MPAEnc.forward takes an integer quality (as the official model), got {quality}")
        check_quality(quality)
        return self._forward(x, quality, None, 0)

    def compress(self, x: torch.Tensor, quality: float = 1) -> dict:
        """Returns ``{"strings": [[y_string], z_strings], "shape": z.shape[-2:]}``."""
        check_quality(quality)
        y, z, _ = self.analyze(x, quality)
        result, _ = self.code_latents(y, z, quality)
        return result

    def decompress(self, strings, shape, quality: float = 1, q_task: float = 1, task_idx: int = 0) -> dict:
        check_quality(quality)
        return {"x_hat": self.synthesize(self.decode_latents(strings, shape, quality), quality)}


class MPA(MPAEnc):
    """MPA, the all-in-one model of X. Zhang, P. Guo, M. Lu, Z. Ma, "All-in-One Image Coding for Joint
    Human-Machine Vision with Multi-Path Aggregation", NeurIPS 2024 (arXiv 2409.19660); reproduces
    ``compressai/models/mpa.py`` of NJUVISION/MPA 0d7aeef (natten 0.17 with relative position bias).

    One bitstream per (image, q) serves every decoder path. In g_s2, g_s4 and g_s6 a per-task predictor keeps
    the ``int(T * (1 - (q_task - 1) / 7))`` best-scored tokens on the main path (the stage-1 perceptual MLP);
    the others take the side path of the task::

                 tokens (after attention, every token)
                    |
              predictor[task] --- score, top int(T * p_dec) ---+
                    |                                           |
                    v rest                                      v
         +---------------------+                        +---------------+
         | side path[task]     |   task 0 mse: SlowMlp  | main path     |
         | LN-Linear-GELU-     |   task 1 cls: FastMlp  | norm2 + Mlp   |
         | Linear (no norm2)   |   task 2 seg: FastMlp  | (perceptual)  |
         +---------------------+                        +---------------+
                    |                                           |
                    +------------- scatter back, + x -----------+

    q_task = 1 (bench alpha 0) puts every token on the main path (high realism, any task); q_task = 8 (alpha 1)
    every token on the task path. The bench's ``alpha`` is ``(q_task - 1) / 7``.
    """

    architecture: ClassVar[str] = "mpa"

    def __init__(self, N: int = 128, M: int = 320, depths: Sequence[int] = DEPTHS,
                 num_heads: Sequence[int] = NUM_HEADS):
        super().__init__(N, M, depths, num_heads, decoder_task_ratios=TASK_HIDDEN_RATIOS)

    def forward(self, x: torch.Tensor, quality: float = 1, q_task: float = 1, task_idx: int = 0) -> dict:
        """Eval forward with fractional q: {x_hat (not clamped), likelihoods{y, z}, decisions, latent}."""
        check_quality(quality)
        check_task(q_task, task_idx)
        return self._forward(x, quality, q_task, task_idx)

    def decompress(self, strings, shape, quality: float = 1, q_task: float = 1, task_idx: int = 0) -> dict:
        check_quality(quality)
        check_task(q_task, task_idx)
        y_hat = self.decode_latents(strings, shape, quality)
        return {"x_hat": self.synthesize(y_hat, quality, q_task, task_idx)}


# --- decoder variants -----------------------------------------------------------------------------------------

_VARIANT = re.compile(r"^alpha=(?P<alpha>[0-9.eE+-]+),task=(?P<task>[a-z]+)$")


def format_variant(alpha: float, task: str) -> str:
    """``alpha=0.5,task=cls`` (alpha printed in its shortest round-trip form)."""
    _check_variant(float(alpha), task)
    return f"alpha={float(alpha)!r},task={task}"


def parse_variant(name: str) -> tuple[float, str]:
    """Inverse of :func:`format_variant`; raises ValueError for anything else."""
    match = _VARIANT.match(name)
    if not match:
        raise ValueError(f"MPA decoder variant {name!r} is not of the form 'alpha=<0..1>,task=<mse|cls|seg>'")
    alpha, task = float(match["alpha"]), match["task"]
    _check_variant(alpha, task)
    return alpha, task


def _check_variant(alpha: float, task: str) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")


def alpha_to_q_task(alpha: float) -> float:
    """Official q_task of the bench's alpha (fraction of decoder tokens on the task side path)."""
    return 1.0 + 7.0 * alpha


# --- codecs ---------------------------------------------------------------------------------------------------


class MPAEncCodec(LearnedCodec):
    """MPAEnc (stage 1) as a bench codec: rate points are qualities, one (perceptual) decoder.

    Args:
        checkpoint: official step-1 or step-2 checkpoint file.
        qualities: default rate points (fractional allowed).
        device: ``cpu`` or ``cuda[:i]``.
        attention: neighborhood-attention path (``auto``, ``reference``, ``tiled``, ``flex``).
    """

    name: ClassVar[str] = "mpa-enc"
    description: ClassVar[str] = "MPAEnc, stage 1 of MPA (NeurIPS 2024), official weights"
    model_class: ClassVar[type[MPAEnc]] = MPAEnc
    pad_multiple: ClassVar[int] = 256

    def __init__(self, checkpoint: str, qualities: Sequence[float] = tuple(range(1, 9)), device: str = "cpu",
                 attention: str = "auto"):
        for quality in qualities:
            check_quality(quality)
        self.checkpoint = str(checkpoint)
        self.qualities = tuple(float(q) for q in qualities)
        self.device = resolve_device(device)
        self.attention = attention
        self.model = self.model_class.from_checkpoint(checkpoint, self.device, attention, MPA_WEIGHTS_HINT)
        self._sha256: str | None = None

    @classmethod
    def from_model(cls, model: MPAEnc, qualities: Sequence[float] = tuple(range(1, 9)), device: str = "cpu",
                   **options):
        """Wraps an already built model (tests use random weights this way; the engine never does)."""
        codec = cls.__new__(cls)
        codec.checkpoint, codec._sha256 = "<in-memory model>", "none"
        codec.qualities = tuple(float(q) for q in qualities)
        codec.device = resolve_device(device)
        codec.attention = options.pop("attention", "auto")
        codec.model = model.eval().to(codec.device)
        codec._init_options(**options)
        return codec

    def _init_options(self) -> None:
        pass

    def rate_points(self) -> Sequence[float]:
        return self.qualities

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, point: float) -> Bitstream:
        check_quality(point)
        padded, height, width = prepare_input(x, self.device, self.pad_multiple)
        clock = Stopwatch(self.device)
        y, z, _ = clock.run("network", self.model.analyze, padded, point)
        result, _ = clock.run("entropy", self.model.code_latents, y, z, point)
        strings = [result["strings"][0][0], result["strings"][1][0]]
        return make_bitstream(self.name, point, height, width, strings, clock.times)

    @torch.inference_mode()
    def decode_variants(self, bitstream: Bitstream, variants: Iterable[str]) -> Iterator[Decoded]:
        """Entropy-decodes once, then runs the synthesis once per variant.

        ``Decoded.seconds`` is what a standalone decode of the variant costs (shared entropy decoding included);
        ``timings`` splits it into ``entropy`` and ``synthesis``.
        """
        container = read_bitstream(bitstream, self.name)
        quality = container.quality
        height, width = padded_size(container.height, container.width, self.pad_multiple)
        clock = Stopwatch(self.device)
        y_string, z_string = container.strings
        y_hat = clock.run("entropy", self.model.decode_latents, [[y_string], [z_string]],
                          (height // 64, width // 64), quality)
        for variant in variants:
            q_task, task_idx = self._variant_arguments(variant)
            variant_clock = Stopwatch(self.device)
            x_hat = variant_clock.run("synthesis", self.model.synthesize, y_hat, quality, q_task, task_idx)
            x_hat = crop_center(x_hat, container.height, container.width, self.pad_multiple).float().cpu()
            timings = {"entropy": clock.times["entropy"], "synthesis": variant_clock.times["synthesis"]}
            yield Decoded(variant, x_hat, sum(timings.values()), timings)

    def _variant_arguments(self, variant: str) -> tuple[float | None, int]:
        self.check_single_decoder(variant)
        return None, 0

    def config(self) -> dict[str, Any]:
        if self._sha256 is None:
            self._sha256 = checkpoint_digest(self.checkpoint)
        # The checkpoint's content, not its path; rate points and variants are part of each row's key instead.
        return {"checkpoint_sha256": self._sha256, "attention": self.attention, "device": str(self.device)}

    def versions(self) -> dict[str, str]:
        return library_versions()


class MPACodec(MPAEncCodec):
    """MPA as a bench codec: one bitstream per (image, q), decoded by every (alpha, task) variant.

    Variants are named ``alpha=<a>,task=<t>`` with alpha in [0, 1] the fraction of decoder tokens on the task
    side path (official q_task = 1 + 7 alpha: alpha 0 = high realism, alpha 1 = the task path) and task in
    mse / cls / seg (official task_idx 0 / 1 / 2). Entropy decoding runs once per bitstream; only the synthesis
    runs per variant.

    Args:
        checkpoint: the official all-in-one checkpoint (``checkpoint_step3.pth.tar``).
        alphas, tasks: the decoder variants are their product.
        qualities: default rate points (fractional allowed).
        device: ``cpu`` or ``cuda[:i]``.
        attention: neighborhood-attention path.
    """

    name: ClassVar[str] = "mpa"
    description: ClassVar[str] = "MPA (NeurIPS 2024), all-in-one, official weights"
    model_class: ClassVar[type[MPAEnc]] = MPA

    def __init__(self, checkpoint: str, alphas: Sequence[float] = (0.0, 1.0), tasks: Sequence[str] = ("mse",),
                 qualities: Sequence[float] = tuple(range(1, 9)), device: str = "cpu", attention: str = "auto"):
        self._init_options(alphas, tasks)
        super().__init__(checkpoint, qualities, device, attention)

    def _init_options(self, alphas: Sequence[float] = (0.0, 1.0), tasks: Sequence[str] = ("mse",)) -> None:
        self.alphas = tuple(float(a) for a in alphas)
        self.tasks = tuple(tasks)
        self.variants = tuple(format_variant(a, t) for t in self.tasks for a in self.alphas)

    def decoder_variants(self) -> Sequence[str]:
        return self.variants

    def _variant_arguments(self, variant: str) -> tuple[float, int]:
        alpha, task = parse_variant(variant)
        return alpha_to_q_task(alpha), TASKS.index(task)


