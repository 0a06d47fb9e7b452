"""Encode/decode latency of TinyLIC (CPU) and of MPA and TinyLIC on a GPU at batch 1 and 16, 768x512 (Kodak size).

MPA's CPU encode/decode at 768x512 are in ``benchmarks/test_bench_mpa.py``; this file adds TinyLIC beside them and
the GPU cases (skipped without CUDA). Random weights: the network cost is that of the real models; the entropy-coding
share depends on the symbol statistics, which random weights change. Run with
``pytest benchmarks/test_bench_complexity.py``; the per-part split (network / entropy / synthesis) is in
``extra_info``. ``python -m bench profile mpa tinylic --size 512x768 --device cuda --batch 16`` reports the same
quantities with the profiler's protocol (median of repeats after warm-up).
"""

import pytest
import torch

from bench.codecs.learned import pad_center
from bench.timing import Stopwatch, synchronize
from bench.codecs.mpa import MPA, MPACodec
from bench.codecs.tinylic import TinyLIC, TinyLICCodec

HEIGHT, WIDTH = 512, 768
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(1)
    return torch.rand(1, 3, HEIGHT, WIDTH)


def random_model(cls, device="cpu"):
    torch.manual_seed(0)
    model = cls().eval()
    model.update(force=True)
    return model.to(device)


@pytest.fixture(scope="module")
def tinylic_cpu():
    return TinyLICCodec.from_models({1.0: random_model(TinyLIC)}, "random weights (seed 0)")


def test_tinylic_encode_768x512_cpu(benchmark, tinylic_cpu, image):
    benchmark.group = "tinylic 768x512 cpu"
    bitstream = benchmark.pedantic(tinylic_cpu.encode, args=(image, 1), rounds=2, warmup_rounds=1)
    benchmark.extra_info.update(threads=torch.get_num_threads(),
                                **{f"last_{k}_s": v for k, v in bitstream.timings.items()})


def test_tinylic_decode_768x512_cpu(benchmark, tinylic_cpu, image):
    benchmark.group = "tinylic 768x512 cpu"
    bitstream = tinylic_cpu.encode(image, 1)
    decoded = benchmark.pedantic(lambda: next(iter(tinylic_cpu.decode_variants(bitstream, ["default"]))),
                                 rounds=2, warmup_rounds=1)
    assert decoded.x_hat.shape == (1, 3, HEIGHT, WIDTH)
    benchmark.extra_info.update(threads=torch.get_num_threads(),
                                **{f"last_{k}_s": v for k, v in decoded.timings.items()})


# --- GPU: batch 1 through the codecs, batch 16 through the model steps the codecs run ----------------------------


@pytest.fixture(scope="module")
def gpu_models():
    return {"mpa": random_model(MPA, "cuda"), "tinylic": random_model(TinyLIC, "cuda")}


def _steps(name, model):
    """(encode, decode) of a batch through the steps the codecs run; MPA at q = 8, decoded on its MSE path."""
    quality, q_task, task = (8.0, 8.0, 0) if name == "mpa" else (None, None, 0)
    device = next(model.parameters()).device

    def encode(x):
        clock = Stopwatch(device)
        y, z, _ = clock.run("network", model.analyze, x, quality)
        coded, _ = clock.run("entropy", model.code_latents, y, z, quality)
        return coded, clock.times

    def decode(coded):
        clock = Stopwatch(device)
        y_hat = clock.run("entropy", model.decode_latents, coded["strings"], coded["shape"], quality)
        x_hat = clock.run("synthesis", model.synthesize, y_hat, quality, q_task, task)
        synchronize(device)
        return x_hat, clock.times

    return encode, decode


def _gpu_batch(image, batch):
    """The padded image on the GPU, repeated ``batch`` times."""
    return pad_center(image.cuda(), 256)[0].expand(batch, -1, -1, -1).contiguous()


def _record(benchmark, batch, times):
    benchmark.extra_info.update(batch=batch, device=torch.cuda.get_device_name(),
                                per_image_mean_s=benchmark.stats.stats.mean / batch,
                                **{f"last_{k}_s": v for k, v in times.items()})


@cuda
@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("name", ["mpa", "tinylic"])
def test_encode_768x512_gpu(benchmark, gpu_models, image, name, batch):
    benchmark.group = f"{name} 768x512 cuda encode"
    encode, _ = _steps(name, gpu_models[name])
    x = _gpu_batch(image, batch)
    with torch.inference_mode():
        (_, times) = benchmark.pedantic(encode, args=(x,), rounds=5, warmup_rounds=2)
    _record(benchmark, batch, times)


@cuda
@pytest.mark.parametrize("batch", [1, 16])
@pytest.mark.parametrize("name", ["mpa", "tinylic"])
def test_decode_768x512_gpu(benchmark, gpu_models, image, name, batch):
    benchmark.group = f"{name} 768x512 cuda decode"
    encode, decode = _steps(name, gpu_models[name])
    x = _gpu_batch(image, batch)
    with torch.inference_mode():
        coded, _ = encode(x)
        x_hat, times = benchmark.pedantic(decode, args=(coded,), rounds=5, warmup_rounds=2)
    assert x_hat.shape == (batch, 3, HEIGHT, WIDTH)
    _record(benchmark, batch, times)


@cuda
def test_mpa_codec_round_trip_gpu_batch_1(benchmark, gpu_models, image):
    """Batch 1 end to end through the codec (padding, container, cropping), as ``bench profile`` times it."""
    benchmark.group = "mpa 768x512 cuda codec"
    codec = MPACodec.from_model(gpu_models["mpa"], alphas=(1.0,), tasks=("mse",), device="cuda")

    def round_trip():
        return codec.decode(codec.encode(image, 8), "alpha=1.0,task=mse")

    x_hat = benchmark.pedantic(round_trip, rounds=3, warmup_rounds=1)
    assert x_hat.shape == (1, 3, HEIGHT, WIDTH)
