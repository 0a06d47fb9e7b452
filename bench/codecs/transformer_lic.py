"""The transformer image codec skeleton shared by TinyLIC, MPAEnc and MPA.

Convolutional down/up-sampling stems around neighborhood-attention stages (depths [2, 2, 6, 2, 2, 2], heads
[8, 12, 16, 20, 12, 12], kernel 7 in the main transforms and 3 in the hyper transforms), a factorized hyperprior
on z, and the channel/spatial context model of :mod:`bench.codecs.entropy` on y. Module names are the official
ones (``g_a0`` .. ``g_a7``, ``h_a0`` .. ``h_a3``, ``h_s0`` .. ``h_s3``, ``g_s0`` .. ``g_s7``). The variable-rate
models (MPAEnc, MPA) add per-quality gains on y and z and layer scales in every block; TinyLIC has neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn

from bench.checkpoints import Identify, load_state_dict_checked, read_state_dict, strip_module_prefix
from bench.codecs.entropy import ForkEntropyBottleneck, SliceContextMixin, get_scale_table
from bench.codecs.layers import (
    LEVELS,
    ResViTBlock,
    check_quality,
    conv,
    deconv,
    interpolate_levels,
    set_attention_backend,
)
from bench.codecs.learned import LearnedCodec, Weights, check_finite, identify_checkpoint
from bench.timing import Stopwatch

DEPTHS = (2, 2, 6, 2, 2, 2)  # g_a1, g_a3, g_a5, g_a7, h_a1, h_a3 (the synthesis mirrors them)
NUM_HEADS = (8, 12, 16, 20, 12, 12)
_STAGES = ("g_a1", "g_a3", "g_a5", "g_a7", "h_a1", "h_a3")
KERNEL_SIZE = 7
MLP_RATIO = 2.0


def check_input_size(height: int, width: int, minimum: int) -> None:
    if height % 64 or width % 64 or height < minimum or width < minimum:
        raise ValueError(
            f"input of {height}x{width} px: the model needs a multiple of 64 and at least {minimum} px per axis "
            f"(the codec wrappers pad to a multiple of 256)"
        )


class TransformerLIC(SliceContextMixin, nn.Module):
    """Analysis, hyper-analysis, hyper-synthesis and synthesis transforms plus the entropy models.

    Args:
        N, M: channels (official 128 and 320).
        depths, num_heads: blocks and heads of g_a1, g_a3, g_a5, g_a7, h_a1, h_a3 (and of their mirrors in the
            synthesis); the official values are the defaults, smaller ones make fast test models.
        levels: quality levels of gains and layer scales (8), or None for a fixed-rate model.
        pad_small: attention pads inputs smaller than the kernel (TinyLIC) instead of raising (MPA).
        encoder_multipath: g_a1/g_a3/g_a5 route tokens between a main MLP and a FastMlp side path.
        decoder_task_ratios: hidden-size ratios of the decoder side paths, one per task (MPA), or None.
    """

    min_size: ClassVar[int] = 192

    def __init__(self, N: int = 128, M: int = 320, *, levels: int | None, pad_small: bool,
                 encoder_multipath: bool, decoder_task_ratios: Sequence[float] | None,
                 depths: Sequence[int] = DEPTHS, num_heads: Sequence[int] = NUM_HEADS):
        super().__init__()
        self.N, self.M, self.levels = N, M, levels
        dims = (N, N * 3 // 2, N * 2, M)
        depth = dict(zip(("a1", "a3", "a5", "a7", "ha1", "ha3"), depths))
        heads = dict(zip(("a1", "a3", "a5", "a7", "ha1", "ha3"), num_heads))
        hyper_kernel = KERNEL_SIZE // 2

        def stage(dim, name, kernel, multipath=False, tasks=None):
            return ResViTBlock(dim, depth[name], heads[name], kernel, MLP_RATIO, levels, multipath, tasks, pad_small)

        decoder_multipath = decoder_task_ratios is not None
        self.g_a0 = conv(3, dims[0], 5, 2)
        self.g_a1 = stage(dims[0], "a1", KERNEL_SIZE, encoder_multipath)
        self.g_a2 = conv(dims[0], dims[1], 3, 2)
        self.g_a3 = stage(dims[1], "a3", KERNEL_SIZE, encoder_multipath)
        self.g_a4 = conv(dims[1], dims[2], 3, 2)
        self.g_a5 = stage(dims[2], "a5", KERNEL_SIZE, encoder_multipath)
        self.g_a6 = conv(dims[2], M, 3, 2)
        self.g_a7 = stage(M, "a7", KERNEL_SIZE)

        self.h_a0 = conv(M, dims[1], 3, 2)
        self.h_a1 = stage(dims[1], "ha1", hyper_kernel)
        self.h_a2 = conv(dims[1], dims[1], 3, 2)
        self.h_a3 = stage(dims[1], "ha3", hyper_kernel)

        # The synthesis mirrors the analysis: h_s0/h_s2 take the hyper stages' depth and heads, g_s0..g_s6 those
        # of g_a7..g_a1.
        self.h_s0 = stage(dims[1], "ha3", hyper_kernel)
        self.h_s1 = deconv(dims[1], dims[1], 3, 2)
        self.h_s2 = stage(dims[1], "ha1", hyper_kernel)
        self.h_s3 = deconv(dims[1], 2 * M, 3, 2)

        self.g_s0 = stage(M, "a7", KERNEL_SIZE)
        self.g_s1 = deconv(M, dims[2], 3, 2)
        self.g_s2 = stage(dims[2], "a5", KERNEL_SIZE, decoder_multipath, decoder_task_ratios)
        self.g_s3 = deconv(dims[2], dims[1], 3, 2)
        self.g_s4 = stage(dims[1], "a3", KERNEL_SIZE, decoder_multipath, decoder_task_ratios)
        self.g_s5 = deconv(dims[1], dims[0], 3, 2)
        self.g_s6 = stage(dims[0], "a1", KERNEL_SIZE, decoder_multipath, decoder_task_ratios)
        self.g_s7 = deconv(dims[0], 3, 5, 2)

        self.entropy_bottleneck = ForkEntropyBottleneck(dims[1])
        self._init_slice_context(M)
        if levels is not None:
            self.Gain = nn.Parameter(torch.ones(levels, M))
            self.InverseGain = nn.Parameter(torch.ones(levels, M))
            self.HyperGain = nn.Parameter(torch.ones(levels, dims[1]))
            self.InverseHyperGain = nn.Parameter(torch.ones(levels, dims[1]))
        if not self.g_a0.weight.is_meta:  # built on the meta device only to be filled from a checkpoint
            self.apply(_init_weights)

    # --- construction ------------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu", attention: str = "auto",
                        missing_hint: str = "", label: str | None = None):
        """Builds the model from an official checkpoint file (see :meth:`from_state_dict`).

        Raises:
            bench.errors.CheckpointError: missing, unreadable or mismatched file (naming the codec the file looks
                like when it is another one).
        """
        return cls.from_state_dict(read_state_dict(path, missing_hint), device, attention, source=path, label=label)

    @classmethod
    def from_state_dict(cls, state_dict, device: str | torch.device = "cpu", attention: str = "auto",
                        source: str | Path = "<state dict>", label: str | None = None,
                        identify: Identify | None = identify_checkpoint):
        """Builds the model with N and M read from the state dict (as the official ``from_state_dict``), loads it
        strictly, rebuilds the CDF tables with ``update(force=True)`` and sets eval mode.

        Args:
            label: what the model is in messages (default ``the <class name>``); codecs pass their own.
        """
        with torch.device("meta"):  # every tensor comes from the state dict: skip the random initialisation
            model = cls(**architecture_arguments(state_dict))
        model = model.to_empty(device="cpu")
        load_state_dict_checked(model, state_dict, source, label or f"the {cls.__name__}", identify=identify,
                                explain=missing_relative_position_bias)
        model.update(force=True)
        set_attention_backend(model, attention)
        return model.eval().to(device)

    def update(self, scale_table: torch.Tensor | None = None, force: bool = False) -> bool:
        """Rebuilds the Gaussian scale table CDFs and the bottleneck CDFs (fork construction)."""
        if scale_table is None:
            scale_table = get_scale_table()
        updated = self.gaussian_conditional.update_scale_table(scale_table, force=force)
        updated |= self.entropy_bottleneck.update(force=force)
        return updated

    def set_attention(self, backend: str) -> None:
        """Selects the neighborhood-attention path (``auto``, ``reference``, ``tiled``, ``flex``)."""
        set_attention_backend(self, backend)

    # --- transforms --------------------------------------------------------------------------------------------

    def _gain(self, name: str, quality: float | None) -> torch.Tensor | None:
        if quality is None or self.levels is None:
            return None
        return interpolate_levels(getattr(self, name), quality)[None, :, None, None]

    def _scaled(self, x: torch.Tensor, name: str, quality: float | None) -> torch.Tensor:
        gain = self._gain(name, quality)
        return x if gain is None else x * gain

    def g_a(self, x: torch.Tensor, quality: float | None = None):
        decisions = []
        x = self.g_a0(x)
        for stage, down in ((self.g_a1, self.g_a2), (self.g_a3, self.g_a4), (self.g_a5, self.g_a6)):
            x, made = stage(x, quality)
            decisions += made
            x = down(x)
        x, made = self.g_a7(x, quality)
        return x, decisions + made

    def h_a(self, y: torch.Tensor, quality: float | None = None) -> torch.Tensor:
        z, _ = self.h_a1(self.h_a0(y), quality)
        z, _ = self.h_a3(self.h_a2(z), quality)
        return z

    def h_s(self, z_hat: torch.Tensor, quality: float | None = None) -> torch.Tensor:
        x, _ = self.h_s0(z_hat, quality)
        x, _ = self.h_s2(self.h_s1(x), quality)
        return self.h_s3(x)

    def g_s(self, y_hat: torch.Tensor, quality: float | None = None, q_task: float | None = None,
            task_idx: int = 0):
        """Synthesis; decisions are returned in the official order (g_s6, g_s4, g_s2, g_s0)."""
        decisions = []
        x, made = self.g_s0(y_hat, quality, q_task, task_idx)
        decisions.append(made)
        for up, stage in ((self.g_s1, self.g_s2), (self.g_s3, self.g_s4), (self.g_s5, self.g_s6)):
            x, made = stage(up(x), quality, q_task, task_idx)
            decisions.append(made)
        return self.g_s7(x), [d for made in reversed(decisions) for d in made]

    # --- the codec pipeline in four parts (the wrappers time them separately) ------------------------------------

    def analyze(self, x: torch.Tensor, quality: float | None = None):
        """x -> (y, z), gains applied; plus the encoder's token decisions."""
        check_input_size(x.shape[-2], x.shape[-1], self.min_size)
        y, decisions = self.g_a(x, quality)
        y = self._scaled(y, "Gain", quality)
        z = self._scaled(self.h_a(y, quality), "HyperGain", quality)
        return y, z, decisions

    def code_latents(self, y: torch.Tensor, z: torch.Tensor, quality: float | None = None):
        """Entropy-codes z then y; returns the official ``{"strings": [[y], z_strings], "shape"}`` and y_hat."""
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        params = self.h_s(self._scaled(z_hat, "InverseHyperGain", quality), quality)
        y_string, y_hat = self.compress_y(y, params)
        return {"strings": [[y_string], z_strings], "shape": z.shape[-2:]}, y_hat

    def decode_latents(self, strings, shape, quality: float | None = None) -> torch.Tensor:
        """Entropy-decodes z then y; returns y_hat with the inverse gain applied (input of g_s)."""
        if not isinstance(strings, (list, tuple)) or len(strings) != 2:
            raise ValueError("strings must be [y_strings, z_strings]")
        z_hat = self.entropy_bottleneck.decompress(list(strings[1]), tuple(shape))
        params = self.h_s(self._scaled(z_hat, "InverseHyperGain", quality), quality)
        y_hat = self.decompress_y(strings[0][0], params)
        return self._scaled(y_hat, "InverseGain", quality)

    def synthesize(self, y_hat: torch.Tensor, quality: float | None = None, q_task: float | None = None,
                   task_idx: int = 0) -> torch.Tensor:
        """g_s of an (inverse-gained) y_hat, clamped to [0, 1]."""
        x_hat, _ = self.g_s(y_hat, quality, q_task, task_idx)
        return x_hat.clamp_(0, 1)

    def _forward(self, x: torch.Tensor, quality: float | None, q_task: float | None, task_idx: int) -> dict:
        y, z, enc_decisions = self.analyze(x, quality)
        _, z_likelihoods = self.entropy_bottleneck(z, training=False)
        medians = self.entropy_bottleneck._get_medians().reshape(1, -1, 1, 1)
        z_hat = torch.round(z - medians) + medians
        params = self.h_s(self._scaled(z_hat, "InverseHyperGain", quality), quality)
        y_hat, y_likelihoods = self.quantize_y(y, params)
        x_hat, dec_decisions = self.g_s(self._scaled(y_hat, "InverseGain", quality), quality, q_task, task_idx)
        return {
            "x_hat": x_hat,
            "likelihoods": {"y": y_likelihoods, "z": z_likelihoods},
            "decisions": {"enc": enc_decisions, "dec": dec_decisions, "henc": [], "hdec": []},
            "latent": {"y": y, "y_hat": y_hat},
        }


