"""Entropy model of TinyLIC and MPA: fork-style EntropyBottleneck, multistage masked convs, and the y coding order.

Two things here must match the official implementation (NJUVISION/MPA 0d7aeef, lumingzzz/TinyLIC) exactly for
their bitstreams to be reproduced byte for byte:

1. :class:`ForkEntropyBottleneck`: the official code ships a fork of CompressAI 1.2.0 whose bottleneck computes
   its pmf with the "sign trick" (``s = -sign(lower + upper)``, ``pmf = |sigmoid(s * upper) - sigmoid(s * lower)|``)
   both for the CDF tables built by ``update()`` and for likelihoods, and names its parameters ``_matrix{i}``,
   ``_bias{i}``, ``_factor{i}``. Upstream CompressAI 1.2.8 uses ``sigmoid(upper) - sigmoid(lower)``, whose
   quantized CDFs differ by a few counts in some entries.
2. :data:`CODING_PLAN`: the order in which the y latent is coded into its single rANS stream. y (M = 320
   channels) is split into 4 channel slices of sizes [24, 69, 104, 123] (cosine schedule). Each slice is coded in
   steps over the 2 x 2 sub-grid positions (row parity, column parity); the Gaussian parameters of a step come
   from ``entropy_parameters_{i}(cat(params, sc, cc))`` where ``params`` is the hyper-synthesis output, ``cc``
   the channel context of the previous slices and ``sc`` a masked conv of the positions of this slice already
   coded, kept at the positions of the step only::

       slice 0:  (0,0) -> (1,1) [sc_transform_1] -> (0,1) [sc_transform_2] -> (1,0) [sc_transform_3]
       slice 1:  (0,1),(1,0) -> (0,0),(1,1) [sc_transform_4]
       slice 2:  (0,0),(1,1) -> (0,1),(1,0) [sc_transform_5]
       slice 3:  all positions at once, no spatial context (entropy_parameters_4(cat(params, cc)))

   Within a step the symbols follow ``reshape(-1)`` of the sub-sampled tensors stacked position by position:
   batch, then position, then channel, row, column. The full-size tensor computations (zero-filled context
   inputs, full-map 1x1 parameter networks) mirror the official ones so that the floats, and hence the CDF
   indexes and symbols, are the same.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from bench.codecs.layers import conv

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256.0, 64


def get_scale_table(minimum: float = SCALES_MIN, maximum: float = SCALES_MAX, levels: int = SCALES_LEVELS):
    """The Gaussian scale table: ``exp(linspace(ln 0.11, ln 256, 64))``."""
    return torch.exp(torch.linspace(math.log(minimum), math.log(maximum), levels))


class ForkEntropyBottleneck(EntropyBottleneck):
    """CompressAI's EntropyBottleneck with the official fork's parameter names and sign-trick pmf.

    Parameters are registered as ``_matrix{i}``, ``_bias{i}``, ``_factor{i}`` (the official state-dict keys);
    everything else (quantiles, ``update()``, coding) is upstream CompressAI 1.2.8, which reads the pmf through
    :meth:`_likelihood`.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(channels, **kwargs)
        for list_name, prefix in (("matrices", "_matrix"), ("biases", "_bias"), ("factors", "_factor")):
            parameters = list(getattr(self, list_name))
            delattr(self, list_name)
            for index, parameter in enumerate(parameters):
                self.register_parameter(f"{prefix}{index}", parameter)

    def _logits_cumulative(self, inputs: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
        logits = inputs
        for i in range(len(self.filters) + 1):
            matrix, bias = getattr(self, f"_matrix{i}"), getattr(self, f"_bias{i}")
            if stop_gradient:
                matrix, bias = matrix.detach(), bias.detach()
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.filters):
                factor = getattr(self, f"_factor{i}")
                if stop_gradient:
                    factor = factor.detach()
                logits = logits + torch.tanh(factor) * torch.tanh(logits)
        return logits

    def _likelihood(self, inputs: torch.Tensor, stop_gradient: bool = False):
        lower = self._logits_cumulative(inputs - 0.5, stop_gradient=stop_gradient)
        upper = self._logits_cumulative(inputs + 0.5, stop_gradient=stop_gradient)
        sign = -torch.sign(lower + upper).detach()
        pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return pmf, lower, upper


