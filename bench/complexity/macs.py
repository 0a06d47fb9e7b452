"""MACs per pixel with ``torch.utils.flop_counter.FlopCounterMode``, neighborhood attention included.

FlopCounterMode counts the matrix products and convolutions of a forward pass (``mm``, ``addmm``, ``bmm``,
``convolution`` ...; one multiply-accumulate = 2 FLOPs, so MACs = FLOPs / 2). Two things need help:

- **Neighborhood attention.** The CPU fast path computes attention densely over 8x8 query tiles against 14x14 key
  regions (and the flex path over blocks), so the matrix products FlopCounterMode would see are not the cost of
  neighborhood attention. While counting, the models' call of :func:`bench.codecs.attention.neighborhood_attention`
  is routed through a ``torch.library`` custom op (``mpa_bench::neighborhood_attention``) that runs the same
  function, hides its internal products from the counter, and declares the analytic cost with
  ``register_flop_formula``: per layer ``B * H * W * K^2 * C`` MACs for QK plus the same for AV (C = heads x
  head_dim), as NATTEN's own FLOP handles count it. The model code is untouched: only the name
  ``bench.codecs.layers.neighborhood_attention`` is patched for the duration of the count.
- **Meta tensors.** Counting runs on the ``meta`` device by default: shapes propagate, nothing is computed or
  allocated, so the full-size MPA at any size is counted in about a second. The custom op has a fake (shape-only)
  implementation, and CompressAI's ``EntropyBottleneck.forward`` (which calls ``Tensor.permute`` with a tensor of
  dims, i.e. reads data) is replaced for the count by the same computation written with Python dims. Counting
  real tensors gives the same numbers (``tests/test_complexity.py`` checks it).

MACs do not depend on weight values: MPA's predictors choose *which* tokens take each path, but the *number* of
tokens per path is ``int(T * ratio)`` with the ratio fixed by (q, q_task), so random, meta or trained weights give
the same count.

Counting conventions (:data:`CONVENTIONS`): ``linear+conv`` (what counters without a neighborhood-attention handler
report), ``linear+conv+attention`` (the default, DESIGN.md) and ``linear+conv+attention+norm+act`` (adds one
operation per output element of every normalisation and activation module and per attention weight of the
softmax, ptflops' convention for those layers).
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from unittest import mock

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

LINEAR_CONV = "linear+conv"
WITH_ATTENTION = "linear+conv+attention"
WITH_NORM_ACT = "linear+conv+attention+norm+act"
DEFAULT_CONVENTION = WITH_ATTENTION

CONVENTIONS: dict[str, str] = {
    LINEAR_CONV: "multiply-accumulates of convolutions, transposed convolutions (per input position) and matrix "
                 "products (Linear, matmul) only; neighborhood attention, norms, activations and element-wise "
                 "operations not counted",
    WITH_ATTENTION: "linear+conv plus neighborhood attention: H*W*K^2*C MACs for QK and as many for AV per layer",
    WITH_NORM_ACT: "linear+conv+attention plus one operation per output element of every normalisation "
                   "(LayerNorm, GDN) and activation (GELU, ReLU, sigmoid ...) module and per softmax weight",
}

_NAMESPACE = "mpa_bench"
_OP_NAME = "neighborhood_attention"


def neighborhood_attention_macs(height: int, width: int, kernel_size: int, channels: int, batch: int = 1) -> int:
    """MACs of QK plus AV of one neighborhood-attention layer: ``2 * B * H * W * K^2 * C``."""
    return 2 * batch * height * width * kernel_size**2 * channels


@functools.cache
def attention_operator() -> Callable:
    """The counting op ``torch.ops.mpa_bench.neighborhood_attention`` (registered on first use)."""
    from bench.codecs.attention import neighborhood_attention

    @torch.library.custom_op(f"{_NAMESPACE}::{_OP_NAME}", mutates_args=())
    def operator(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rpb: torch.Tensor, kernel_size: int,
                 backend: str) -> torch.Tensor:
        return neighborhood_attention(q, k, v, rpb, kernel_size, backend).contiguous()

    @operator.register_fake
    def _(q, k, v, rpb, kernel_size, backend):
        return torch.empty_like(q)

    op = getattr(getattr(torch.ops, _NAMESPACE), _OP_NAME)

    @register_flop_formula(op)
    def _flops(q_shape, k_shape, v_shape, rpb_shape, kernel_size, backend, *args, out_shape=None, **kwargs) -> int:
        batch, heads, height, width, head_dim = q_shape
        return 2 * neighborhood_attention_macs(height, width, kernel_size, heads * head_dim, batch)  # FLOPs

    return op


def _bottleneck_forward(self, x: torch.Tensor, training: bool | None = None):
    """CompressAI 1.2.8 ``EntropyBottleneck.forward`` in eval (dequantize) mode, with the permutation written with
    Python ints so that it runs on meta tensors; same operations, hence the same count."""
    perm = (1, 0, *range(2, x.ndim))
    values = x.permute(*perm).contiguous()
    shape = values.shape
    outputs = self.quantize(values.reshape(shape[0], 1, -1), "dequantize", self._get_medians())
    likelihood, _, _ = self._likelihood(outputs)
    if self.use_likelihood_bound:
        likelihood = self.likelihood_lower_bound(likelihood)
    return (outputs.reshape(shape).permute(*perm).contiguous(), likelihood.reshape(shape).permute(*perm).contiguous())


@contextlib.contextmanager
def countable(meta: bool) -> Iterator[None]:
    """Routes neighborhood attention through the counting op (and, on meta tensors, the entropy bottleneck through
    its meta-safe forward) for the duration of a count."""
    from compressai.entropy_models import EntropyBottleneck

    import bench.codecs.layers as layers

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(layers, "neighborhood_attention", attention_operator()))
        if meta:
            stack.enter_context(mock.patch.object(EntropyBottleneck, "forward", _bottleneck_forward))
        yield


# --- norms and activations (the third convention), by module hooks ------------------------------------------------


def _norm_act_types() -> tuple[type, ...]:
    from compressai.layers import GDN

    return (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d, nn.InstanceNorm2d, GDN, nn.GELU, nn.ReLU, nn.LeakyReLU,
            nn.PReLU, nn.ELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softmax)


def _elements_hook(counts: dict[str, int], name: str):
    def hook(module, inputs, output):
        counts[name] = counts.get(name, 0) + output.numel()
    return hook


def _softmax_hook(counts: dict[str, int], name: str):
    def hook(module, inputs, output):  # output (B, H, W, C): one weight per query, head and key
        weights = output.numel() // module.head_dim * module.kernel_size**2
        counts[name] = counts.get(name, 0) + weights
    return hook


@contextlib.contextmanager
def _norm_act_hooks(model: nn.Module, counts: dict[str, int]) -> Iterator[None]:
    from bench.codecs.layers import NeighborhoodAttention2D

    types = _norm_act_types()
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, types):
            handles.append(module.register_forward_hook(_elements_hook(counts, name)))
        elif isinstance(module, NeighborhoodAttention2D):
            handles.append(module.register_forward_hook(_softmax_hook(counts, name)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# --- the count ----------------------------------------------------------------------------------------------------

STAGES = {"g_a": "analysis", "h_a": "hyper-analysis", "h_s": "hyper-synthesis", "g_s": "synthesis"}
ENCODER_STAGES = ("analysis", "hyper-analysis", "hyper-synthesis", "entropy model")
DECODER_STAGES = ("hyper-synthesis", "entropy model", "synthesis")
_TASK = re.compile(r"\.mlp_list\.(\d+)\.")
_TASK_NAMES = ("mse", "cls", "seg")


def stage_of(path: str) -> str:
    """``g_a1.residual_group...`` -> ``analysis``; modules outside the four transforms -> ``entropy model``."""
    top = path.split(".")[0]
    return next((stage for prefix, stage in STAGES.items() if top.startswith(prefix)), "entropy model")


def category_of(path: str, attention_op: bool) -> str:
    """What a counted operation is, e.g. ``synthesis: side paths (cls)`` or ``analysis: attention QK+AV``."""
    stage = stage_of(path)
    if stage == "entropy model":
        return stage
    if attention_op:
        kind = "attention QK+AV"
    elif ".attn." in f".{path}.":
        kind = "attention projections"
    elif ".score_predictor." in f".{path}.":
        kind = "predictors"
    elif ".fastmlp." in f".{path}.":
        task = _TASK.search(f".{path}.")
        kind = f"side paths ({_TASK_NAMES[int(task[1])]})" if task else "side paths"
    elif ".mlp." in f".{path}.":
        kind = "main-path MLPs"
    else:
        kind = "convolutions"
    return f"{stage}: {kind}"


@dataclass(frozen=True)
class MacCount:
    """Operations of one forward pass, split three ways, per image.

    Attributes:
        pixels: H x W of the (padded) input image.
        batch: images in the counted batch (the totals below are per image).
        linear_conv: MACs of convolutions and matrix products, neighborhood attention excluded.
        attention: MACs of neighborhood attention (QK + AV).
        norm_act: element operations of norms, activations and attention softmax.
        modules: ``{top-level module: {"linear_conv", "attention", "norm_act"}}``.
        categories: ``{category: MACs (linear_conv + attention)}`` (see :func:`category_of`).
    """

    pixels: int
    batch: int
    linear_conv: int
    attention: int
    norm_act: int
    modules: dict[str, dict[str, int]] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)

    def macs(self, convention: str = DEFAULT_CONVENTION) -> int:
        if convention == LINEAR_CONV:
            return self.linear_conv
        if convention == WITH_ATTENTION:
            return self.linear_conv + self.attention
        if convention == WITH_NORM_ACT:
            return self.linear_conv + self.attention + self.norm_act
        raise ValueError(f"unknown counting convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")

    def kmacs_per_pixel(self, convention: str = DEFAULT_CONVENTION) -> float:
        return self.macs(convention) / self.pixels / 1e3

    def by_convention(self) -> dict[str, float]:
        """KMACs per pixel under every convention."""
        return {name: self.kmacs_per_pixel(name) for name in CONVENTIONS}

    def stage_kmacs(self, stages: tuple[str, ...], convention: str = DEFAULT_CONVENTION) -> float:
        """KMACs per pixel of the modules of the given stages (e.g. :data:`ENCODER_STAGES`)."""
        total = 0
        for name, counts in self.modules.items():
            if stage_of(name) in stages:
                total += counts["linear_conv"]
                if convention != LINEAR_CONV:
                    total += counts["attention"]
                if convention == WITH_NORM_ACT:
                    total += counts["norm_act"]
        return total / self.pixels / 1e3

    def minus(self, other: "MacCount") -> "MacCount":
        """Per-field difference (used to swap one stage's count for another's)."""
        return self.plus(other, -1)

    def plus(self, other: "MacCount", sign: int = 1) -> "MacCount":
        if other.pixels != self.pixels:
            raise ValueError("counts of different input sizes cannot be combined")
        modules = {name: dict(counts) for name, counts in self.modules.items()}
        for name, counts in other.modules.items():
            target = modules.setdefault(name, {"linear_conv": 0, "attention": 0, "norm_act": 0})
            for key, value in counts.items():
                target[key] += sign * value
        categories = dict(self.categories)
        for name, value in other.categories.items():
            categories[name] = categories.get(name, 0) + sign * value
        return MacCount(self.pixels, self.batch, self.linear_conv + sign * other.linear_conv,
                        self.attention + sign * other.attention, self.norm_act + sign * other.norm_act,
                        modules, categories)


def _self_counts(counter: FlopCounterMode) -> dict[tuple[str, Any], int]:
    """``{(module path without the root, op): FLOPs}`` of each module itself (its children's subtracted)."""
    counts = {name: ops for name, ops in counter.get_flop_counts().items() if name != "Global"}
    roots = [name for name in counts if "." not in name]
    if len(roots) > 1:  # ModuleTracker names the root by class: several roots would double count
        raise RuntimeError(f"the count has several root modules ({roots}): call the model itself, e.g. with its "
                           f"forward patched to the part to count (bench.complexity.table4.count_part)")
    # A module's counts include its descendants'. Only modules that ran appear (a ModuleList never runs), so the
    # parent of an entry is its nearest listed ancestor, not necessarily its direct one.
    children: dict[str, list[str]] = {name: [] for name in counts}
    for name in counts:
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            ancestor = ".".join(parts[:cut])
            if ancestor in counts:
                children[ancestor].append(name)
                break
    result: dict[tuple[str, Any], int] = {}
    for name, ops in counts.items():
        path = name.split(".", 1)[1] if "." in name else ""
        for op, flops in ops.items():
            own = flops - sum(counts[child].get(op, 0) for child in children[name])
            if own:
                result[(path, op)] = result.get((path, op), 0) + own
    return result


def count_macs(model: nn.Module, run: Callable[[nn.Module, torch.Tensor], Any], height: int, width: int,
               batch: int = 1, device: str | torch.device | None = None) -> MacCount:
    """Counts one call ``run(model, x)`` on an all-zero (batch, 3, height, width) input.

    Args:
        model: on ``meta`` for shape-only counting (see the module docstring), or on a real device.
        run: what to count, e.g. ``lambda m, x: m(x, quality=8, q_task=1)``.
        height, width, batch: input size; the totals are per image and per pixel of this size.
        device: where ``x`` is made; default: the device of the model's parameters.
    """
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    device = torch.device(device)
    attention_op = attention_operator()
    norm_act: dict[str, int] = {}
    counter = FlopCounterMode(display=False)
    x = torch.zeros(batch, 3, height, width, device=device)
    # no_grad, not inference_mode: CompressAI's masked convolutions write weight.data, which meta tensors only
    # allow outside inference mode.
    with torch.no_grad(), countable(device.type == "meta"), _norm_act_hooks(model, norm_act):
        with counter:
            run(model, x)
    modules: dict[str, dict[str, int]] = {}
    categories: dict[str, int] = {}
    linear_conv = attention = 0
    for (path, op), flops in _self_counts(counter).items():
        macs = flops // 2
        is_attention = op is attention_op or str(op).startswith(f"{_NAMESPACE}.{_OP_NAME}")
        top = path.split(".")[0] or "(model)"
        entry = modules.setdefault(top, {"linear_conv": 0, "attention": 0, "norm_act": 0})
        entry["attention" if is_attention else "linear_conv"] += macs
        if is_attention:
            attention += macs
        else:
            linear_conv += macs
        category = category_of(path, is_attention)
        categories[category] = categories.get(category, 0) + macs
    for path, elements in norm_act.items():
        top = path.split(".")[0] or "(model)"
        modules.setdefault(top, {"linear_conv": 0, "attention": 0, "norm_act": 0})["norm_act"] += elements
    total_norm_act = sum(norm_act.values())
    scale = batch
    return MacCount(
        pixels=height * width,
        batch=batch,
        linear_conv=linear_conv // scale,
        attention=attention // scale,
        norm_act=total_norm_act // scale,
        modules={name: {k: v // scale for k, v in counts.items()} for name, counts in modules.items()},
        categories={name: value // scale for name, value in categories.items()},
    )


def to_meta(model: nn.Module) -> nn.Module:
    """A shape-only copy of ``model`` for counting (parameters and buffers on ``meta``, no gradients)."""
    import copy

    if next(model.parameters()).is_meta:
        clone = model
    else:
        clone = copy.deepcopy(model)
    return clone.to("meta").eval().requires_grad_(False)
