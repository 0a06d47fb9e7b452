"""Blocks shared by ELIC and the MRIC-style model: ELIC's transforms, the checkerboard split, masked context.

Module and parameter names follow CompressAI's ``Elic2022Official`` (``compressai/models/sensetime.py`` and
``compressai/layers/layers.py``, CompressAI main 869a9f5 = release 1.2.8 for these classes): the residual
bottleneck block's ``conv1/conv2/conv3``, the attention block's ``conv_a``/``conv_b`` residual units, the
checkerboard conv's ``mask`` buffer and the transforms' ``nn.Sequential`` indices, so that ELIC checkpoints trained
with CompressAI load unchanged. The MRIC-style model reuses the same blocks with its own layout (see
:mod:`bench.codecs.mric`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.codecs.layers import conv, deconv


def conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1)


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class ResidualBottleneckBlock(nn.Module):
    """``x + conv1x1(relu(conv3x3(relu(conv1x1(x)))))`` with a C/2 bottleneck (ELIC's residual block)."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = channels // 2
        self.conv1 = conv1x1(channels, hidden)
        self.conv2 = conv3x3(hidden, hidden)
        self.conv3 = conv1x1(hidden, channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))


class ConditionalResidualBottleneckBlock(ResidualBottleneckBlock):
    """The residual bottleneck block with a global condition added after each convolution (MRIC, Figure 5)::

        h1 = relu(conv1(x)) + P1 c      h2 = relu(conv2(h1)) + P2 c      out = x + conv3(h2) + P3 c

    where ``c`` is the (B, condition_channels) output of the beta MLP and ``P1, P2, P3`` are bias-free linear
    projections (``proj1``, ``proj2``, ``proj3``), broadcast over the spatial positions.
    """

    def __init__(self, channels: int, condition_channels: int):
        super().__init__(channels)
        hidden = channels // 2
        self.proj1 = nn.Linear(condition_channels, hidden, bias=False)
        self.proj2 = nn.Linear(condition_channels, hidden, bias=False)
        self.proj3 = nn.Linear(condition_channels, channels, bias=False)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv1(x)) + self.proj1(condition)[:, :, None, None]
        h = self.relu(self.conv2(h)) + self.proj2(condition)[:, :, None, None]
        return x + self.conv3(h) + self.proj3(condition)[:, :, None, None]


class ResidualUnit(nn.Module):
    """``relu(x + conv(x))`` with ``conv`` = 1x1 (C/2), ReLU, 3x3 (C/2), ReLU, 1x1 (C)."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = channels // 2
        self.conv = nn.Sequential(conv1x1(channels, hidden), nn.ReLU(), conv3x3(hidden, hidden), nn.ReLU(),
                                  conv1x1(hidden, channels))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + x)


class AttentionBlock(nn.Module):
    """Cheng et al.'s simplified attention (CVPR 2020): ``x + conv_a(x) * sigmoid(conv_b(x))``, where ``conv_a`` is
    three residual units and ``conv_b`` three residual units and a 1x1 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_a = nn.Sequential(*(ResidualUnit(channels) for _ in range(3)))
        self.conv_b = nn.Sequential(*(ResidualUnit(channels) for _ in range(3)), conv1x1(channels, channels))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_a(x) * self.sigmoid(self.conv_b(x)) + x


def elic_analysis(N: int, M: int) -> nn.Sequential:
    """ELIC's analysis transform g_a (He et al., CVPR 2022, Figure 6), stride 16::

        conv5x5/2 (N), 3 x RB, conv5x5/2 (N), 3 x RB, attention, conv5x5/2 (N), 3 x RB, conv5x5/2 (M), attention
    """
    def blocks():
        return [ResidualBottleneckBlock(N) for _ in range(3)]

    return nn.Sequential(
        conv(3, N), *blocks(), conv(N, N), *blocks(), AttentionBlock(N), conv(N, N), *blocks(), conv(N, M),
        AttentionBlock(M),
    )