def architecture_arguments(state_dict) -> dict:
    """N, M, depths and heads of the model a state dict was saved from (official defaults where a key is missing,
    so that a foreign state dict still reaches the strict check and its readable error)."""
    keys = {strip_module_prefix(k): v for k, v in state_dict.items()}
    N = keys["g_a0.weight"].shape[0] if "g_a0.weight" in keys else 128
    M = keys["g_a6.weight"].shape[0] if "g_a6.weight" in keys else 320
    depths, heads = list(DEPTHS), list(NUM_HEADS)
    for index, stage in enumerate(_STAGES):
        prefix = f"{stage}.residual_group.blocks."
        blocks = {int(k[len(prefix):].split(".")[0]) for k in keys if k.startswith(prefix)}
        if blocks:
            depths[index] = max(blocks) + 1
        rpb = keys.get(f"{prefix}0.attn.rpb")
        if rpb is not None:
            heads[index] = rpb.shape[0]
    return {"N": N, "M": M, "depths": tuple(depths), "num_heads": tuple(heads)}


def missing_relative_position_bias(missing: list[str], state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Explains missing ``attn.rpb`` keys in a file that is otherwise a transformer codec's (MPA/TinyLIC-like)."""
    if any(k.endswith(".attn.rpb") for k in missing) and any(".residual_group.blocks." in k for k in state_dict):
        return ("attn.rpb keys are missing: checkpoints trained without relative position bias "
                "(before NJUVISION/MPA 9dea541) are not supported")
    return None


def _init_weights(module: nn.Module) -> None:
    # The official init is trunc_normal_(std=0.02) with absolute bounds +-2 (100 std): a plain normal is the same
    # distribution for all practical purposes and much faster to draw.
    if isinstance(module, nn.Linear):
        with torch.no_grad():
            module.weight.normal_(std=0.02).clamp_(-2.0, 2.0)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def check_task(q_task: float, task_idx: int) -> None:
    check_quality(q_task, LEVELS)
    if task_idx not in (0, 1, 2):
        raise ValueError(f"task_idx must be 0 (mse), 1 (cls) or 2 (seg), got {task_idx}")


class TransformerCodec(LearnedCodec):
    """The codec side of TinyLIC, MPAEnc and MPA: padding to 256, two strings ``[y, z]``, timings split into
    ``network`` / ``entropy`` (encode) and ``entropy`` / ``synthesis`` (decode), entropy decoding shared by every
    decoder variant.

    Subclasses set ``model_class`` and say how a rate point maps to the model's quality (:meth:`point_quality`)
    and a variant to its decoder arguments (:meth:`variant_arguments`).
    """

    model_class: ClassVar[type[TransformerLIC]]
    pad_multiple: ClassVar[int] = 256
    profile_kind: ClassVar[str] = "transformer"
    explain_mismatch = staticmethod(missing_relative_position_bias)

    def __init__(self, weights: Mapping[float | None, Weights], device: str = "cpu", attention: str = "auto"):
        self.attention = attention
        super().__init__(weights, device)

    @classmethod
    def build_model(cls, quality: float | None = None, state_dict: Mapping[str, torch.Tensor] | None = None,
                    device: str = "cpu") -> TransformerLIC:
        arguments = architecture_arguments(state_dict) if state_dict is not None else {}
        with torch.device(device):  # on meta: no memory, no initialisation (buffers made on the CPU are moved)
            model = cls.model_class(**arguments)
        return model.to(device).eval()

    def load_model(self, path: Path, key: float | None) -> TransformerLIC:
        return self.model_class.from_checkpoint(path, self.device, self.attention, self.weights_hint,
                                                label=self.checkpoint_label)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        model.set_attention(self.attention)
        return super().prepare_model(model)

    def model_quality(self, key: float | None) -> None:
        return None  # the architecture does not depend on the rate point

    def point_quality(self, point: float) -> float | None:
        """The model's ``quality`` argument for a rate point (None for fixed-rate models)."""
        return None

    def variant_arguments(self, variant: str) -> tuple[float | None, int]:
        """``(q_task, task_idx)`` of the synthesis for a decoder variant."""
        self.check_single_decoder(variant)
        return None, 0

    def compress(self, model: nn.Module, x: torch.Tensor, point: float, clock: Stopwatch) -> list[bytes]:
        quality = self.point_quality(point)
        y, z, _ = clock.run("network", model.analyze, x, quality)
        for name, latent in (("y", y), ("z", z)):
            check_finite(self.name, f"the latent {name}", latent, "nothing was entropy-coded")
        result, _ = clock.run("entropy", model.code_latents, y, z, quality)
        return [result["strings"][0][0], result["strings"][1][0]]

    def decompress(self, model: nn.Module, strings: Sequence[bytes], shape: tuple[int, int], point: float,
                   variants: Iterable[str], clock: Stopwatch) -> Iterator[tuple[str, torch.Tensor, dict]]:
        quality = self.point_quality(point)
        if len(strings) != 2:
            raise ValueError(f"{self.name} bitstreams hold 2 strings [y, z], this one {len(strings)}")
        y_string, z_string = strings
        y_hat = clock.run("entropy", model.decode_latents, [[y_string], [z_string]], (shape[0] // 64, shape[1] // 64),
                          quality)
        for variant in variants:
            q_task, task_idx = self.variant_arguments(variant)
            variant_clock = Stopwatch(self.device)
            x_hat = variant_clock.run("synthesis", model.synthesize, y_hat, quality, q_task, task_idx)
            yield variant, x_hat, {"entropy": clock.times["entropy"], "synthesis": variant_clock.times["synthesis"]}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "attention": self.attention}
