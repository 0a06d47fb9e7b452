"""The entropy model of MPA/TinyLIC against independent formulations of the official procedure.

Oracles: (1) the fork's EntropyBottleneck CDF construction recomputed here from its formula (sign trick) with
CompressAI's pmf -> quantized-CDF op; (2) the official y coding order re-derived here with Space2Depth channel
blocks (the official Demultiplexer formulation: block 0 = (0,0), 1 = (0,1), 2 = (1,0), 3 = (1,1); checkerboard
"anchor" = blocks 1,2), compared with the implementation's strided-slice formulation symbol by symbol and byte
by byte.
"""

import re

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder
from compressai.entropy_models import EntropyBottleneck
from compressai.entropy_models.entropy_models import pmf_to_quantized_cdf

from bench.codecs.entropy import (
    ForkEntropyBottleneck,
    MultistageMaskedConv2d,
    SliceContextMixin,
    get_scale_table,
    slice_sizes,
)


def perturbed_bottleneck(channels=16, seed=0):
    torch.manual_seed(seed)
    bottleneck = ForkEntropyBottleneck(channels)
    with torch.no_grad():
        for name, parameter in bottleneck.named_parameters():
            if name != "quantiles":
                parameter.add_(torch.randn_like(parameter) * 0.5)
        bottleneck.quantiles.copy_(torch.tensor([-6.0, 0.3, 7.0]).repeat(channels, 1, 1) + torch.randn(channels, 1, 3))
    return bottleneck


def fork_tables(bottleneck):
    """The fork's update(), recomputed from its definition."""
    filters = (1, 3, 3, 3, 3, 1)

    def logits_cumulative(x):
        for i in range(len(filters) - 1):
            x = torch.matmul(F.softplus(getattr(bottleneck, f"_matrix{i}")), x) + getattr(bottleneck, f"_bias{i}")
            if i < len(filters) - 2:
                x = x + torch.tanh(getattr(bottleneck, f"_factor{i}")) * torch.tanh(x)
        return x

    with torch.no_grad():
        q = bottleneck.quantiles[:, 0, :]
        medians = q[:, 1]
        minima = torch.ceil(medians - q[:, 0]).int().clamp(min=0)
        maxima = torch.ceil(q[:, 2] - medians).int().clamp(min=0)
        length = maxima + minima + 1
        samples = (torch.arange(int(length.max()))[None, :] + (medians - minima)[:, None])[:, None, :]
        lower, upper = logits_cumulative(samples - 0.5), logits_cumulative(samples + 0.5)
        sign = -torch.sign(lower + upper)
        pmf = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))[:, 0, :]
        tail = torch.sigmoid(lower[:, 0, :1]) + torch.sigmoid(-upper[:, 0, -1:])
        table = torch.zeros(len(length), int(length.max()) + 2, dtype=torch.int32)
        for c in range(len(length)):
            cdf = pmf_to_quantized_cdf(torch.cat([pmf[c, : length[c]], tail[c]]), 16)
            table[c, : cdf.numel()] = cdf
    return table, -minima, length + 2


def test_fork_bottleneck_tables_follow_the_fork_formula_not_upstream():
    bottleneck = perturbed_bottleneck()
    bottleneck.update(force=True)
    table, offset, length = fork_tables(bottleneck)
    assert torch.equal(bottleneck._quantized_cdf, table)
    assert torch.equal(bottleneck._offset, offset)
    assert torch.equal(bottleneck._cdf_length, length)

    upstream = EntropyBottleneck(16)
    renamed = {
        re.sub(r"^_(matrix|bias|factor)(\d)$", lambda m: {"matrix": "matrices", "bias": "biases",
                                                          "factor": "factors"}[m[1]] + "." + m[2], k): v
        for k, v in bottleneck.state_dict().items() if not k.startswith(("_quantized", "_offset", "_cdf"))
    }
    upstream.load_state_dict(renamed, strict=False)
    upstream.update(force=True)
    assert not torch.equal(upstream._quantized_cdf, bottleneck._quantized_cdf)  # the reason for the fork class


