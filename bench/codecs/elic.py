"""ELIC (He et al., CVPR 2022) in the state-dict layout of CompressAI's ``elic2022-official``, and its codec.

The model is written from the paper; its module tree, parameter names and shapes, the channel-ramp widths of the
parameter aggregation and the order of the entropy-coded strings are those of CompressAI's ``Elic2022Official``
(``compressai/models/sensetime.py``, built from ``compressai/latent_codecs``; CompressAI main 869a9f5, identical
to release 1.2.8 for these classes), so that checkpoints trained with CompressAI load unchanged and code into the
same bytes. ``tests/assets/elic2022_official_state_dict.json`` holds every key and shape of the default model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from bench.checkpoints import load_state_dict_checked, read_state_dict, strip_module_prefix
from bench.codecs.elic_blocks import (
    CheckerboardConv2d,
    DecodeStep,
    ELICSynthesis,
    EncodeStep,
    QuantizeStep,
    checkerboard_merge,
    checkerboard_split,
    elic_analysis,
    pointwise_ramp,
)
from bench.codecs.entropy import get_scale_table
from bench.codecs.layers import conv, deconv
from bench.codecs.learned import (
    InMemoryModels,
    LearnedCodec,
    Weights,
    WeightsKey,
    check_finite,
    identify_checkpoint,
    in_memory_weights,
    rate_point_files,
)
from bench.timing import Stopwatch

GROUPS: tuple[int, ...] = (16, 16, 32, 64, 192)  # ELIC's uneven channel groups of M = 320
CHANNEL_CONTEXT_WIDTHS = (224, 128)  # hidden widths of g_ch, the channel-context network of each group

ELIC_WEIGHTS_HINT = (
    "ELIC checkpoints trained with CompressAI (model elic2022-official, e.g. CompressAI's examples/train.py "
    "-m elic2022-official) load unchanged; CompressAI publishes no ELIC weights. Pass them with "
    "--checkpoint elic=PATH (a file, or a folder of one file per rate, sorted low to high rate)"
)


class HyperBranch(nn.Module):
    """z = h_a(y), coded by a factorized entropy bottleneck; h_s(z_hat) gives the 2N-channel hyper parameters."""

    def __init__(self, N: int, M: int):
        super().__init__()
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.ReLU(), conv(N, N), nn.ReLU(), conv(N, N))
        self.h_s = nn.Sequential(deconv(N, N), nn.ReLU(), deconv(N, N * 3 // 2), nn.ReLU(),
                                 deconv(N * 3 // 2, N * 2, 3, 1))
        self.entropy_bottleneck = EntropyBottleneck(N)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval pass: (hyper parameters, z likelihoods) with the decoder's z_hat."""
        z_hat, likelihoods = self.entropy_bottleneck(self.h_a(y), training=False)
        return self.h_s(z_hat), likelihoods

    def encode(self, y: torch.Tensor) -> tuple[list[bytes], torch.Tensor]:
        z = self.h_a(y)
        strings = self.entropy_bottleneck.compress(z)
        return strings, self.h_s(self.entropy_bottleneck.decompress(strings, z.shape[-2:]))

    def decode(self, strings: list[bytes], shape: Sequence[int]) -> torch.Tensor:
        return self.h_s(self.entropy_bottleneck.decompress(strings, tuple(shape)))


class GaussianHolder(nn.Module):
    """Holds a group's Gaussian conditional (``...y{k}.y.gaussian_conditional`` in CompressAI's tree)."""

    def __init__(self):
        super().__init__()
        self.gaussian_conditional = GaussianConditional(None)


