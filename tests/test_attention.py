"""Neighborhood attention: the exact gather reference against a literal per-query loop (the NATTEN 0.17 naive
kernel rules), and the tiled and flex paths against the reference."""

import warnings

import pytest
import torch

from bench.codecs import attention
from bench.codecs.attention import (
    na2d_flex,
    na2d_reference,
    na2d_tiled,
    neighborhood_attention,
    resolve_backend,
    set_default_backend,
    window_starts,
)
from bench.codecs.layers import NeighborhoodAttention2D


def natten_loop(q, k, v, rpb, K):
    """Per-query loop written from NATTEN's naive kernel: window start max(i-ns,0) + [i+ns>=L](L-i-ns-1) and bias
    start ns + [i<ns](ns-i) + [i+ns>=L](L-i-1-ns) (the formulas of the kernel, not the clamp form)."""
    batch, heads, height, width, dim = q.shape
    ns = K // 2

    def window(i, length):
        return max(i - ns, 0) + (length - i - ns - 1 if i + ns >= length else 0)

    def bias_start(i, length):
        return ns + (ns - i if i < ns else 0) + (length - i - 1 - ns if i + ns >= length else 0)

    out = torch.zeros_like(q)
    for i in range(height):
        for j in range(width):
            r, c = window(i, height), window(j, width)
            br, bc = bias_start(i, height), bias_start(j, width)
            keys = k[:, :, r : r + K, c : c + K].reshape(batch, heads, K * K, dim)
            values = v[:, :, r : r + K, c : c + K].reshape(batch, heads, K * K, dim)
            bias = rpb[:, br : br + K, bc : bc + K].reshape(heads, K * K)
            logits = (q[:, :, i, j, None, :] * keys).sum(-1) + bias
            out[:, :, i, j] = (logits.softmax(-1)[..., None] * values).sum(-2)
    return out


def random_inputs(batch, heads, height, width, K, dim=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, height, width, dim, generator=generator) for _ in range(3))
    rpb = torch.randn(heads, 2 * K - 1, 2 * K - 1, generator=generator)
    return q, k, v, rpb


SHAPES = [  # (batch, heads, H, W, K): H or W equal to K, non-square, borders wider than the interior, hyper K=3
    (1, 2, 7, 7, 7),
    (2, 3, 7, 12, 7),
    (1, 4, 13, 9, 7),
    (1, 2, 20, 17, 7),
    (2, 2, 3, 5, 3),
    (1, 12, 4, 6, 3),
    (1, 1, 11, 3, 3),
]


@pytest.mark.parametrize("shape", SHAPES[:5])
def test_reference_equals_natten_kernel_loop(shape):
    batch, heads, height, width, K = shape
    q, k, v, rpb = random_inputs(batch, heads, height, width, K)
    torch.testing.assert_close(na2d_reference(q, k, v, rpb, K), natten_loop(q, k, v, rpb, K), atol=1e-5, rtol=0)


def test_window_start_is_shifted_not_truncated():
    assert window_starts(10, 7).tolist() == [0, 0, 0, 0, 1, 2, 3, 3, 3, 3]
    assert window_starts(7, 7).tolist() == [0] * 7


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tile", [3, 8])
def test_tiled_path_matches_reference(shape, tile):
    batch, heads, height, width, K = shape
    q, k, v, rpb = random_inputs(batch, heads, height, width, K, seed=1)
    expected = na2d_reference(q, k, v, rpb, K)
    torch.testing.assert_close(na2d_tiled(q, k, v, rpb, K, tile=tile), expected, atol=1e-5, rtol=0)


def test_tiled_path_on_a_multi_run_grid_and_small_chunks(monkeypatch):
    """Grids with several tiles per border run and chunking of row tiles give the same result."""
    monkeypatch.setattr(attention, "_TILED_CHUNK_BYTES", 1)
    q, k, v, rpb = random_inputs(1, 2, 40, 27, 7, dim=8, seed=2)
    torch.testing.assert_close(na2d_tiled(q, k, v, rpb, 7, tile=4), na2d_reference(q, k, v, rpb, 7), atol=1e-5,
                               rtol=0)