class MultistageMaskedConv2d(nn.Conv2d):
    """Stride-1 conv whose kernel is masked by parity (the ``mask`` buffer is part of the state dict).

    Mask types: ``A`` keeps taps with even row and even column (the corners of a 3x3), ``B`` taps with odd
    row + column parity (a checkerboard), ``C`` the odd-parity taps of even rows plus every tap of odd rows.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=kernel_size // 2)
        mask = torch.zeros_like(self.weight)
        if mask_type == "A":
            mask[:, :, 0::2, 0::2] = 1
        elif mask_type == "B":
            mask[:, :, 0::2, 1::2] = 1
            mask[:, :, 1::2, 0::2] = 1
        elif mask_type == "C":
            mask[:, :, 0::2, 1::2] = 1
            mask[:, :, 1::2, :] = 1
        else:
            raise ValueError(f"invalid mask type {mask_type!r}")
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


def slice_sizes(channels: int = 320, num_slices: int = 4) -> list[int]:
    """Channel slices of the cosine schedule: boundaries ``ceil(cos(pi/2 * t/n) * M)``, t = 1..n-1, in float64."""
    bounds = [channels] + [int(np.ceil(np.cos(t / num_slices * np.pi / 2) * channels)) for t in range(1, num_slices)]
    bounds.append(0)
    return [bounds[t] - bounds[t + 1] for t in range(num_slices)]


Position = tuple[int, int]
ODD: tuple[Position, ...] = ((0, 1), (1, 0))
EVEN: tuple[Position, ...] = ((0, 0), (1, 1))
# For each slice: its steps as (sub-grid positions coded, spatial-context conv or None); None = whole slice.
CODING_PLAN: tuple[tuple[tuple[tuple[Position, ...] | None, str | None], ...], ...] = (
    ((((0, 0),), None), (((1, 1),), "sc_transform_1"), (((0, 1),), "sc_transform_2"), (((1, 0),), "sc_transform_3")),
    ((ODD, None), (EVEN, "sc_transform_4")),
    ((EVEN, None), (ODD, "sc_transform_5")),
    ((None, None),),
)


def take_positions(x: torch.Tensor, positions: Sequence[Position] | None) -> torch.Tensor:
    """(B, C, H, W) -> (B, len(P) * C, H/2, W/2): the sub-grid positions stacked position-major; None = all."""
    if positions is None:
        return x
    return torch.cat([x[:, :, r::2, c::2] for r, c in positions], dim=1)


def put_positions(target: torch.Tensor, values: torch.Tensor, positions: Sequence[Position] | None) -> None:
    """Inverse of :func:`take_positions`: writes ``values`` into ``target`` in place."""
    if positions is None:
        target.copy_(values)
        return
    for chunk, (r, c) in zip(values.chunk(len(positions), dim=1), positions):
        target[:, :, r::2, c::2] = chunk


class _Quantizer:
    """Step callback of the encoder and of ``forward``: symbols = round(y - mean)."""

    def __init__(self, y_slices: Sequence[torch.Tensor], encoder: "YStreamEncoder | None"):
        self.y_slices = y_slices
        self.encoder = encoder

    def __call__(self, slice_index, positions, scales, means, gaussian: GaussianConditional) -> torch.Tensor:
        y = take_positions(self.y_slices[slice_index], positions)
        symbols = torch.round(y - means)
        if self.encoder is not None:
            self.encoder.add(symbols, gaussian.build_indexes(scales))
        return symbols


class _StreamDecoder:
    """Step callback of the decoder: symbols decoded from the rANS stream."""

    def __init__(self, string: bytes, gaussian: GaussianConditional):
        self.decoder = RansDecoder()
        self.decoder.set_stream(string)
        self.cdf, self.lengths, self.offsets = cdf_tables(gaussian)

    def __call__(self, slice_index, positions, scales, means, gaussian: GaussianConditional) -> torch.Tensor:
        indexes = gaussian.build_indexes(scales)
        values = self.decoder.decode_stream(indexes.reshape(-1).int().tolist(), self.cdf, self.lengths, self.offsets)
        return torch.tensor(values, dtype=means.dtype).reshape(means.shape).to(means.device)


def cdf_tables(gaussian: GaussianConditional) -> tuple[list, list, list]:
    return (
        gaussian.quantized_cdf.tolist(),
        gaussian.cdf_length.reshape(-1).int().tolist(),
        gaussian.offset.reshape(-1).int().tolist(),
    )


class YStreamEncoder:
    """Collects (symbol, index) pairs in coding order and flushes them into one rANS string."""

    def __init__(self, gaussian: GaussianConditional):
        self.gaussian = gaussian
        self.symbols: list[int] = []
        self.indexes: list[int] = []

    def add(self, symbols: torch.Tensor, indexes: torch.Tensor) -> None:
        self.symbols.extend(symbols.reshape(-1).int().tolist())
        self.indexes.extend(indexes.reshape(-1).int().tolist())

    def flush(self) -> bytes:
        encoder = BufferedRansEncoder()
        cdf, lengths, offsets = cdf_tables(self.gaussian)
        encoder.encode_with_indexes(self.symbols, self.indexes, cdf, lengths, offsets)
        return encoder.flush()


class SliceContextMixin:
    """The y entropy model shared by TinyLIC, MPAEnc and MPA (mixed into an ``nn.Module``).

    Creates ``sc_transform_1..5``, ``entropy_parameters_1..4``, ``cc_transforms`` and ``gaussian_conditional``
    with the official names and shapes, and runs :data:`CODING_PLAN` for ``forward`` (quantize, no coding),
    compression and decompression with one code path, so the decoder reproduces the encoder's parameters
    bit-exactly.
    """

    gaussian_conditional: GaussianConditional

    def _init_slice_context(self, M: int) -> None:
        sizes = self.slice_sizes = slice_sizes(M, 4)
        s0, s1, s2, s3 = sizes
        self.sc_transform_1 = MultistageMaskedConv2d(s0, 2 * s0, 3, "A")
        self.sc_transform_2 = MultistageMaskedConv2d(s0, 2 * s0, 5, "B")
        self.sc_transform_3 = MultistageMaskedConv2d(s0, 2 * s0, 5, "C")
        self.sc_transform_4 = MultistageMaskedConv2d(s1, 2 * s1, 5, "B")
        self.sc_transform_5 = MultistageMaskedConv2d(s2, 2 * s2, 5, "B")
        for index, s in enumerate(sizes[:3], start=1):
            # input: params (2M) + spatial context (2s) + channel context (2s)
            setattr(self, f"entropy_parameters_{index}", _parameter_net(2 * M + 4 * s, 10 * s // 3, 8 * s // 3, 2 * s))
        self.entropy_parameters_4 = _parameter_net(2 * M + 2 * s3, 2 * s3, 2 * s3, 2 * s3)
        self.cc_transforms = nn.ModuleList(
            nn.Sequential(
                conv(2 * M + sum(sizes[:i]), s, 5, 1), nn.GELU(), conv(s, s, 5, 1), nn.GELU(), conv(s, 2 * s, 3, 1)
            )
            for i, s in enumerate(sizes)
        )
        self.gaussian_conditional = GaussianConditional(None)

    def _run_plan(self, params: torch.Tensor, latent_shape: tuple[int, ...], step):
        """Runs the coding plan; ``step(slice, positions, scales, means, gaussian)`` returns the integer symbols.

        Returns:
            y_hat, and the scales and means each y element was coded with (full maps).
        """
        batch, _, height, width = latent_shape
        y_hat_slices: list[torch.Tensor] = []
        scales_full, means_full = [], []
        for index, (size, steps) in enumerate(zip(self.slice_sizes, CODING_PLAN)):
            support = torch.cat([params, *y_hat_slices], dim=1) if y_hat_slices else params
            cc = self.cc_transforms[index](support)
            network = getattr(self, f"entropy_parameters_{index + 1}")
            y_hat = params.new_zeros(batch, size, height, width)
            scales_map, means_map = torch.zeros_like(y_hat), torch.zeros_like(y_hat)
            coded: list[Position] = []
            for positions, context in steps:
                if positions is None:
                    gaussian_params = network(torch.cat((params, cc), dim=1))
                else:
                    sc = torch.zeros_like(cc)
                    if context is not None:
                        # context input: this slice's positions coded so far (zeros elsewhere); output kept at
                        # the positions of this step only.
                        partial = torch.zeros_like(y_hat)
                        for r, c in coded:
                            partial[:, :, r::2, c::2] = y_hat[:, :, r::2, c::2]
                        full = getattr(self, context)(partial)
                        for r, c in positions:
                            sc[:, :, r::2, c::2] = full[:, :, r::2, c::2]
                    gaussian_params = network(torch.cat((params, sc, cc), dim=1))
                scales, means = gaussian_params.chunk(2, 1)
                scales, means = take_positions(scales, positions), take_positions(means, positions)
                symbols = step(index, positions, scales, means, self.gaussian_conditional)
                put_positions(y_hat, symbols + means, positions)
                put_positions(scales_map, scales, positions)
                put_positions(means_map, means, positions)
                coded.extend(positions or ())
            y_hat_slices.append(y_hat)
            scales_full.append(scales_map)
            means_full.append(means_map)
        return torch.cat(y_hat_slices, 1), torch.cat(scales_full, 1), torch.cat(means_full, 1)

    def quantize_y(self, y: torch.Tensor, params: torch.Tensor):
        """``forward`` of the y model: (y_hat, y_likelihoods) with the same y_hat the decoder reconstructs."""
        y_slices = y.split(self.slice_sizes, dim=1)
        y_hat, scales, means = self._run_plan(params, tuple(y.shape), _Quantizer(y_slices, None))
        _, likelihoods = self.gaussian_conditional(y, scales, means=means, training=False)
        return y_hat, likelihoods

    def compress_y(self, y: torch.Tensor, params: torch.Tensor) -> tuple[bytes, torch.Tensor]:
        """Codes y into one rANS string (the whole batch); returns it with y_hat."""
        encoder = YStreamEncoder(self.gaussian_conditional)
        y_slices = y.split(self.slice_sizes, dim=1)
        y_hat, _, _ = self._run_plan(params, tuple(y.shape), _Quantizer(y_slices, encoder))
        return encoder.flush(), y_hat

    def decompress_y(self, string: bytes, params: torch.Tensor) -> torch.Tensor:
        """Decodes y_hat from its string given the hyper-synthesis output (y: params' size, half its channels)."""
        batch, channels, height, width = params.shape
        shape = (batch, channels // 2, height, width)
        y_hat, _, _ = self._run_plan(params, shape, _StreamDecoder(string, self.gaussian_conditional))
        return y_hat


def _parameter_net(in_channels: int, hidden_1: int, hidden_2: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        conv(in_channels, hidden_1, 1, 1), nn.GELU(), conv(hidden_1, hidden_2, 1, 1), nn.GELU(),
        conv(hidden_2, out_channels, 1, 1),
    )

