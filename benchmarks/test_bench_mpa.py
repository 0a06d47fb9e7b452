"""MPA on CPU at 768x512 (full-size model, random weights): encode and decode latency, and the alpha sweep.

The sweep compares what this suite does for K decoder variants of one bitstream (1 encode + 1 entropy decode +
K syntheses) with the official protocol, which runs ``eval_var_model`` once per q_task (K x (encode + decode)).
Run with ``pytest benchmarks/test_bench_mpa.py``; the figures are in the benchmark table and ``extra_info``.
Random weights change the symbol statistics, hence the entropy-coding share, not the network cost.
"""

import time

import pytest
import torch

from bench.codecs.mpa import MPA, MPACodec

K = 6
ALPHAS = tuple(i / (K - 1) for i in range(K))


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    model = MPA().eval()
    model.update(force=True)
    return MPACodec.from_model(model, alphas=ALPHAS, tasks=("mse",))


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(1)
    return torch.rand(1, 3, 512, 768)


def test_mpa_encode_768x512(benchmark, codec, image):
    benchmark.group = "mpa 768x512"
    with torch.inference_mode():
        bitstream = benchmark.pedantic(codec.encode, args=(image, 4), rounds=2, warmup_rounds=1)
    benchmark.extra_info.update(bytes=bitstream.num_bytes, **{f"last_{k}_s": v for k, v in bitstream.timings.items()})


def test_mpa_decode_768x512(benchmark, codec, image):
    benchmark.group = "mpa 768x512"
    bitstream = codec.encode(image, 4)
    decoded = benchmark.pedantic(codec.decode, args=(bitstream, "alpha=1.0,task=mse"), rounds=2, warmup_rounds=1)
    assert decoded.shape == (1, 3, 512, 768)


def test_mpa_alpha_sweep_vs_official_protocol(benchmark, codec, image):
    """Ours: 1 encode + decode_variants over K alphas. Official: K x (encode + decode)."""
    benchmark.group = "mpa alpha sweep"
    variants = codec.decoder_variants()
    assert len(variants) == K

    def ours():
        bitstream = codec.encode(image, 4)
        return list(codec.decode_variants(bitstream, variants))

    def official():
        for variant in variants:
            codec.decode(codec.encode(image, 4), variant)

    start = time.perf_counter()
    official()
    official_seconds = time.perf_counter() - start
    benchmark.pedantic(ours, rounds=1, warmup_rounds=0)
    ours_seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(K=K, official_seconds=official_seconds, ours_seconds=ours_seconds,
                                ratio_ours_over_official=ours_seconds / official_seconds)