@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[5]])
def test_flex_path_logic_matches_reference_on_cpu(shape):
    """Exercises the block mask, the clamped bias index and the bias buffer of the flex path (eager on CPU)."""
    batch, heads, height, width, K = shape
    q, k, v, rpb = random_inputs(batch, heads, height, width, K, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = na2d_flex(q, k, v, rpb, K)
        # A second layer of the same shape reuses the plan with its own bias.
        rpb2 = torch.randn_like(rpb)
        out2 = na2d_flex(q, k, v, rpb2, K)
    torch.testing.assert_close(out, na2d_reference(q, k, v, rpb, K), atol=1e-5, rtol=0)
    torch.testing.assert_close(out2, na2d_reference(q, k, v, rpb2, K), atol=1e-5, rtol=0)


def test_tiled_path_cached_in_inference_mode_still_backpropagates():
    q, k, v, rpb = random_inputs(1, 2, 9, 10, 7, seed=4)
    with torch.inference_mode():
        na2d_tiled(q, k, v, rpb, 7)  # fills the shape cache inside inference mode
    rpb = rpb.clone().requires_grad_()
    na2d_tiled(q, k, v, rpb, 7).square().sum().backward()
    reference_rpb = rpb.detach().clone().requires_grad_()
    na2d_reference(q, k, v, reference_rpb, 7).square().sum().backward()
    torch.testing.assert_close(rpb.grad, reference_rpb.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("path", [na2d_reference, na2d_tiled])
def test_inputs_smaller_than_the_kernel_raise(path):
    q, k, v, rpb = random_inputs(1, 1, 6, 9, 7)
    with pytest.raises(ValueError, match="greater than or equal to the product of kernel size"):
        path(q, k, v, rpb, 7)


def test_backend_selection(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_backend("auto", cpu) == "tiled"
    assert resolve_backend("auto", torch.device("cuda")) == "flex"
    assert resolve_backend("reference", cpu) == "reference"
    set_default_backend("reference")
    try:
        assert resolve_backend("auto", cpu) == "reference"
    finally:
        set_default_backend("auto")
    with pytest.raises(ValueError, match="unknown neighborhood-attention backend"):
        resolve_backend("natten", cpu)
    calls = []
    monkeypatch.setattr(attention, "na2d_reference", lambda *a: calls.append("reference") or a[0])
    q, k, v, rpb = random_inputs(1, 1, 7, 7, 7)
    neighborhood_attention(q, k, v, rpb, 7, backend="reference")
    assert calls == ["reference"]


def test_module_matches_natten_layout_and_scale():
    """qkv channel order [q|k|v] x head x head_dim, query scale head_dim^-0.5, then proj."""
    torch.manual_seed(0)
    module = NeighborhoodAttention2D(dim=24, kernel_size=3, num_heads=3)
    x = torch.randn(2, 5, 6, 24)
    qkv = module.qkv(x).reshape(2, 5, 6, 3, 3, 8)
    q, k, v = (qkv[..., i, :, :].permute(0, 3, 1, 2, 4) for i in range(3))
    expected = natten_loop(q * 8**-0.5, k, v, module.rpb, 3).permute(0, 2, 3, 1, 4).reshape(2, 5, 6, 24)
    torch.testing.assert_close(module(x), module.proj(expected), atol=1e-5, rtol=0)


def test_tinylic_attention_pads_small_inputs_and_crops_back():
    """TinyLIC's bundled attention zero-pads x right/bottom to the kernel size (before qkv) and crops back."""
    torch.manual_seed(0)
    module = NeighborhoodAttention2D(dim=16, kernel_size=7, num_heads=2, pad_small=True)
    x = torch.randn(1, 4, 5, 16)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 2, 0, 3))
    strict = NeighborhoodAttention2D(dim=16, kernel_size=7, num_heads=2)
    strict.load_state_dict(module.state_dict())
    torch.testing.assert_close(module(x), strict(padded)[:, :4, :5], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="kernel size"):
        strict(x)
