"""Transformer blocks of TinyLIC and MPA: neighborhood-attention blocks, quality layer scales, multi-path MLPs.

Module and parameter names follow the official state dicts (``attn.qkv``, ``attn.rpb``, ``gamma_1``, ``fastmlp``,
``score_predictor`` ...), so that official checkpoints load unchanged. Tensors inside a :class:`ResViTBlock` are
channels-last (B, H, W, C); the block itself takes and returns NCHW.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.codecs.attention import neighborhood_attention

LEVELS = 8  # quality levels of MPA's gains, layer scales and predictor shifts

# Side-path MLP of each decoder task (official ``mlp_cfg``): 0 = MSE (inverted bottleneck, hidden 2d),
# 1 = classification and 2 = segmentation (bottleneck, hidden d/2).
TASK_HIDDEN_RATIOS: tuple[float, ...] = (2.0, 0.5, 0.5)


def check_quality(quality: float, levels: int = LEVELS) -> None:
    if not 1 <= quality <= levels:
        raise ValueError(f"quality should be within [1, {levels}], got {quality}")


def interpolate_levels(table: torch.Tensor, quality: float) -> torch.Tensor:
    """Geometric interpolation of per-level vectors: ``|t[s]|^(1-l) * |t[s+1]|^l`` with s = int(q) - 1, l = q % 1.

    Args:
        table: (levels, C) learned vectors (used as absolute values).
        quality: q in [1, levels], fractional allowed; at q = levels, ``|t[levels-1]|`` is returned.
    """
    levels = table.shape[0]
    check_quality(quality, levels)
    s = int(quality) - 1
    fraction = quality % 1
    if s == levels - 1:
        return torch.abs(table[s])
    return torch.abs(table[s]).pow(1 - fraction) * torch.abs(table[s + 1]).pow(fraction)


def encoder_main_ratio(quality: float, log_base: float = 5.0) -> float:
    """Fraction of tokens on the encoder main path: ``(b^((q-1)/7) - 1) / (b - 1)`` (Python float64)."""
    return (log_base ** ((quality - 1) / 7) - 1) / (log_base - 1)


def decoder_main_ratio(q_task: float) -> float:
    """Fraction of tokens on the decoder main (perceptual) path: ``1 - (q_task - 1) / 7`` (Python float64)."""
    return 1 - (q_task - 1) / 7


class NeighborhoodAttention2D(nn.Module):
    """Multi-head 2D neighborhood attention with relative position bias (NATTEN 0.17 module semantics).

    Args:
        dim: channels.
        kernel_size: odd K.
        num_heads: heads; head_dim = dim / num_heads and the query scale is head_dim ** -0.5.
        pad_small: zero-pad inputs smaller than the kernel on the right/bottom and crop back (TinyLIC's bundled
            attention) instead of raising (NATTEN 0.17, used by MPA).
        backend: neighborhood-attention path (see :mod:`bench.codecs.attention`).
    """

    def __init__(self, dim: int, kernel_size: int, num_heads: int, qkv_bias: bool = True, pad_small: bool = False,
                 backend: str = "auto"):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.kernel_size = kernel_size
        self.pad_small = pad_small
        self.backend = backend
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.rpb = nn.Parameter(torch.zeros(num_heads, 2 * kernel_size - 1, 2 * kernel_size - 1))
        if not self.rpb.is_meta:  # official: trunc_normal_(std=0.02, a=-2, b=2), i.e. a normal for all purposes
            with torch.no_grad():
                self.rpb.normal_(std=0.02).clamp_(-2.0, 2.0)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        pad_r = pad_b = 0
        if self.pad_small and (height < self.kernel_size or width < self.kernel_size):
            pad_r, pad_b = max(0, self.kernel_size - width), max(0, self.kernel_size - height)
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        h, w = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(batch, h, w, 3, self.num_heads, self.head_dim).permute(3, 0, 4, 1, 2, 5)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        out = neighborhood_attention(q, k, v, self.rpb, self.kernel_size, self.backend)
        out = out.permute(0, 2, 3, 1, 4).reshape(batch, h, w, channels)
        if pad_r or pad_b:
            out = out[:, :height, :width]
        return self.proj(out)


class Mlp(nn.Module):
    """Linear -> GELU -> Linear (the main-path MLP; its LayerNorm is the block's ``norm2``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SideMlp(nn.Module):
    """A side-path MLP carrying its own LayerNorm: LN -> Linear(d, hidden) -> GELU -> Linear(hidden, d).

    ``hidden = d / 2`` is the official FastMlp (bottleneck), ``hidden = 2d`` the SlowMlp (inverted bottleneck).
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden))
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TaskMlp(nn.Module):
    """One side-path MLP per decoder task (``mlp_list[task_idx]``)."""

    def __init__(self, dim: int, hidden_ratios: Sequence[float] = TASK_HIDDEN_RATIOS):
        super().__init__()
        self.mlp_list = nn.ModuleList(SideMlp(dim, int(dim * ratio)) for ratio in hidden_ratios)

    def forward(self, x: torch.Tensor, task_idx: int = 0) -> torch.Tensor:
        return self.mlp_list[task_idx](x)


class Predictor(nn.Module):
    """Token importance predictor of MPA: which tokens take the main path.

    LN -> Linear(d, d/4) -> GELU; the first half of those channels stays per-token, the second half is replaced
    by its spatial mean; then Linear(d/4, d/16) -> GELU -> Linear(d/16, 1) gives one logit per token. In eval the
    ``int(T * ratio)`` highest-scoring tokens go to the main path (``shift`` is used only in training).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.in_conv = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim // 4), nn.GELU())
        self.out_conv = nn.Sequential(nn.Linear(dim // 4, dim // 16), nn.GELU(), nn.Linear(dim // 16, 1, bias=False))
        self.shift = nn.Parameter(torch.zeros(LEVELS))

    def forward(self, x: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Splits tokens by score.

        Args:
            x: (B, H, W, C) tokens.
            ratio: fraction of tokens on the main path (float64; the count is truncated with int()).

        Returns:
            (main, side) token indices into the flattened H*W tokens, each (B, n).
        """
        features = self.in_conv(x)
        batch, height, width, channels = features.shape
        half = channels // 2
        global_part = features[..., half:].mean(dim=(1, 2), keepdim=True).expand(batch, height, width, channels - half)
        features = torch.cat([features[..., :half], global_part], dim=-1)
        score = self.out_conv(features).sigmoid().flatten(1)
        num_main = int(score.shape[1] * ratio)
        order = torch.argsort(score, dim=1, descending=True)
        return order[:, :num_main], order[:, num_main:]


class NSABlock(nn.Module):
    """Neighborhood self-attention block: x + g1 * NA(LN1(x)), then + g2 * Mlp(LN2(x)).

    Args:
        levels: number of quality levels of the layer scales ``gamma_1``/``gamma_2`` (MPA); None for none
            (TinyLIC).
    """

    def __init__(self, dim: int, num_heads: int, kernel_size: int, mlp_ratio: float = 2.0,
                 levels: int | None = LEVELS, pad_small: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention2D(dim, kernel_size, num_heads, pad_small=pad_small)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if levels is not None:
            self.gamma_1 = nn.Parameter(torch.ones(levels, dim))
            self.gamma_2 = nn.Parameter(torch.ones(levels, dim))

    def layer_scales(self, quality: float | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if quality is None or not hasattr(self, "gamma_1"):
            return None, None
        return interpolate_levels(self.gamma_1, quality), interpolate_levels(self.gamma_2, quality)

    def forward(self, x: torch.Tensor, quality: float | None = None) -> torch.Tensor:
        gamma_1, gamma_2 = self.layer_scales(quality)
        attended = self.attn(self.norm1(x))
        x = x + (attended if gamma_1 is None else gamma_1 * attended)
        mlp = self.mlp(self.norm2(x))
        return x + (mlp if gamma_2 is None else gamma_2 * mlp)


class AdaNSABlock(NSABlock):
    """MPA block: attention on every token, then the main-path MLP on the selected tokens and the side-path MLP
    (``fastmlp``, no ``norm2``) on the others.

    Args:
        task_hidden_ratios: None for one FastMlp side path (encoder); else one side path per decoder task.
    """

    def __init__(self, dim: int, num_heads: int, kernel_size: int, mlp_ratio: float = 2.0,
                 task_hidden_ratios: Sequence[float] | None = None):
        super().__init__(dim, num_heads, kernel_size, mlp_ratio)
        if task_hidden_ratios is None:
            self.fastmlp: nn.Module = SideMlp(dim, int(dim / mlp_ratio))
        else:
            self.fastmlp = TaskMlp(dim, task_hidden_ratios)

    def forward(self, x: torch.Tensor, quality: float, split: tuple[torch.Tensor, torch.Tensor] | None = None,
                task_idx: int = 0) -> torch.Tensor:
        if split is None:
            return super().forward(x, quality)
        gamma_1, gamma_2 = self.layer_scales(quality)
        x = x + gamma_1 * self.attn(self.norm1(x))
        batch, height, width, channels = x.shape
        tokens = x.reshape(batch, height * width, channels)
        main_index, side_index = split
        main = torch.gather(tokens, 1, main_index[..., None].expand(-1, -1, channels))
        side = torch.gather(tokens, 1, side_index[..., None].expand(-1, -1, channels))
        main = gamma_2 * self.mlp(self.norm2(main))
        if isinstance(self.fastmlp, TaskMlp):
            side = gamma_2 * self.fastmlp(side, task_idx)
        else:
            side = gamma_2 * self.fastmlp(side)
        update = torch.zeros_like(tokens)
        update.scatter_(1, main_index[..., None].expand(-1, -1, channels), main)
        update.scatter_(1, side_index[..., None].expand(-1, -1, channels), side)
        return (tokens + update).reshape(batch, height, width, channels)


class BasicLayer(nn.Module):
    """A stack of blocks; with ``multipath`` the blocks are :class:`AdaNSABlock` and one predictor (per task for
    the decoder) splits the tokens once, before block 0, for every block of the layer."""

    def __init__(self, dim: int, depth: int, num_heads: int, kernel_size: int, mlp_ratio: float = 2.0,
                 levels: int | None = LEVELS, multipath: bool = False,
                 task_hidden_ratios: Sequence[float] | None = None, pad_small: bool = False):
        super().__init__()
        self.multipath = multipath
        self.per_task = multipath and task_hidden_ratios is not None
        if multipath:
            self.blocks = nn.ModuleList(
                AdaNSABlock(dim, num_heads, kernel_size, mlp_ratio, task_hidden_ratios) for _ in range(depth)
            )
            if self.per_task:
                self.score_predictor = nn.ModuleList(
                    nn.ModuleList([Predictor(dim)]) for _ in range(len(task_hidden_ratios))
                )
            else:
                self.score_predictor = nn.ModuleList([Predictor(dim)])
        else:
            self.blocks = nn.ModuleList(
                NSABlock(dim, num_heads, kernel_size, mlp_ratio, levels, pad_small) for _ in range(depth)
            )

    def forward(self, x: torch.Tensor, quality: float | None = None, q_task: float | None = None,
                task_idx: int = 0) -> tuple[torch.Tensor, list]:
        if not self.multipath:
            for block in self.blocks:
                x = block(x, quality)
            return x, []
        if self.per_task:
            predictor = self.score_predictor[task_idx][0]
            # without q_task the official predictor falls back to the encoder's formula of the quality
            ratio = decoder_main_ratio(q_task) if q_task is not None else encoder_main_ratio(quality)
        else:
            predictor = self.score_predictor[0]
            ratio = encoder_main_ratio(quality)
        split = predictor(x, ratio)
        for block in self.blocks:
            x = block(x, quality, split, task_idx)
        return x, [list(split)]


class ResViTBlock(nn.Module):
    """NCHW wrapper with an outer residual: ``x + layer(x in NHWC)``."""

    def __init__(self, dim: int, depth: int, num_heads: int, kernel_size: int, mlp_ratio: float = 2.0,
                 levels: int | None = LEVELS, multipath: bool = False,
                 task_hidden_ratios: Sequence[float] | None = None, pad_small: bool = False):
        super().__init__()
        self.residual_group = BasicLayer(dim, depth, num_heads, kernel_size, mlp_ratio, levels, multipath,
                                         task_hidden_ratios, pad_small)

    def forward(self, x: torch.Tensor, quality: float | None = None, q_task: float | None = None,
                task_idx: int = 0) -> tuple[torch.Tensor, list]:
        y, decisions = self.residual_group(x.permute(0, 2, 3, 1), quality, q_task, task_idx)
        return y.permute(0, 3, 1, 2) + x, decisions


def set_attention_backend(module: nn.Module, backend: str) -> None:
    """Selects the neighborhood-attention path of every attention layer in ``module``."""
    for child in module.modules():
        if isinstance(child, NeighborhoodAttention2D):
            child.backend = backend


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride,
                              output_padding=stride - 1, padding=kernel_size // 2)
