"""JPEG and WebP latency: the suite's timed region against ``compressai.utils.bench`` on the same images.

``compressai.utils.bench`` times Pillow's ``save`` into memory (encode) and ``Image.open`` + ``load`` (decode) of an
already loaded 8-bit image, with one torch thread. The suite times the codec's own encode and decode of bytes
(:func:`bench.timing.timed_encode` / :func:`bench.timing.timed_decode` through the profiler's
:func:`bench.complexity.latency.time_codec`, one torch thread as ``bench profile`` uses for classical codecs). Both
write the same bytes (checked), so the ratio of the medians is the overhead of the suite's timed region; it must stay
within 1.5x either way. Images: ``$MPA_BENCH_KODAK`` (a folder of Kodak PNGs) or the Kodak image in tests/assets.
Run with ``pytest benchmarks/test_bench_classical_latency.py -s``: the ratios are printed and in ``extra_info``.
"""

import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.codecs.classical import JPEG, WebP
from bench.complexity.latency import time_codec
from bench.tensors import uint8_to_tensor
from bench.timing import torch_threads

QUALITY = 75
REPEATS, WARMUP = 15, 2
MAX_RATIO = 1.5
ASSET = Path(__file__).resolve().parents[1] / "tests" / "assets" / "kodim20.png"


def images() -> list[Path]:
    folder = os.environ.get("MPA_BENCH_KODAK")
    found = sorted(Path(folder).glob("kodim*.png"))[:4] if folder else []
    return found or [ASSET]


def compressai_times(codec_class, path: Path) -> tuple[float, float, int]:
    """Median encode and decode seconds of compressai.utils.bench's codec on one image, and its byte count."""
    import argparse

    codec = codec_class(argparse.Namespace())
    encodes, decodes = [], []
    for run in range(WARMUP + REPEATS):
        info, _ = codec._run_impl(str(path), QUALITY)
        if run >= WARMUP:
            encodes.append(info["encoding_time"])
            decodes.append(info["decoding_time"])
    with Image.open(path) as image:
        pixels = image.size[0] * image.size[1]
    return statistics.median(encodes), statistics.median(decodes), round(info["bpp"] * pixels / 8)


@pytest.mark.parametrize("name", ["jpeg", "webp"])
def test_suite_latency_within_1_5x_of_compressai_bench(benchmark, name):
    from compressai.utils.bench import codecs as compressai_codecs

    suite_codec = {"jpeg": JPEG(), "webp": WebP()}[name]
    reference_class = {"jpeg": compressai_codecs.JPEG, "webp": compressai_codecs.WebP}[name]
    ratios = {"encode": [], "decode": []}
    with torch_threads(1):
        for path in images():
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB"))
            x = uint8_to_tensor(rgb)
            ours = time_codec(suite_codec, x, QUALITY, ["default"], WARMUP, REPEATS)["default"]
            encode, decode, size = compressai_times(reference_class, path)
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, {"jpeg": "JPEG", "webp": "WEBP"}[name], quality=QUALITY)
            assert len(suite_codec.encode_array(rgb, QUALITY).data) == size == len(buffer.getvalue())  # same work
            ratios["encode"].append(ours.encode / encode)
            ratios["decode"].append(ours.decode / decode)
            print(f"{name} {path.name}: suite encode {ours.encode * 1e3:.2f} ms / compressai {encode * 1e3:.2f} ms "
                  f"= {ours.encode / encode:.2f}x; decode {ours.decode * 1e3:.2f} / {decode * 1e3:.2f} ms = "
                  f"{ours.decode / decode:.2f}x")
        benchmark.group = f"{name} q{QUALITY} encode (suite timed region)"
        benchmark.pedantic(suite_codec.encode_array, args=(rgb, QUALITY), rounds=REPEATS, warmup_rounds=WARMUP)
    summary = {f"{step}_ratio_median": statistics.median(values) for step, values in ratios.items()}
    benchmark.extra_info.update(images=[p.name for p in images()], **summary)
    print(f"{name}: median ratio suite / compressai.utils.bench: encode {summary['encode_ratio_median']:.2f}x, "
          f"decode {summary['decode_ratio_median']:.2f}x ({time.strftime('%H:%M:%S')})")
    for step, value in summary.items():
        assert 1 / MAX_RATIO <= value <= MAX_RATIO, f"{name} {step}: {value:.2f}x"