def test_fork_bottleneck_keys_and_likelihood():
    bottleneck = perturbed_bottleneck(channels=4)
    keys = set(bottleneck.state_dict())
    expected = {f"_matrix{i}" for i in range(5)} | {f"_bias{i}" for i in range(5)} | {f"_factor{i}" for i in range(4)}
    assert expected <= keys
    assert not any(k.startswith(("matrices", "biases", "factors")) for k in keys)
    z = torch.randn(2, 4, 3, 3) * 3
    _, likelihood = bottleneck(z, training=False)
    assert ((likelihood > 0) & (likelihood <= 1)).all()
    # Sign trick = the plain difference mathematically (it only changes the rounding).
    medians = bottleneck._get_medians().reshape(1, -1, 1, 1)
    values = torch.round(z - medians) + medians
    flat = values.permute(1, 0, 2, 3).reshape(4, 1, -1)
    lower = bottleneck._logits_cumulative(flat - 0.5, True)
    upper = bottleneck._logits_cumulative(flat + 0.5, True)
    plain = (torch.sigmoid(upper) - torch.sigmoid(lower)).clamp(min=1e-9).reshape(4, 2, 3, 3).permute(1, 0, 2, 3)
    torch.testing.assert_close(likelihood, plain, atol=1e-6, rtol=1e-4)


def test_slice_schedule_and_masks():
    assert slice_sizes(320, 4) == [24, 69, 104, 123]
    a = MultistageMaskedConv2d(1, 1, 3, "A").mask[0, 0]
    b = MultistageMaskedConv2d(1, 1, 5, "B").mask[0, 0]
    c = MultistageMaskedConv2d(1, 1, 5, "C").mask[0, 0]
    assert a.tolist() == [[1, 0, 1], [0, 0, 0], [1, 0, 1]]
    assert b.tolist() == [[(r + col) % 2 for col in range(5)] for r in range(5)]
    assert c.tolist() == [[1.0 if r % 2 or col % 2 else 0.0 for col in range(5)] for r in range(5)]
    torch.testing.assert_close(get_scale_table()[[0, -1]], torch.tensor([0.11, 256.0]))


class Context(SliceContextMixin, nn.Module):
    def __init__(self, M=320):
        super().__init__()
        self._init_slice_context(M)
        self.gaussian_conditional.update_scale_table(get_scale_table(), force=True)


# --- the official coding order, re-derived with Space2Depth channel blocks -------------------------------------


