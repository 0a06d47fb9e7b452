"""planned suites -> what a run would do, without doing it: per run directory the codecs, datasets and metrics that
run, what is skipped and why, how many items there are and how many the run store already holds, and a rough
time estimate.

The estimate multiplies the items still to measure by a per-item time per codec: the mean stored time of that codec
configuration when the run store has some (encode + decode of every variant; metrics are not timed there), else one
item measured now (metrics included) on the dataset's first image at the codec's middle rate point. It is scaled by pixels to each dataset's mean image
size and divided by the workers; it ignores contention between them, so it is a lower bound on a busy machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.engine.measure import Task, run_task
from bench.engine.plan import Plan
from bench.engine.run import PlannedSuite
from bench.engine.store import STORE_NAME, RunStore, StoreError


@dataclass
class CodecEstimate:
    label: str
    items: int
    stored: int
    seconds_per_item: float
    source: str  # "run store" or "measured now"


@dataclass
class DryRun:
    """What one planned run directory would do."""

    name: str
    run_dir: Path | None
    skipped: list[str]
    datasets: dict[str, int] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    codecs: list[CodecEstimate] = field(default_factory=list)
    workers: int = 1

    @property
    def items(self) -> int:
        return sum(codec.items for codec in self.codecs)

    @property
    def stored(self) -> int:
        return sum(codec.stored for codec in self.codecs)

    @property
    def seconds(self) -> float:
        return sum((c.items - c.stored) * c.seconds_per_item for c in self.codecs) / max(self.workers, 1)


def _mean_pixels(plan: Plan, d: int, limit: int = 16) -> float:
    """Mean pixel count of (up to ``limit``) images of a dataset, read from their headers where possible."""
    from PIL import Image

    sizes = []
    for sample in plan.datasets[d].samples[:limit]:
        try:
            with Image.open(sample.path) as image:
                sizes.append(image.width * image.height)
        except (OSError, ValueError, TypeError):
            continue
    return float(np.mean(sizes)) if sizes else float("nan")


def _stored_seconds(store: RunStore | None, plan: Plan) -> tuple[dict[str, float], dict[str, int]]:
    """Per codec label: mean stored seconds per item (per pixel) and the number of items stored."""
    if store is None:
        return {}, {}
    rows = store.rows(plan.run_id)
    rows = rows[rows["status"] == "ok"]
    per_pixel, stored = {}, {}
    for label, group in rows.groupby("codec"):
        items = group.groupby(["dataset", "image_id", "point"])
        seconds = items["encode_time"].first() + items["decode_time"].sum()
        pixels = items["height"].first() * items["width"].first()
        per_pixel[label] = float((seconds / pixels).mean())
        stored[label] = len(items)
    return per_pixel, stored


def _measured_seconds(plan: Plan, c: int) -> float:
    """Seconds per pixel of one item of codec ``c`` measured now (first image, middle rate point)."""
    job = plan.codecs[c]
    point = job.points[len(job.points) // 2]
    task = Task(0, 0, c, (point,), None, tuple(plan.metrics))
    start = time.perf_counter()
    (result,) = run_task(plan, task)
    seconds = time.perf_counter() - start
    if result.failure or not result.rows:
        return float("nan")
    return seconds / (result.rows[0].height * result.rows[0].width)


def dry_run(planned: list[PlannedSuite], runs_dir: Path, workers: int, estimate: bool = True) -> list[DryRun]:
    """What each planned run would do (see the module docstring)."""
    found = []
    for item in planned:
        if item.plan is None:
            found.append(DryRun(item.suite.name, None, item.skipped))
            continue
        plan = item.plan
        run_dir = Path(runs_dir) / plan.run_id
        store = None
        if (run_dir / STORE_NAME).is_file():
            try:
                store = RunStore(run_dir / STORE_NAME, readonly=True)
            except StoreError:
                store = None
        try:
            per_pixel, stored = _stored_seconds(store, plan)
        finally:
            if store is not None:
                store.close()
        summary = DryRun(item.suite.name, run_dir, item.skipped,
                         {job.spec.name: len(job.samples) for job in plan.datasets}, list(plan.metrics),
                         workers=workers)
        pixels = sum(len(job.samples) * _mean_pixels(plan, d) for d, job in enumerate(plan.datasets))
        images = sum(len(job.samples) for job in plan.datasets)
        for c, job in enumerate(plan.codecs):
            source = "run store"
            rate = per_pixel.get(job.label, float("nan"))
            if not np.isfinite(rate) and estimate:
                rate, source = _measured_seconds(plan, c), "measured now"
            seconds = rate * pixels / images if images else float("nan")
            summary.codecs.append(CodecEstimate(job.label, images * len(job.points), min(stored.get(job.label, 0),
                                                images * len(job.points)), seconds, source))
        found.append(summary)
    return found


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "unknown"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_dry_run(runs: list[DryRun]) -> str:
    """The readable plan: one block per run directory, then the totals."""
    lines = []
    for run in runs:
        if run.run_dir is None:
            lines += [f"{run.name}: nothing can run", *(f"  skipped {line}" for line in run.skipped), ""]
            continue
        datasets = ", ".join(f"{name} ({count} images)" for name, count in run.datasets.items())
        lines += [f"{run.name} -> {run.run_dir}", f"  datasets: {datasets}", f"  metrics: {', '.join(run.metrics)}"]
        for codec in run.codecs:
            lines.append(f"  codec {codec.label}: {codec.items} items, {codec.stored} stored, "
                         f"~{_duration(codec.seconds_per_item)} per item ({codec.source})")
        lines += [f"  skipped {line}" for line in run.skipped]
        lines += [f"  {run.items} items, {run.stored} already stored, {run.items - run.stored} to measure: "
                  f"~{_duration(run.seconds)} with {run.workers} worker(s)", ""]
    total = sum(run.seconds for run in runs if run.run_dir is not None)
    lines.append(f"dry run: nothing was measured; estimated time ~{_duration(total)} (a lower bound: contention "
                 f"between workers is not counted)")
    return "\n".join(lines)
