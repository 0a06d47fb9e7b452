"""MPA (NeurIPS 2024) and its stage-1 model MPAEnc, faithful to NJUVISION/MPA 0d7aeef, and their codecs."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Mapping, Sequence

import torch

from bench.codecs.layers import LEVELS, TASK_HIDDEN_RATIOS, check_quality
from bench.codecs.learned import InMemoryModels, single_weights
from bench.codecs.transformer_lic import DEPTHS, NUM_HEADS, TransformerCodec, TransformerLIC, check_task

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


class MPAEncCodec(TransformerCodec):
    """MPAEnc (stage 1) as a bench codec: rate points are qualities, one (perceptual) decoder.

    Args:
        checkpoint: the step-1 or step-2 checkpoint file.
        qualities: default rate points (fractional allowed).
        device: ``cpu`` or ``cuda[:i]``.
        attention: neighborhood-attention path (``auto``, ``reference``, ``tiled``, ``flex``).
    """

    name: ClassVar[str] = "mpa-enc"
    description: ClassVar[str] = "MPAEnc, stage 1 of MPA (NeurIPS 2024)"
    container_id: ClassVar[int] = 2
    checkpoint_label: ClassVar[str] = "an MPAEnc / stage-1"
    weights_hint: ClassVar[str] = MPA_WEIGHTS_HINT
    # NJUVISION/MPA publishes its weights on Google Drive / Baidu without digests: none is known to be official.
    KNOWN_OFFICIAL_SHA256: ClassVar[frozenset[str]] = frozenset()
    model_class: ClassVar[type[MPAEnc]] = MPAEnc
    one_model_for_all_points: ClassVar[bool] = True

    def __init__(self, checkpoint: str | InMemoryModels, qualities: Sequence[float] = tuple(range(1, 9)),
                 device: str = "cpu", attention: str = "auto"):
        for quality in qualities:
            check_quality(quality)
        self.qualities = tuple(float(q) for q in qualities)
        super().__init__(single_weights(checkpoint, self.weights_hint), device, attention)

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        """Gains and encoder score predictors, no decoder score predictors."""
        return "Gain" in state_dict and _has_predictors(state_dict, "g_a") and not _has_predictors(state_dict, "g_s")

    @staticmethod
    def counted_forward(model: MPAEnc, x: torch.Tensor, quality: float | None, q_task: float | None,
                        task_idx: int) -> dict:
        return model(x, quality=quality)

    @classmethod
    def profile_points(cls, requested: Sequence[float], available: Sequence[float] | None
                       ) -> tuple[tuple[float, ...], tuple[float, ...], None]:
        """Every requested quality (one variable-rate model serves them all)."""
        points = tuple(float(q) for q in requested)
        return points, points, None

    def rate_points(self) -> Sequence[float]:
        return self.qualities

    def point_quality(self, point: float) -> float:
        check_quality(point)
        return point


class MPACodec(MPAEncCodec):
    """MPA as a bench codec: one bitstream per (image, q), decoded by every (alpha, task) variant.

    Variants are named ``alpha=<a>,task=<t>`` with alpha in [0, 1] the fraction of decoder tokens on the task
    side path (official q_task = 1 + 7 alpha: alpha 0 = high realism, alpha 1 = the task path) and task in
    mse / cls / seg (official task_idx 0 / 1 / 2). Entropy decoding runs once per bitstream; only the synthesis
    runs per variant.

    Args:
        checkpoint: the all-in-one checkpoint (``checkpoint_step3.pth.tar``).
        alphas, tasks: the decoder variants are their product.
        qualities: default rate points (fractional allowed).
        device: ``cpu`` or ``cuda[:i]``.
        attention: neighborhood-attention path.
    """

    name: ClassVar[str] = "mpa"
    description: ClassVar[str] = "MPA (NeurIPS 2024), all-in-one"
    container_id: ClassVar[int] = 1
    checkpoint_label: ClassVar[str] = "an MPA (stage-2, all-in-one)"
    model_class: ClassVar[type[MPAEnc]] = MPA

    def __init__(self, checkpoint: str | InMemoryModels, alphas: Sequence[float] = (0.0, 1.0),
                 tasks: Sequence[str] = ("mse",), qualities: Sequence[float] = tuple(range(1, 9)),
                 device: str = "cpu", attention: str = "auto"):
        self.alphas = tuple(float(a) for a in alphas)
        self.tasks = tuple(tasks)
        self.variants = tuple(format_variant(a, t) for t in self.tasks for a in self.alphas)
        super().__init__(checkpoint, qualities, device, attention)

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        """Gains and decoder score predictors (the task paths)."""
        return "Gain" in state_dict and _has_predictors(state_dict, "g_s")

    @staticmethod
    def counted_forward(model: MPA, x: torch.Tensor, quality: float | None, q_task: float | None,
                        task_idx: int) -> dict:
        return model(x, quality=quality, q_task=q_task, task_idx=task_idx)

    def decoder_variants(self) -> Sequence[str]:
        return self.variants

    def variant_arguments(self, variant: str) -> tuple[float, int]:
        alpha, task = parse_variant(variant)
        return alpha_to_q_task(alpha), TASKS.index(task)


def _has_predictors(state_dict: Mapping[str, torch.Tensor], prefix: str) -> bool:
    """Token score predictors in the ``prefix`` transform (g_a: one per stage; g_s: one per task, ``.0.0.``)."""
    marker = ".score_predictor." if prefix == "g_a" else ".score_predictor.0.0."
    return any(k.startswith(prefix) and marker in k for k in state_dict)


# --- test-only variants: reduced architectures with seeded random weights -------------------------------------

TINY_ARCHITECTURE: dict[str, Any] = dict(N=32, M=80, depths=(2, 1, 1, 1, 1, 1), num_heads=(2, 2, 2, 2, 2, 2))


def random_mpa(model_class: type[MPAEnc] = MPA, seed: int = 0) -> MPAEnc:
    """The reduced MPA (or MPAEnc) with seeded random weights; gains spread so that every level differs and more
    symbols are nonzero than the unit initialisation gives. The global random state is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(**TINY_ARCHITECTURE).eval()
    with torch.no_grad():
        model.Gain.mul_(3.0)
        model.InverseGain.div_(3.0)
        for table in (model.Gain, model.InverseGain, model.HyperGain, model.InverseHyperGain):
            table.mul_(torch.linspace(0.7, 1.4, LEVELS)[:, None])
    return model