class ELICSynthesis(nn.Sequential):
    """ELIC's synthesis transform g_s, optionally conditioned (MRIC)::

        attention (M), deconv5x5/2 (N), 3 x RB, deconv5x5/2 (N), attention, 3 x RB, deconv5x5/2 (N), 3 x RB,
        deconv5x5/2 (3)

    Args:
        M, N: latent and main channels.
        condition_channels: None for ELIC (plain residual blocks); otherwise the width of the global condition
            that every residual block takes (:class:`ConditionalResidualBottleneckBlock`).
    """

    def __init__(self, M: int, N: int, condition_channels: int | None = None):
        def blocks():
            if condition_channels is None:
                return [ResidualBottleneckBlock(N) for _ in range(3)]
            return [ConditionalResidualBottleneckBlock(N, condition_channels) for _ in range(3)]

        super().__init__(
            AttentionBlock(M), deconv(M, N), *blocks(), deconv(N, N), AttentionBlock(N), *blocks(), deconv(N, N),
            *blocks(), deconv(N, 3),
        )

    def forward(self, y: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self:
            y = layer(y, condition) if isinstance(layer, ConditionalResidualBottleneckBlock) else layer(y)
        return y


class CheckerboardConv2d(nn.Conv2d):
    """A stride-1 convolution that sees only the checkerboard neighbours of the other colour.

    The ``mask`` buffer (part of the state dict, as in CompressAI's ``CheckerboardMaskedConv2d``) keeps the taps
    at odd ``row + column`` offsets from the kernel's corner: with an odd kernel, the centre and every tap of the
    centre's colour are zero, so the output at an anchor position depends on non-anchors only and vice versa.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5):
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2)
        rows = torch.arange(kernel_size)[:, None]
        columns = torch.arange(kernel_size)[None, :]
        mask = ((rows + columns) % 2).to(self.weight.dtype).expand_as(self.weight).clone()
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


def checkerboard_split(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (2, B, C, H, W/2): [0] the anchors (even ``row + column``), [1] the non-anchors.

    Row r of each half holds the positions of row r of that colour, left to right; this packing is the symbol order
    of the strings (CompressAI's ``CheckerboardLatentCodec.unembed`` with even anchor parity).
    """
    batch, channels, height, width = x.shape
    if width % 2:
        raise ValueError(f"the checkerboard split needs an even latent width, got {width}")
    halves = x.new_zeros((2, batch, channels, height, width // 2))
    for row in (0, 1):
        halves[0, ..., row::2, :] = x[..., row::2, row::2]
        halves[1, ..., row::2, :] = x[..., row::2, 1 - row::2]
    return halves


def checkerboard_merge(anchors: torch.Tensor, non_anchors: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`checkerboard_split`: two (B, C, H, W/2) halves -> (B, C, H, W)."""
    batch, channels, height, half_width = anchors.shape
    x = anchors.new_zeros((batch, channels, height, 2 * half_width))
    for row in (0, 1):
        x[..., row::2, row::2] = anchors[..., row::2, :]
        x[..., row::2, 1 - row::2] = non_anchors[..., row::2, :]
    return x


def ramp_widths(in_channels: int, out_channels: int, minimum: int, layers: int = 3) -> list[int]:
    """Widths of a linear channel ramp: ``floor(in + (out - in) * k / layers)`` for k = 0..layers, the inner ones
    raised to ``minimum`` (ELIC's parameter aggregation, as CompressAI's ``sequential_channel_ramp``)."""
    widths = [(in_channels * (layers - k) + out_channels * k) // layers for k in range(layers + 1)]
    return [widths[0], *(max(w, minimum) for w in widths[1:-1]), widths[-1]]


def pointwise_ramp(in_channels: int, out_channels: int, minimum: int) -> nn.Sequential:
    """1x1 convolutions along :func:`ramp_widths`, ReLU between them (ELIC's "parameter aggregation")."""
    widths = ramp_widths(in_channels, out_channels, minimum)
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [conv1x1(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


# --- coding steps ----------------------------------------------------------------------------------------------
# Both models compute the Gaussian parameters of each part of y (a checkerboard half of a channel group for ELIC,
# a channel slice for MRIC) in one code path and hand them to a step, which returns the part's y_hat. The three
# steps share that path, so the decoder reproduces the encoder's parameters and y_hat bit for bit.


class QuantizeStep:
    """``forward``: y_hat = round(y - mean) + mean, and the likelihood of each part (no coding)."""

    def __init__(self):
        self.likelihoods: list[torch.Tensor] = []

    def __call__(self, part: torch.Tensor, scales: torch.Tensor, means: torch.Tensor, gaussian) -> torch.Tensor:
        y_hat, likelihood = gaussian(part, scales, means=means, training=False)
        self.likelihoods.append(likelihood)
        return y_hat


class EncodeStep:
    """The encoder: codes each part into one rANS string per image (``strings``, in coding order) and returns the
    y_hat the decoder will reconstruct."""

    def __init__(self):
        self.strings: list[list[bytes]] = []

    def __call__(self, part: torch.Tensor, scales: torch.Tensor, means: torch.Tensor, gaussian) -> torch.Tensor:
        self.strings.append(gaussian.compress(part, gaussian.build_indexes(scales), means=means))
        return gaussian.quantize(part, "dequantize", means)


class DecodeStep:
    """The decoder: decodes each part from the next string (``part`` is None: y is unknown here)."""

    def __init__(self, strings: list[list[bytes]]):
        self.strings = list(strings)
        self.used = 0

    def __call__(self, part: None, scales: torch.Tensor, means: torch.Tensor, gaussian) -> torch.Tensor:
        if self.used == len(self.strings):
            raise ValueError(f"the bitstream holds {len(self.strings)} latent strings; the model needs more")
        string = self.strings[self.used]
        self.used += 1
        return gaussian.decompress(string, gaussian.build_indexes(scales), means=means)
