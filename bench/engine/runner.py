"""plan -> run store: decide what is already measured, hand the rest to an executor, and store every result.

An item is reused only when the store holds it under the same key: codec label and config hash, dataset, image id
*and image digest*, rate point, with every decoder variant carrying every requested metric measured under the
metric's current config hash. Items whose codec measurements are stored but some metric is missing or stale are
*re-scored* from the stored bitstream (decode + those metrics only); the rest is measured. A failed item is stored
with its reason and tried again on the next run. The driver is the only writer of the store.

Image digests (:mod:`bench.data.digest`) come from the digest cache; an image not in the cache is hashed here only
when the store holds rows of it (its digest decides a reuse), otherwise the worker that loads it hashes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator

from tqdm import tqdm

from bench.data.digest import DigestCache, sample_digest
from bench.engine.executors import ExecutionConfig, open_executor
from bench.engine.measure import Task
from bench.engine.plan import Plan
from bench.engine.store import RunStore, SelectedItem, StoredItem

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What one execution did: items computed, re-scored (stored codec values, new metric values), reused from the
    store, and failed (with reasons); ``executor`` as environment.json records it."""

    computed: int = 0
    rescored: int = 0
    reused: int = 0
    failures: list[str] = field(default_factory=list)
    executor: dict = field(default_factory=dict)


def register(plan: Plan, store: RunStore) -> None:
    """Records the current codec and metric configurations and what the suite asks for."""
    for job in plan.codecs:
        versions = {**job.codec.versions(), "code_version": str(type(job.codec).code_version)}
        store.register_codec(plan.run_id, job.label, job.spec.codec, job.config_hash, job.codec.config(),
                             versions, job.codec.description, job.codec.provenance())
    for name, metric in plan.metrics.items():
        store.register_metric(plan.run_id, name, plan.metric_hashes[name],
                              {"config": metric.config(), "versions": metric.versions()}, metric.provenance())
    items = (SelectedItem(job.label, job.config_hash, dataset_job.spec.name, sample.image_id, point)
             for dataset_job, sample, job, point in plan.items())
    store.set_selection(plan.run_id, items, plan.metrics)


def image_digests(plan: Plan, store: RunStore, caches: dict[int, DigestCache],
                  progress: bool) -> dict[tuple[int, int], str]:
    """{(dataset index, sample index): digest} of the images whose digest is known or needed now (see the module
    docstring); images that cannot be read are left to the workers, which record why. ``caches``: the digest cache
    of each dataset (by index)."""
    stored = store.stored_images(plan.run_id)
    known: dict[tuple[int, int], str] = {}
    for d, dataset_job in enumerate(plan.datasets):
        cache = caches[d]
        uncached = []
        for s, sample in enumerate(dataset_job.samples):
            digest = cache.get(sample)
            if digest is not None:
                known[d, s] = digest
            elif (dataset_job.spec.name, sample.image_id) in stored:
                uncached.append((s, sample))
        for s, sample in tqdm(uncached, desc=f"hashing {dataset_job.spec.name} images", unit="image",
                              disable=not progress or len(uncached) < 50, dynamic_ncols=True):
            try:
                known[d, s] = sample_digest(sample)
            except Exception as error:  # noqa: BLE001 - the worker fails this image's items with the reason
                log.debug("cannot hash %s: %s", sample.image_id, error)
                continue
            cache.put(sample, known[d, s])
    store.set_current_images(plan.run_id, {(plan.datasets[d].spec.name, plan.datasets[d].samples[s].image_id): sha
                                           for (d, s), sha in known.items()})
    return known


def _missing_metrics(stored: StoredItem | None, variants: tuple[str, ...], hashes: dict[str, str]) -> set[str] | None:
    """Metrics an item lacks (stale ones included), or None when the item must be measured (not stored whole)."""
    if stored is None or not all(variant in stored.variants for variant in variants):
        return None
    return {metric for metric, current in hashes.items()
            for variant in variants if stored.variants[variant].get(metric) != current}


