"""plan -> run store: encode each image once per codec and rate point, decode every variant, score, store.

Items already in the store (every variant present with every requested metric) are not recomputed; a failed item
(unreadable image, codec error) is stored with its reason and retried on the next run.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

import torch
from tqdm import tqdm

from bench.engine.plan import CodecJob, Plan, build_plan
from bench.engine.store import FAILED_VARIANT, ItemKey, Row, RunStore
from bench.engine.suite import SuiteConfig
from bench.errors import ImageError, NotApplicable
from bench.metrics.base import Metric
from bench.schema import Sample
from bench.tensors import image_to_tensor
from bench.timing import timed

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What one execution did: items computed, reused from the store, and failed (with reasons)."""

    computed: int = 0
    reused: int = 0
    failures: list[str] = field(default_factory=list)


def is_complete(stored: Mapping[str, set[str]] | None, variants: Iterable[str], metric_keys: set[str]) -> bool:
    return stored is not None and all(metric_keys <= stored.get(variant, set()) for variant in variants)


def measure_item(
    job: CodecJob, point: float, x: torch.Tensor, sample: Sample, metrics: Mapping[str, Metric], device: str
) -> tuple[list[Row], bytes]:
    """Encodes once, decodes every variant, and scores each reconstruction against ``x``."""
    bitstream, encode_time = timed(device, job.codec.encode, x, point)
    decoded = list(job.codec.decode_variants(bitstream, job.variants))
    digest = hashlib.sha256(bitstream.data).hexdigest()
    rows = [
        Row(
            variant=item.variant,
            height=bitstream.height,
            width=bitstream.width,
            num_bytes=bitstream.num_bytes,
            payload_bytes=bitstream.payload_bytes,
            bitstream_sha256=digest,
            encode_time=encode_time,
            decode_time=item.seconds,
            timings={**{f"encode_{k}": v for k, v in bitstream.timings.items()},
                     **{f"decode_{k}": v for k, v in item.timings.items()}},
        )
        for item in decoded
    ]
    reconstructions = [item.x_hat.to(x.device) for item in decoded]
    for key, metric in metrics.items():
        try:
            values = metric.compute_many(x, reconstructions, sample)
        except NotApplicable as reason:
            for row in rows:
                row.not_applicable[key] = str(reason)
            continue
        for row, value in zip(rows, values):
            if isinstance(value, Mapping):
                row.arrays[key] = value
            else:
                row.metrics[key] = float(value)
    return rows, bitstream.data


@dataclass(frozen=True)
class Task:
    """One image and one codec: the rate points of that codec not yet in the store (positions in the plan)."""

    dataset_index: int
    sample_index: int
    codec_index: int
    points: tuple[float, ...]


@dataclass
class ItemResult:
    """The rows of one measured item, or its failure (then ``rows`` holds the failed row)."""

    key: ItemKey
    rows: list[Row]
    bitstream: bytes | None = None
    failure: str | None = None


def pending_tasks(plan: Plan, done: Mapping[tuple, Mapping[str, set[str]]]) -> tuple[list[Task], int]:
    """Tasks for every item not complete in the store, and the number of items reused."""
    metric_keys = set(plan.metrics)
    tasks, reused = [], 0
    for d, dataset_job in enumerate(plan.datasets):
        for s, sample in enumerate(dataset_job.samples):
            for c, job in enumerate(plan.codecs):
                missing = tuple(
                    point for point in job.points
                    if not is_complete(done.get((job.label, job.config_hash, dataset_job.spec.name, sample.image_id,
                                                 point)), job.variants, metric_keys)
                )
                reused += len(job.points) - len(missing)
                if missing:
                    tasks.append(Task(d, s, c, missing))
    return tasks, reused


def run_task(plan: Plan, task: Task) -> Iterator[ItemResult]:
    """Measures the items of one task; a failure is returned as a result, never raised."""
    dataset_job = plan.datasets[task.dataset_index]
    sample = dataset_job.samples[task.sample_index]
    job = plan.codecs[task.codec_index]
    keys = [ItemKey(plan.run_id, job.label, job.config_hash, dataset_job.spec.name, sample.image_id, point)
            for point in task.points]
    try:
        x = image_to_tensor(sample.load()).to(plan.suite.device)
    except ImageError as error:
        for key in keys:
            yield _failure(key, str(error))
        return
    for key in keys:
        try:
            rows, data = measure_item(job, key.point, x, sample, plan.metrics, plan.suite.device)
        except Exception as error:  # noqa: BLE001 - recorded with its reason; the run goes on
            log.debug("item %s failed", key, exc_info=True)
            yield _failure(key, f"{type(error).__name__}: {error}")
        else:
            yield ItemResult(key, rows, data if plan.suite.keep_bitstreams else None)


def _failure(key: ItemKey, reason: str) -> ItemResult:
    where = f"{key.dataset}/{key.image_id} {key.codec}@{key.point:g}"
    return ItemResult(key, [Row(FAILED_VARIANT, "failed", reason)], failure=f"{where}: {reason}")


_worker_plan: Plan | None = None


def _exit_with_parent(parent_pid: int) -> None:
    """Ends a worker whose parent died (e.g. ``kill -9``): pool workers would otherwise wait forever."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def _start_worker(parent_pid: int, suite: SuiteConfig, run_id: str, threads: int) -> None:
    global _worker_plan
    # The parent's pid comes from the parent: if it died while this worker was starting, getppid() already names
    # another process and the watchdog ends the worker at once.
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    logging.getLogger().setLevel(logging.ERROR)  # the parent already reported what was skipped
    torch.set_num_threads(threads)
    _worker_plan = build_plan(suite, run_id)


def _run_in_worker(task: Task) -> list[ItemResult]:
    assert _worker_plan is not None
    return list(run_task(_worker_plan, task))


def _results(plan: Plan, tasks: list[Task], workers: int) -> Iterator[ItemResult]:
    if workers <= 1:
        for task in tasks:
            yield from run_task(plan, task)
        return
    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (os.getpid(), plan.suite, plan.run_id, threads)) as pool:
        for results in pool.map(_run_in_worker, tasks):
            yield from results


def execute(plan: Plan, store: RunStore, progress: bool = True, workers: int = 1) -> RunOutcome:
    """Runs every item of ``plan`` not yet in ``store``, item by item into the store; never loses stored work.

    Args:
        workers: processes that measure in parallel (each builds its own codecs); 1 runs in this process.
    """
    outcome = RunOutcome()
    for job in plan.codecs:
        store.register_codec(
            plan.run_id, job.label, job.spec.codec, job.config_hash, job.codec.config(), job.codec.versions(),
            job.codec.description,
        )
    tasks, outcome.reused = pending_tasks(plan, store.completed_items(plan.run_id))
    total = sum(len(task.points) for task in tasks)
    if outcome.reused:
        log.info("%d of %d items already in the run store; computing %d", outcome.reused, plan.num_items, total)
    with tqdm(total=total, unit="item", desc=plan.run_id, disable=not progress, dynamic_ncols=True) as bar:
        for result in _results(plan, tasks, min(workers, len(tasks)) if tasks else 1):
            store.write_item(result.key, result.rows, result.bitstream)
            if result.failure:
                outcome.failures.append(result.failure)
            else:
                outcome.computed += 1
            bar.set_postfix_str(f"{result.key.dataset}/{result.key.image_id} {result.key.codec}", refresh=False)
            bar.update(1)
    return outcome