def space_to_depth(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def depth_to_space(x):
    b, c4, h, w = x.shape
    c = c4 // 4
    return x.reshape(b, 2, 2, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c, 2 * h, 2 * w)


def blocks_of(x, blocks):
    s = space_to_depth(x)
    c = s.shape[1] // 4
    return torch.cat([s[:, i * c : (i + 1) * c] for i in blocks], dim=1)


def assemble(parts, like):
    """Full tensor from {block: (B, C, H/2, W/2)}, zeros in the other blocks."""
    s = torch.zeros_like(space_to_depth(like))
    c = s.shape[1] // 4
    for i, part in parts.items():
        s[:, i * c : (i + 1) * c] = part
    return depth_to_space(s)


OFFICIAL_STEPS = [  # (blocks coded, context conv) per slice, in the official compress() order
    [([0], None), ([3], "sc_transform_1"), ([1], "sc_transform_2"), ([2], "sc_transform_3")],
    [([1, 2], None), ([0, 3], "sc_transform_4")],
    [([0, 3], None), ([1, 2], "sc_transform_5")],
    [(None, None)],
]


def official_symbols(model, y, params):
    symbols, indexes, y_hat_slices = [], [], []
    gaussian = model.gaussian_conditional
    for index, y_slice in enumerate(y.split(model.slice_sizes, dim=1)):
        cc = model.cc_transforms[index](torch.cat([params, *y_hat_slices], 1))
        network = getattr(model, f"entropy_parameters_{index + 1}")
        decoded = {}
        y_hat = None
        for blocks, context in OFFICIAL_STEPS[index]:
            if blocks is None:
                scales, means = network(torch.cat((params, cc), 1)).chunk(2, 1)
                q = gaussian.quantize(y_slice, "symbols", means)
                symbols += q.reshape(-1).tolist()
                indexes += gaussian.build_indexes(scales).reshape(-1).tolist()
                y_hat = q + means
                continue
            sc = torch.zeros_like(cc)
            if context is not None:
                full = getattr(model, context)(assemble(decoded, y_slice))
                sc = assemble({i: blocks_of(full, [i]) for i in blocks}, full)
            scales, means = network(torch.cat((params, sc, cc), 1)).chunk(2, 1)
            scales, means = blocks_of(scales, blocks), blocks_of(means, blocks)
            q = gaussian.quantize(blocks_of(y_slice, blocks), "symbols", means)
            symbols += q.reshape(-1).tolist()
            indexes += gaussian.build_indexes(scales).reshape(-1).tolist()
            for n, i in enumerate(blocks):
                c = y_slice.shape[1]
                decoded[i] = (q + means)[:, n * c : (n + 1) * c]
            y_hat = assemble(decoded, y_slice)
        y_hat_slices.append(y_hat)
    encoder = BufferedRansEncoder()
    cdf = gaussian.quantized_cdf.tolist()
    encoder.encode_with_indexes(symbols, indexes, cdf, gaussian.cdf_length.reshape(-1).int().tolist(),
                                gaussian.offset.reshape(-1).int().tolist())
    return encoder.flush(), torch.cat(y_hat_slices, 1), symbols, indexes


@pytest.fixture(scope="module")
def context_and_latents():
    torch.manual_seed(0)
    model = Context().eval()
    with torch.no_grad():  # larger parameter-network outputs: scales spread over the table, nonzero symbols
        for network in (model.entropy_parameters_1, model.entropy_parameters_2, model.entropy_parameters_3,
                        model.entropy_parameters_4):
            network[4].weight.mul_(20)
    y = torch.randn(2, 320, 4, 6) * 4
    params = torch.randn(2, 640, 4, 6)
    return model, y, params


@torch.no_grad()
def test_y_stream_bytes_equal_the_official_order(context_and_latents):
    model, y, params = context_and_latents
    string, y_hat = model.compress_y(y, params)
    expected_string, expected_y_hat, symbols, _ = official_symbols(model, y, params)
    assert len(symbols) == y.numel() and any(symbols)
    assert string == expected_string
    assert torch.equal(y_hat, expected_y_hat)


@torch.no_grad()
def test_y_decoding_and_forward_reproduce_the_encoder(context_and_latents):
    model, y, params = context_and_latents
    string, y_hat = model.compress_y(y, params)
    assert torch.equal(model.decompress_y(string, params), y_hat)
    forward_y_hat, likelihoods = model.quantize_y(y, params)
    assert torch.equal(forward_y_hat, y_hat)
    assert likelihoods.shape == y.shape and ((likelihoods > 0) & (likelihoods <= 1)).all()


def test_coding_order_moves_with_the_symbol_values(context_and_latents):
    """Changing one y element changes only what is coded after it: a prefix of the symbol list is stable."""
    model, y, params = context_and_latents
    with torch.no_grad():
        _, _, before, _ = official_symbols(model, y, params)
        changed = y.clone()
        changed[0, 0, 1, 1] += 50.0  # slice 0, position (1,1): coded in the second step of slice 0
        _, _, after, _ = official_symbols(model, changed, params)
    first_diff = next(i for i, (a, b) in enumerate(zip(before, after)) if a != b)
    step_0 = 2 * 24 * 2 * 3  # the whole batch's (0,0) symbols of slice 0 come first
    assert first_diff >= step_0
    assert np.sum(np.array(before) != np.array(after)) >= 1
