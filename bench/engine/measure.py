"""task -> item results: what a worker does for one image and one codec, wherever it runs (in process, in a pool
worker, on a Ray node).

A :class:`Task` names its image and codec by their positions in the plan (every worker builds the same plan from
the suite), so nothing but indices, rate points and, for re-scoring, the stored bitstreams travels to a worker. A
*measure* task encodes the image once per rate point, decodes every variant and scores every metric; a *rescore*
task decodes bitstreams already stored and scores only the metrics whose stored values are missing or were measured
with another metric configuration, so that the codec's measurements are kept. A failure is returned as a result with
its reason, never raised.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import torch

from bench.data.digest import sample_digest
from bench.engine.plan import CodecJob, Plan
from bench.engine.store import FAILED_VARIANT, UNKNOWN_IMAGE, ItemKey, Row
from bench.errors import BenchError, NotApplicable
from bench.metrics.base import Metric
from bench.schema import Bitstream, Sample
from bench.tensors import image_to_tensor, quantize_8bit
from bench.metrics.forms import quantity
from bench.timing import timed_decode, timed_encode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """One image and one codec: the rate points to measure (or re-score) and the metrics to compute.

    Attributes:
        dataset_index, sample_index, codec_index: positions in the plan.
        points: the rate points of this task.
        image_sha256: the image digest the driver expects, or None when the worker is to compute it.
        metrics: metric keys to compute (all of the plan's for a measure task).
        bitstreams: for a rescore task, the stored bytes of each point; empty for a measure task.
    """

    dataset_index: int
    sample_index: int
    codec_index: int
    points: tuple[float, ...]
    image_sha256: str | None
    metrics: tuple[str, ...]
    bitstreams: Mapping[float, bytes] = field(default_factory=dict)

    @property
    def rescore(self) -> bool:
        return bool(self.bitstreams)


@dataclass
class ItemResult:
    """The rows of one item, or its failure (then ``rows`` holds the failed row).

    Attributes:
        rescored: the rows hold re-measured metrics to merge into the stored rows, not a whole item.
    """

    key: ItemKey
    rows: list[Row]
    bitstream: bytes | None = None
    failure: str | None = None
    rescored: bool = False


def _check_finite(name: str, tensor: torch.Tensor, codec: str) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise BenchError(f"{codec} produced non-finite values (NaN or inf) in {name}: its weights or checkpoint are "
                         f"not usable; check the checkpoint file")


def _on_8bit_grid(reconstruction: torch.Tensor) -> bool:
    """Whether a reconstruction is already what an 8-bit decoder writes (classical codecs): its float-form metrics
    then equal the 8-bit ones exactly."""
    return bool(torch.equal(quantize_8bit(reconstruction), reconstruction))


def score(rows: Sequence[Row], x: torch.Tensor, reconstructions: Sequence[torch.Tensor], sample: Sample,
          metrics: Mapping[str, Metric], hashes: Mapping[str, str]) -> None:
    """Scores each reconstruction against ``x`` with every metric, into ``rows`` (one per reconstruction).

    A float-form metric (``psnr-float``, ``lpips-alex-float``, ...) of reconstructions that are all on the 8-bit grid
    copies its 8-bit twin's values (equal by definition) instead of running the metric again.
    """
    on_grid = None
    for key in sorted(metrics, key=lambda k: quantity(k) != k):  # 8-bit forms first: their twins may copy them
        metric = metrics[key]
        for row in rows:
            row.metric_hashes[key] = hashes[key]
        twin = quantity(key)
        if twin != key and twin in metrics:
            on_grid = all(_on_8bit_grid(r) for r in reconstructions) if on_grid is None else on_grid
            if on_grid:
                for row in rows:
                    _copy(row, twin, key)
                continue
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


def _copy(row: Row, source: str, key: str) -> None:
    for store in (row.metrics, row.not_applicable, row.arrays):
        if source in store:
            store[key] = store[source]


def measure_item(job: CodecJob, point: float, x: torch.Tensor, sample: Sample, metrics: Mapping[str, Metric],
                 hashes: Mapping[str, str], device: str) -> tuple[list[Row], bytes]:
    """Encodes once, decodes every variant, and scores each reconstruction against ``x``.

    ``encode_time`` / ``decode_time`` are the codec's own coding of the bytes (:func:`bench.timing.timed_encode`);
    conversions between tensors and the library's pixels are outside them, in ``timings`` (``*_convert``).
    """
    bitstream, encode_time, convert = timed_encode(job.codec, x, point, device)
    decoded = list(timed_decode(job.codec, bitstream, job.variants, device))
    digest = hashlib.sha256(bitstream.data).hexdigest()
    for item in decoded:
        _check_finite(f"the reconstruction of variant {item.variant}", item.x_hat, job.label)
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
            timings={**{f"encode_{k}": v for k, v in bitstream.timings.items()}, "encode_convert": convert,
                     **{f"decode_{k}": v for k, v in item.timings.items()}},
        )
        for item in decoded
    ]
    score(rows, x, [item.x_hat.to(x.device) for item in decoded], sample, metrics, hashes)
    return rows, bitstream.data


def rescore_item(job: CodecJob, data: bytes, x: torch.Tensor, sample: Sample, metrics: Mapping[str, Metric],
                 hashes: Mapping[str, str]) -> list[Row]:
    """Decodes stored bytes with every variant and scores only ``metrics``; codec values are left as stored."""
    height, width = x.shape[-2:]
    bitstream = Bitstream(data, int(height), int(width), payload_bytes=len(data))
    decoded = list(job.codec.decode_variants(bitstream, job.variants))
    for item in decoded:
        _check_finite(f"the reconstruction of variant {item.variant}", item.x_hat, job.label)
    rows = [Row(variant=item.variant) for item in decoded]
    score(rows, x, [item.x_hat.to(x.device) for item in decoded], sample, metrics, hashes)
    return rows


def _reason(error: Exception) -> str:
    """A failed item's reason: a user error's own line, else the exception's type and message."""
    return str(error) if isinstance(error, BenchError) else f"{type(error).__name__}: {error}"


def failure(key: ItemKey, reason: str) -> ItemResult:
    where = f"{key.dataset}/{key.image_id} {key.codec}@{key.point:g}"
    return ItemResult(key, [Row(FAILED_VARIANT, "failed", reason)], failure=f"{where}: {reason}")


def _load(plan: Plan, sample: Sample, expected: str | None) -> tuple[torch.Tensor, str]:
    """The image as a tensor on the plan's device and its digest; raises with the reason a task fails."""
    image = sample.load()
    height, width = image.shape[:2]
    limit = plan.suite.max_megapixels
    if height * width > limit * 1e6:
        raise BenchError(f"{sample.path or sample.image_id}: {width}x{height} is {height * width / 1e6:.1f} MP, "
                         f"above the limit of {limit:g} MP; raise max_megapixels in the suite (or --max-megapixels) "
                         f"if the machine has the memory")
    digest = sample_digest(sample, image)
    if expected is not None and digest != expected:
        raise BenchError(f"{sample.path or sample.image_id}: the image changed while the run was being planned; "
                         f"rerun to measure its current content")
    return image_to_tensor(image).to(plan.suite.device), digest


def run_task(plan: Plan, task: Task) -> Iterator[ItemResult]:
    """Measures (or re-scores) the items of one task; a failure is returned as a result, never raised."""
    dataset_job = plan.datasets[task.dataset_index]
    sample = dataset_job.samples[task.sample_index]
    job = plan.codecs[task.codec_index]

    def key(point: float, digest: str) -> ItemKey:
        return ItemKey(plan.run_id, job.label, job.config_hash, dataset_job.spec.name, sample.image_id, digest, point)

    try:
        x, digest = _load(plan, sample, task.image_sha256)
    except Exception as error:  # noqa: BLE001 - unreadable or oversized image: every point fails with the reason
        reason = _reason(error)
        for point in task.points:
            yield failure(key(point, task.image_sha256 or UNKNOWN_IMAGE), reason)
        return
    metrics = {name: plan.metrics[name] for name in task.metrics}
    for point in task.points:
        try:
            if task.rescore:
                rows = rescore_item(job, task.bitstreams[point], x, sample, metrics, plan.metric_hashes)
                yield ItemResult(key(point, digest), rows, rescored=True)
            else:
                rows, data = measure_item(job, point, x, sample, metrics, plan.metric_hashes, plan.suite.device)
                yield ItemResult(key(point, digest), rows, data if plan.suite.keep_bitstreams else None)
        except Exception as error:  # noqa: BLE001 - recorded with its reason; the run goes on
            log.debug("item %s failed", key(point, digest), exc_info=True)
            reason = _reason(error)
            result = failure(key(point, digest), reason)
            if task.rescore:  # the stored measurements stay; the metrics are tried again on the next run
                result.rows, result.rescored = [], True
            yield result