class CheckerboardGroup(nn.Module):
    """One channel group coded in two checkerboard passes (He et al., CVPR 2021): anchors first, from the side
    parameters alone; then the non-anchors, with the spatial context ``context_prediction`` of the decoded anchors.

    Gaussian parameters: ``entropy_parameters(cat(spatial context (2C), side))`` -> (scales, means), where side is the
    hyper parameters (2N), preceded for groups k > 0 by the channel context (2C). Anchors see a zero context.
    """

    def __init__(self, channels: int, side_channels: int, N: int):
        super().__init__()
        self.entropy_parameters = pointwise_ramp(2 * channels + side_channels, 2 * channels, minimum=2 * N)
        self.context_prediction = CheckerboardConv2d(channels, 2 * channels, 5)
        self.y = GaussianHolder()

    def code(self, side: torch.Tensor, step, y: torch.Tensor | None = None) -> torch.Tensor:
        sides = checkerboard_split(side)
        parts = checkerboard_split(y) if y is not None else (None, None)
        gaussian = self.y.gaussian_conditional
        context = sides.new_zeros((*sides.shape[1:2], self.context_prediction.out_channels, *sides.shape[3:]))
        anchors = step(parts[0], *self._scales_means(context, sides[0]), gaussian)
        context = checkerboard_split(self.context_prediction(checkerboard_merge(anchors, torch.zeros_like(anchors))))[1]
        non_anchors = step(parts[1], *self._scales_means(context, sides[1]), gaussian)
        return checkerboard_merge(anchors, non_anchors)

    def _scales_means(self, context: torch.Tensor, side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scales, means = self.entropy_parameters(torch.cat((context, side), dim=1)).chunk(2, dim=1)
        return scales, means


class SpaceChannelContext(nn.Module):
    """ELIC's space-channel context model (SCCTX): uneven channel groups coded one after the other, each with the
    channel context ``channel_context[y{k}]`` of all previous groups (g_ch, three 5x5 convolutions 224, 128, 2C)
    and its own checkerboard spatial context."""

    def __init__(self, N: int, groups: Sequence[int]):
        super().__init__()
        self.groups = tuple(groups)
        hidden_1, hidden_2 = CHANNEL_CONTEXT_WIDTHS
        self.channel_context = nn.ModuleDict({
            f"y{k}": nn.Sequential(conv(sum(self.groups[:k]), hidden_1, 5, 1), nn.ReLU(),
                                   conv(hidden_1, hidden_2, 5, 1), nn.ReLU(),
                                   conv(hidden_2, 2 * self.groups[k], 5, 1))
            for k in range(1, len(self.groups))
        })
        self.latent_codec = nn.ModuleDict({
            f"y{k}": CheckerboardGroup(size, 2 * N + (2 * size if k else 0), N) for k, size in enumerate(self.groups)
        })

    def code(self, params: torch.Tensor, step, y: torch.Tensor | None = None) -> torch.Tensor:
        """Runs the groups in order; ``step`` turns each half's Gaussian parameters into its y_hat."""
        y_groups = y.split(self.groups, dim=1) if y is not None else [None] * len(self.groups)
        decoded: list[torch.Tensor] = []
        for k, y_group in enumerate(y_groups):
            side = params
            if k:
                side = torch.cat((self.channel_context[f"y{k}"](torch.cat(decoded, dim=1)), params), dim=1)
            decoded.append(self.latent_codec[f"y{k}"].code(side, step, y_group))
        return torch.cat(decoded, dim=1)


class ELICLatentCodec(nn.Module):
    """``latent_codec`` of CompressAI's model: the space-channel context model ``y`` and the hyperprior ``hyper``."""

    def __init__(self, N: int, M: int, groups: Sequence[int]):
        super().__init__()
        self.y = SpaceChannelContext(N, groups)
        self.hyper = HyperBranch(N, M)


class LatentCodingModel(nn.Module):
    """What ELIC and the MRIC-style model share: strict loading from a state dict (the architecture read from its
    shapes), the CDF update and CompressAI's ``compress`` API. Subclasses define ``g_a``, ``code_latents``,
    ``decode_latents`` and :meth:`architecture_arguments`."""

    checkpoint_label: ClassVar[str]  # "an ELIC (...)", used in checkpoint messages

    @staticmethod
    def architecture_arguments(state_dict) -> dict[str, Any]:
        """Constructor arguments a state dict of this layout was saved with; {} for another layout."""
        raise NotImplementedError

    def compress(self, x: torch.Tensor) -> dict:
        """CompressAI's API: {"strings": [y strings ..., z strings] (each a list over the batch), "shape": z's
        spatial size}."""
        if x.shape[-2] % 64 or x.shape[-1] % 64:
            raise ValueError(f"input size {tuple(x.shape[-2:])} must be a multiple of 64 (pad it first)")
        strings, _ = self.code_latents(self.g_a(x))
        return {"strings": strings, "shape": (x.shape[-2] // 64, x.shape[-1] // 64)}

    def update(self, scale_table: torch.Tensor | None = None, force: bool = False) -> bool:
        """Rebuilds the CDF tables of the entropy bottleneck and of every Gaussian conditional."""
        return update_entropy_models(self, scale_table, force)

    @classmethod
    def from_state_dict(cls, state_dict, device: str | torch.device = "cpu", source: str | Path = "<state dict>"):
        """Builds the model the state dict was saved with, loads it strictly (bench.checkpoints: a checkpoint of
        another codec is named), rebuilds the CDF tables and sets eval mode."""
        try:
            with torch.device("meta"):  # every tensor comes from the state dict: skip the random initialisation
                model = cls(**cls.architecture_arguments(state_dict))
        except ValueError:  # inconsistent shapes: let the strict check below name what differs
            with torch.device("meta"):
                model = cls()
        model = model.to_empty(device="cpu")
        load_state_dict_checked(model, state_dict, source, cls.checkpoint_label, identify=identify_checkpoint)
        model.update(force=True)
        return model.eval().to(device)


class ELIC(LatentCodingModel):
    """ELIC: D. He, Z. Yang, W. Peng, R. Ma, H. Qin, Y. Wang, "ELIC: Efficient Learned Image Compression with
    Unevenly Grouped Space-Channel Contextual Adaptive Coding", CVPR 2022 (arXiv 2203.10886); layout of
    CompressAI's ``elic2022-official``::

        x -> g_a -> y -> h_a -> z -> [EB] -> h_s -> params (2N)
        y in 5 channel groups (16, 16, 32, 64, 192), coded in order; group k:
            side      = cat(g_ch_k(y_hat of groups 0..k-1), params)            (params alone for k = 0)
            anchors   : (scales, means) = aggregation_k(cat(0, side))           -> [GC] -> y_hat_k anchors
            non-anch. : (scales, means) = aggregation_k(cat(g_sp_k(anchors), side)) -> [GC] -> y_hat_k
        y_hat -> g_s -> x_hat

    g_ch: three 5x5 convolutions (224, 128, 2C); g_sp: a 5x5 checkerboard-masked convolution (2C); aggregation:
    three 1x1 convolutions ramping from the input width to 2C (at least 2N inside).

    Strings, in order: (anchors, non-anchors) of each group, then z: 11 strings per image.

    Args:
        N: main channels (192). M: latent channels (320). groups: channel group sizes (sum M).
    """

    checkpoint_label: ClassVar[str] = "an ELIC (CompressAI elic2022-official layout)"

    def __init__(self, N: int = 192, M: int = 320, groups: Sequence[int] = GROUPS):
        super().__init__()
        if sum(groups) != M:
            raise ValueError(f"ELIC channel groups {list(groups)} must add up to M = {M}")
        self.N, self.M = N, M
        self.g_a = elic_analysis(N, M)
        self.g_s = ELICSynthesis(M, N)
        self.latent_codec = ELICLatentCodec(N, M, groups)

    def forward(self, x: torch.Tensor) -> dict:
        """Eval forward: {x_hat (not clamped), likelihoods{y, z}}, with the y_hat and z_hat the decoder gets."""
        y = self.g_a(x)
        params, z_likelihoods = self.latent_codec.hyper(y)
        step = QuantizeStep()
        y_hat = self.latent_codec.y.code(params, step, y)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": _merge_halves(step.likelihoods), "z": z_likelihoods}}

    def code_latents(self, y: torch.Tensor) -> tuple[list[list[bytes]], torch.Tensor]:
        """Codes y (and its hyperprior z): the strings (each a list over the batch) and the decoder's y_hat."""
        z_strings, params = self.latent_codec.hyper.encode(y)
        step = EncodeStep()
        y_hat = self.latent_codec.y.code(params, step, y)
        return [*step.strings, z_strings], y_hat

    def decode_latents(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int]) -> torch.Tensor:
        """y_hat from the strings of :meth:`code_latents`; ``shape`` is z's (H/64, W/64)."""
        *y_strings, z_strings = strings
        params = self.latent_codec.hyper.decode(list(z_strings), shape)
        step = DecodeStep([list(s) for s in y_strings])
        y_hat = self.latent_codec.y.code(params, step)
        if step.used != len(y_strings):
            raise ValueError(f"the bitstream holds {len(y_strings)} latent strings; the model used {step.used}")
        return y_hat

    def decompress(self, strings, shape) -> dict:
        return {"x_hat": self.g_s(self.decode_latents(strings, shape)).clamp_(0, 1)}

    @staticmethod
    def architecture_arguments(state_dict) -> dict[str, Any]:
        """N, M and the groups a (CompressAI-layout) state dict was saved with; {} when it is another layout."""
        keys = {strip_module_prefix(k): v for k, v in state_dict.items()}
        groups = []
        while (key := f"latent_codec.y.latent_codec.y{len(groups)}.context_prediction.weight") in keys:
            groups.append(int(keys[key].shape[1]))
        if "g_a.0.weight" not in keys or "g_a.13.weight" not in keys or not groups:
            return {}
        return {"N": int(keys["g_a.0.weight"].shape[0]), "M": int(keys["g_a.13.weight"].shape[0]), "groups": groups}


def update_entropy_models(model: nn.Module, scale_table: torch.Tensor | None, force: bool) -> bool:
    """``update()`` of every entropy bottleneck and Gaussian conditional in ``model`` (CompressAI's semantics).

    ELIC has one Gaussian conditional per channel group, all with the same scale table: the CDF tables are built
    once and copied to the others with the same settings (they are a function of the scale table, the tail mass
    and the coder precision only).
    """
    scale_table = get_scale_table() if scale_table is None else scale_table
    updated = False
    built: GaussianConditional | None = None
    for module in model.modules():
        if isinstance(module, EntropyBottleneck):
            updated |= module.update(force=force)
        elif isinstance(module, GaussianConditional):
            if built is not None and (module.tail_mass, module.entropy_coder_precision) == \
                    (built.tail_mass, built.entropy_coder_precision) and (force or module._offset.numel() == 0):
                for name in ("scale_table", "_quantized_cdf", "_offset", "_cdf_length"):
                    setattr(module, name, getattr(built, name).clone().to(getattr(module, name).device))
                updated = True
            elif module.update_scale_table(scale_table, force=force):
                built, updated = module, True
    return updated


def _merge_halves(likelihoods: list[torch.Tensor]) -> torch.Tensor:
    """(anchors, non-anchors) likelihoods of each group, in coding order -> the (B, M, H, W) map."""
    pairs = zip(likelihoods[0::2], likelihoods[1::2])
    return torch.cat([checkerboard_merge(anchors, non_anchors) for anchors, non_anchors in pairs], dim=1)




# --- codec ----------------------------------------------------------------------------------------------------


class ELICCodec(LearnedCodec):
    """ELIC as a bench codec: one checkpoint per rate point (rate points 1, 2, ... in file-name or list order).

    Inputs are zero-padded, centred, to a multiple of 64 (the model's total stride, as CompressAI's evaluation pads)
    and cropped back. Encode timings: ``network`` (g_a) and ``entropy`` (hyperprior, context model, rANS); decode
    timings: ``entropy`` and ``synthesis``.

    Args:
        checkpoint: a checkpoint file, a list of them (low to high rate) or a folder of them (CompressAI
            ``elic2022-official`` layout).
        device: ``cpu`` or ``cuda[:i]``.
    """

    name: ClassVar[str] = "elic"
    description: ClassVar[str] = "ELIC (He et al., CVPR 2022), CompressAI elic2022-official layout"
    container_id: ClassVar[int] = 32
    checkpoint_label: ClassVar[str] = ELIC.checkpoint_label
    weights_hint: ClassVar[str] = ELIC_WEIGHTS_HINT
    # CompressAI publishes no ELIC weights (nor digests): none is known to be official.
    KNOWN_OFFICIAL_SHA256: ClassVar[frozenset[str]] = frozenset()
    profile_kind: ClassVar[str] = "compressai"  # CompressAI's compress/decompress API: batched timing works as is
    model_class: ClassVar[type[LatentCodingModel]] = ELIC

    def __init__(self, checkpoint: str | Sequence[str] | InMemoryModels, device: str = "cpu"):
        if isinstance(checkpoint, InMemoryModels):
            weights = in_memory_weights(checkpoint)
        else:
            weights = {float(i): Weights(path=path)
                       for i, path in enumerate(rate_point_files(checkpoint, self.weights_hint), 1)}
        super().__init__(weights, device)

    @classmethod
    def recognizes(cls, state_dict: Mapping[str, torch.Tensor]) -> bool:
        """ELIC's channel context of the second group, and no beta conditioning."""
        return "latent_codec.y.channel_context.y1.0.weight" in state_dict and "beta_mlp.0.weight" not in state_dict

    @classmethod
    def build_model(cls, quality: float | None = None, state_dict: Mapping[str, torch.Tensor] | None = None,
                    device: str = "cpu") -> nn.Module:
        arguments = cls.model_class.architecture_arguments(state_dict) if state_dict is not None else {}
        with torch.device(device):  # some CompressAI buffers are made on the CPU whatever the default device
            model = cls.model_class(**arguments)
        return model.to(device).eval()

    def load_model(self, path: Path, key: WeightsKey) -> nn.Module:
        return self.model_class.from_state_dict(read_state_dict(path, self.weights_hint), self.device, source=path)

    def rate_points(self) -> Sequence[float]:
        return tuple(sorted(self.weights))

    def compress(self, model: nn.Module, x: torch.Tensor, point: float, clock: Stopwatch) -> list[bytes]:
        y = clock.run("network", model.g_a, x)
        check_finite(self.name, "the latents y", y, "nothing was entropy-coded")
        strings, _ = clock.run("entropy", model.code_latents, y)
        return [s[0] for s in strings]

    def decompress(self, model: nn.Module, strings: Sequence[bytes], shape: tuple[int, int], point: float,
                   variants: Iterable[str], clock: Stopwatch) -> Iterator[tuple[str, torch.Tensor, dict]]:
        """Entropy-decodes once, then runs the synthesis once per variant (timings: the shared ``entropy`` and the
        variant's ``synthesis``)."""
        y_hat = clock.run("entropy", model.decode_latents, [[s] for s in strings], (shape[0] // 64, shape[1] // 64))
        for variant in variants:
            variant_clock = Stopwatch(self.device)
            x_hat = variant_clock.run("synthesis", self.synthesize, model, y_hat, variant)
            yield variant, x_hat.clamp(0, 1), {"entropy": clock.times["entropy"],
                                               "synthesis": variant_clock.times["synthesis"]}

    def synthesize(self, model: nn.Module, y_hat: torch.Tensor, variant: str) -> torch.Tensor:
        """x_hat (not clamped) of one decoder variant; ELIC has one."""
        self.check_single_decoder(variant)
        return model.g_s(y_hat)
