"""The Ray executor (issue 11) on a local Ray instance started by the tests (2 CPUs, no GPU): the same rows as a
local run, learned codecs on actors that load their checkpoint once, resume after kill -9 of the driver, a killed
Ray worker retried, and the one-line errors."""

import builtins
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.engine.execution import ExecutionConfig
from bench.engine.executors.ray import RayExecutor
from bench.engine.plan import build_plan
from bench.engine.run import STORE_NAME, run_suite
from bench.engine.runner import PendingWork
from bench.engine.suite import apply_overrides, load_suite

ray = pytest.importorskip("ray", reason="the ray extra is part of the test install: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parents[1]
RAY = ExecutionConfig(kind="ray", workers=2)
LOCAL = ExecutionConfig(kind="local")
STABLE = ["codec", "dataset", "image_id", "image_sha256", "point", "variant", "status", "num_bytes",
          "payload_bytes", "bitstream_sha256"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()



def same_rows(first: Path, second: Path, metrics: list[str]) -> None:
    a, b = (pd.read_csv(run / "results.csv").sort_values(["codec", "image_id", "point", "variant"])
            .reset_index(drop=True) for run in (first, second))
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a[STABLE], b[STABLE])
    pd.testing.assert_frame_equal(a[metrics], b[metrics], check_exact=False, rtol=1e-9)


def test_the_default_suite_through_ray_gives_the_rows_of_a_local_run(tmp_path):
    suite = apply_overrides(load_suite("default"), limit=1)
    local = run_suite(suite, tmp_path / "local", progress=False, execution=LOCAL)
    distributed = run_suite(suite, tmp_path / "ray", progress=False, execution=RAY)
    assert distributed.outcome.computed == local.outcome.computed == 49 and not distributed.outcome.failures
    same_rows(local.run_dir, distributed.run_dir, ["psnr-rgb", "ms-ssim-rgb"])
    assert distributed.outcome.executor["kind"] == "ray" and distributed.outcome.executor["ray_version"]
    assert distributed.outcome.executor["cluster_resources"]["CPU"] == 2.0


LEARNED = """
name = "learned"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb", "psnr-float"]

[[codecs]]
codec = "mpa"
points = [3]
options = {{ checkpoint = "{mpa}", alphas = [0.0, 1.0] }}

[[codecs]]
codec = "bmshj2018-factorized"
options = {{ checkpoint = "{zoo}", qualities = [1] }}
"""


@pytest.fixture(scope="module")
def learned_suite(tmp_path_factory, kodak_image):
    """Random-weight MPA and bmshj2018-factorized checkpoints (test-only weights) and one small image."""
    from compressai.zoo import image_models

    from bench.codecs.mpa import MPA

    base = tmp_path_factory.mktemp("learned")
    images = base / "images"
    images.mkdir()
    Image.fromarray(kodak_image[:64, :96]).save(images / "img0.png")
    torch.manual_seed(0)
    torch.save({"state_dict": MPA().state_dict()}, base / "mpa-random.pth.tar")
    torch.save(image_models["bmshj2018-factorized"](quality=1).state_dict(), base / "zoo-random.pth.tar")
    path = base / "learned.toml"
    path.write_text(LEARNED.format(root=images, mpa=base / "mpa-random.pth.tar", zoo=base / "zoo-random.pth.tar"))
    return load_suite(str(path))


def test_learned_codecs_run_on_actors_that_load_their_checkpoint_once(learned_suite, tmp_path):
    """MPA (two decoder variants) and a CompressAI model on actors: each actor builds its plan (loads its
    checkpoint) once, and the results equal a local run's row for row. The local run uses one torch thread, as each
    actor does, so that even the float reconstructions (reduction order) agree."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_suite(learned_suite, tmp_path / "local", progress=False, execution=LOCAL)
    finally:
        torch.set_num_threads(threads)
    plan = build_plan(learned_suite)
    work = PendingWork.find(plan, _empty_store(tmp_path), {})
    with RayExecutor(plan, RAY) as executor:
        results = list(executor.map(work.tasks()))
        built = {label: [ray.get(actor.plans_built.remote()) for actor in group]
                 for label, group in executor._actors.items()}
    assert not [r.failure for r in results if r.failure] and len(results) == 2  # MPA q3, zoo q1
    assert built == {"mpa": [1], "bmshj2018-factorized": [1]}
    stored = pd.read_csv(local.run_dir / "results.csv").set_index(["codec", "variant"])
    compared = 0
    for result in results:
        for row in result.rows:
            expected = stored.loc[(result.key.codec, row.variant)]
            assert row.bitstream_sha256 == expected["bitstream_sha256"] and row.num_bytes == expected["num_bytes"]
            assert row.metrics == pytest.approx({k: expected[k] for k in ("psnr-rgb", "psnr-float")}, rel=1e-12)
            compared += 1
    assert compared == 3  # MPA alpha 0 and 1, the zoo model


def _empty_store(tmp_path):
    from bench.engine.store import RunStore

    return RunStore(tmp_path / "empty" / STORE_NAME)


SLOW_SUITE = """
name = "slow"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb", "ms-ssim-rgb"]

[[codecs]]
codec = "avif"
points = [20, 40, 60, 80]
options = {{ speed = 6 }}
"""


def slow_suite(tmp_path: Path, kodak_image, count: int = 6) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    for index in range(count):
        Image.fromarray(kodak_image[index * 40 : index * 40 + 256, :384]).save(images / f"img{index}.png")
    path = tmp_path / "slow.toml"
    path.write_text(SLOW_SUITE.format(root=images))
    return path


def _ray_workers_running_tasks() -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="ignore")
        except OSError:
            continue
        if text.startswith("ray::_measure"):
            found.append(int(cmdline.parent.name))
    return found


def test_a_killed_ray_worker_is_retried_and_the_run_completes(tmp_path, kodak_image):
    suite = load_suite(str(slow_suite(tmp_path, kodak_image)))
    killed = []

    def kill_one_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            workers = _ray_workers_running_tasks()
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.05)

    import threading

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    result = run_suite(suite, tmp_path / "runs", progress=False, execution=RAY)
    killer.join()
    assert killed, "no Ray worker was running a task to kill"
    assert result.outcome.computed == 24 and not result.outcome.failures
    rows = pd.read_csv(result.run_dir / "results.csv")
    assert len(rows) == 24 and not rows.duplicated(["image_id", "point"]).any()


def test_kill_9_of_the_driver_then_a_rerun_gives_the_rows_of_an_uninterrupted_run(tmp_path, kodak_image):
    path = slow_suite(tmp_path, kodak_image)
    command = [sys.executable, "-m", "bench", "run", "--suite", str(path), "--runs-dir", str(tmp_path / "killed"),
               "--no-progress", "--executor", "ray", "--workers", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    store = tmp_path / "killed" / "slow-folder" / STORE_NAME
    stored = 0
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        try:
            stored = sqlite3.connect(store).execute("SELECT COUNT(*) FROM results").fetchone()[0] if store.exists() \
                else 0
        except sqlite3.OperationalError:
            stored = 0
        if stored >= 4:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 4 <= stored < 24, "the driver must be killed mid-way"
    survivors = pd.read_sql_query("SELECT codec, image_id, point, created FROM results", sqlite3.connect(store))
    resumed = run_suite(load_suite(str(path)), tmp_path / "killed", progress=False, execution=RAY)
    assert resumed.outcome.reused == len(survivors) and resumed.outcome.computed == 24 - len(survivors)
    final = pd.read_sql_query("SELECT codec, image_id, point, created FROM results", sqlite3.connect(store))
    assert len(final) == 24 and not final.duplicated(["image_id", "point"]).any()
    kept = final.merge(survivors, on=["codec", "image_id", "point"])
    assert (kept["created_x"] == kept["created_y"]).all()  # stored items were not measured again
    uninterrupted = run_suite(load_suite(str(path)), tmp_path / "straight", progress=False, execution=LOCAL)
    same_rows(resumed.run_dir, uninterrupted.run_dir, ["psnr-rgb", "ms-ssim-rgb"])


def test_without_ray_the_executor_names_the_install_command(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    status = main(["run", "--executor", "ray", "--limit", "1", "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and 'pip install -e ".[ray]"' in err[0]


def test_an_unreachable_ray_address_is_one_line(tmp_path, capsys):
    ray.shutdown()  # the executor only joins an address when no Ray is initialised in this process
    try:
        status = main(["run", "--ray-address", "127.0.0.1:1", "--limit", "1", "--runs-dir", str(tmp_path / "runs"),
                       "--no-progress"])
    finally:
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no Ray cluster answers at 127.0.0.1:1" in err[0]
