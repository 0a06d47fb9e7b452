"""Neighborhood attention on CPU: the exact gather reference against the tiled fast path, at MPA's shapes for a
768x512 (Kodak) image. Run with ``pytest benchmarks/test_bench_attention.py``."""

import pytest
import torch

from bench.codecs.attention import na2d_reference, na2d_tiled

# (tokens H x W, channels, heads, kernel): g_a1/g_s6, g_a3/g_s4, g_a5/g_s2, g_a7/g_s0, h_a1/h_s2 at 768x512.
SHAPES = {
    "256x384-d128-k7": (256, 384, 128, 8, 7),
    "128x192-d192-k7": (128, 192, 192, 12, 7),
    "64x96-d256-k7": (64, 96, 256, 16, 7),
    "32x48-d320-k7": (32, 48, 320, 20, 7),
    "16x24-d192-k3": (16, 24, 192, 12, 3),
}
PATHS = {"reference": na2d_reference, "tiled": na2d_tiled}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_neighborhood_attention(benchmark, shape, path):
    height, width, channels, heads, kernel = SHAPES[shape]
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, heads, height, width, channels // heads, generator=generator) for _ in range(3))
    rpb = torch.randn(heads, 2 * kernel - 1, 2 * kernel - 1, generator=generator)
    benchmark.group = f"na2d {shape}"
    benchmark.extra_info.update(tokens=height * width, heads=heads, kernel=kernel, threads=torch.get_num_threads())
    rounds = 1 if path == "reference" and height * width > 20000 else 3
    with torch.inference_mode():
        out = benchmark.pedantic(PATHS[path], args=(q, k, v, rpb, kernel), rounds=rounds, warmup_rounds=1)
        if path == "tiled" and height * width <= 20000:  # the two paths agree (tests/test_attention.py in depth)
            torch.testing.assert_close(out, na2d_reference(q, k, v, rpb, kernel), atol=1e-5, rtol=0)