@dataclass
class PendingWork:
    """The work a run still has to do: tasks built lazily, and the item counts."""

    plan: Plan
    store: RunStore
    digests: dict[tuple[int, int], str]
    measure: list[tuple[int, int, int, tuple[float, ...]]] = field(default_factory=list)
    rescore: list[tuple[int, int, int, tuple[float, ...], tuple[str, ...]]] = field(default_factory=list)
    reused: int = 0

    @classmethod
    def find(cls, plan: Plan, store: RunStore, digests: dict[tuple[int, int], str]) -> "PendingWork":
        work = cls(plan, store, digests)
        stored = store.stored_items(plan.run_id)
        for d, dataset_job in enumerate(plan.datasets):
            for s, sample in enumerate(dataset_job.samples):
                digest = digests.get((d, s))
                for c, job in enumerate(plan.codecs):
                    measure, rescore, metrics = [], [], set()
                    for point in job.points:
                        item = (job.label, job.config_hash, dataset_job.spec.name, sample.image_id, digest, point)
                        missing = None if digest is None else _missing_metrics(stored.get(item), job.variants,
                                                                               plan.metric_hashes)
                        if missing is None:
                            measure.append(point)
                        elif not missing:
                            work.reused += 1
                        elif stored[item].has_bitstream:
                            rescore.append(point)
                            metrics |= missing
                        else:
                            measure.append(point)
                    if measure:
                        work.measure.append((d, s, c, tuple(measure)))
                    if rescore:
                        work.rescore.append((d, s, c, tuple(rescore), tuple(sorted(metrics))))
        return work

    @property
    def total(self) -> int:
        return sum(len(entry[3]) for entry in self.measure) + sum(len(entry[3]) for entry in self.rescore)

    def tasks(self) -> Iterator[Task]:
        """Re-scoring tasks first (each with its stored bitstreams, read as the task is handed out), then measuring."""
        plan = self.plan
        for d, s, c, points, metrics in self.rescore:
            job, dataset_job = plan.codecs[c], plan.datasets[d]
            sample, digest = dataset_job.samples[s], self.digests[d, s]
            data = {point: self.store.bitstream(plan.run_id, job.label, job.config_hash, dataset_job.spec.name,
                                                sample.image_id, point, digest) for point in points}
            yield Task(d, s, c, points, digest, metrics, data)
        for d, s, c, points in self.measure:
            yield Task(d, s, c, points, self.digests.get((d, s)), tuple(plan.metrics))


def execute(plan: Plan, store: RunStore, progress: bool = True,
            execution: ExecutionConfig = ExecutionConfig()) -> RunOutcome:
    """Runs every item of ``plan`` not yet in ``store``, item by item into the store; never loses stored work.

    Raises:
        bench.errors.BenchError: the store cannot be written (disk full, read-only) or a worker died; every item
            stored before is kept and a rerun resumes.
    """
    outcome = RunOutcome()
    register(plan, store)
    caches = {d: DigestCache(job.dataset.loader_identity()) for d, job in enumerate(plan.datasets)}
    positions = {(job.spec.name, sample.image_id): (d, s)
                 for d, job in enumerate(plan.datasets) for s, sample in enumerate(job.samples)}
    try:
        digests = image_digests(plan, store, caches, progress)
        work = PendingWork.find(plan, store, digests)
        outcome.reused = work.reused
        if work.reused:
            log.info("%d of %d items already in the run store; computing %d", work.reused, plan.num_items,
                     work.total)
        with open_executor(plan, execution) as executor, \
                tqdm(total=work.total, unit="item", desc=plan.run_id, disable=not progress,
                     dynamic_ncols=True) as bar:
            outcome.executor = executor.describe()
            for result in executor.map(work.tasks()):
                if result.rescored:
                    if result.rows:
                        store.update_metrics(result.key, result.rows)
                else:
                    store.write_item(result.key, result.rows, result.bitstream)
                if result.failure:
                    outcome.failures.append(result.failure)
                elif result.rescored:
                    outcome.rescored += 1
                else:
                    outcome.computed += 1
                position = positions[result.key.dataset, result.key.image_id]
                if result.key.image_sha256 and position not in digests:  # hashed by the worker: cache it
                    digests[position] = result.key.image_sha256
                    caches[position[0]].put(plan.datasets[position[0]].samples[position[1]], result.key.image_sha256)
                bar.set_postfix_str(f"{result.key.dataset}/{result.key.image_id} {result.key.codec}", refresh=False)
                bar.update(1)
    finally:
        for cache in caches.values():
            cache.close()
    return outcome
