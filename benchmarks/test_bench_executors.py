"""Executors on the default suite (343 items: 7 classical codecs x their rate points x 7 images): items per second
of the in-process executor, the process pool (2 workers) and Ray (2 workers), measured one after another in one run,
and the driver's memory over a long dataset.

Run with ``pytest benchmarks/test_bench_executors.py`` (a few minutes); the figures are in ``extra_info``:
``items_per_second`` per executor, and for Ray ``ray_over_process`` (items/s of Ray / items/s of the process pool;
the goal is >= 0.9 on 2 cores). Each run starts from an empty store and includes its executor's setup (spawning
pool workers, Ray workers building their plans), but not starting the local Ray instance, which a cluster user
pays once.
"""

import resource
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.engine.execution import ExecutionConfig
from bench.engine.run import run_suite
from bench.engine.suite import load_suite

RATES: dict[str, float] = {}


@pytest.fixture(scope="module")
def default_suite():
    return load_suite("default")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("kind, workers", [("local", 1), ("process", 2), ("ray", 2)])
def test_items_per_second_on_the_default_suite(benchmark, default_suite, local_ray, tmp_path, kind, workers):
    benchmark.group = "executors, default suite"
    execution = ExecutionConfig(kind=kind, workers=workers)
    counter = iter(range(100))

    def run():
        return run_suite(default_suite, tmp_path / f"runs{next(counter)}", progress=False, execution=execution)

    result = benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    assert result.outcome.computed == 343 and not result.outcome.failures
    RATES[kind] = 343 / benchmark.stats.stats.mean
    benchmark.extra_info.update(items=343, items_per_second=RATES[kind], workers=workers)
    if kind == "ray" and "process" in RATES:
        benchmark.extra_info["ray_over_process"] = RATES["ray"] / RATES["process"]


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_driver_memory_on_a_long_dataset(benchmark, tmp_path):
    """2,000 generated 64x64 images through JPEG at one point with the process pool: the driver's resident memory at
    the start and the end of the run (tasks are handed out lazily, at most 2 x workers in flight)."""
    benchmark.group = "driver memory"
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2000):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"img{index:04d}.png")
    suite_file = tmp_path / "long.toml"
    suite_file.write_text(f'name = "long"\ndatasets = [{{ name = "folder", root = "{images}" }}]\n'
                          f'metrics = ["psnr-rgb"]\n[[codecs]]\ncodec = "jpeg"\npoints = [50]\n')
    suite = load_suite(str(suite_file))
    start_rss = _rss_mib()
    started = time.perf_counter()
    result = benchmark.pedantic(run_suite, args=(suite, tmp_path / "runs"),
                                kwargs={"progress": False, "execution": ExecutionConfig(kind="process", workers=2)},
                                rounds=1, warmup_rounds=0)
    assert result.outcome.computed == 2000
    benchmark.extra_info.update(items=2000, rss_start_mib=start_rss, rss_end_mib=_rss_mib(),
                                max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                seconds=time.perf_counter() - started)