class MPATinyCodec(MPACodec):
    """Test only: MPA's structure reduced (N=32, M=80, one or two blocks per stage) with seeded random weights."""

    name: ClassVar[str] = "mpa-tiny"
    description: ClassVar[str] = "TEST ONLY: reduced MPA architecture with random weights (no trained model)"
    test_only: ClassVar[bool] = True

    def __init__(self, seed: int = 0, alphas: Sequence[float] = (0.0, 1.0), tasks: Sequence[str] = ("mse",),
                 qualities: Sequence[float] = (1.0, 4.5, 8.0), device: str = "cpu", attention: str = "auto"):
        weights = InMemoryModels({None: random_mpa(MPA, seed)}, f"random weights (seed {seed}), test only")
        super().__init__(weights, alphas, tasks, qualities, device, attention)


class MPAEncTinyCodec(MPAEncCodec):
    """Test only: MPAEnc's structure reduced as :class:`MPATinyCodec`'s, with seeded random weights."""

    name: ClassVar[str] = "mpa-enc-tiny"
    description: ClassVar[str] = "TEST ONLY: reduced MPAEnc architecture with random weights (no trained model)"
    test_only: ClassVar[bool] = True

    def __init__(self, seed: int = 1, qualities: Sequence[float] = (1.0, 4.5, 8.0), device: str = "cpu",
                 attention: str = "auto"):
        weights = InMemoryModels({None: random_mpa(MPAEnc, seed)}, f"random weights (seed {seed}), test only")
        super().__init__(weights, qualities, device, attention)
