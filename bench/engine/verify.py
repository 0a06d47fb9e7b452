"""run directory -> verification: every stored number derived again from the stored bytes and the images.

For each item the run's current suite selects, the stored bitstream is checked against its row (sha256 and byte
count: exact, so bpp is exact), decoded again by the codec built here from the run's ``suite.toml`` (in this process,
on ``--device``: another process, possibly another machine, than the one that measured), and every stored metric is
computed again from the decoded variants and the dataset image (whose digest must still match the stored one).
Metrics agree within a float tolerance; a decoder that does not reproduce its reconstructions (the cross-device
entropy-decoding nondeterminism of CompressAI-style models, say) shows up as metric mismatches of that codec.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from bench.data.digest import sample_digest
from bench.engine.measure import score
from bench.engine.plan import build_plan
from bench.engine.store import STORE_NAME, Row, RunStore
from bench.engine.suite import load_suite
from bench.rundata import open_store, run_id_of
from bench.errors import BenchError
from bench.schema import Bitstream, Sample
from bench.tensors import image_to_tensor

ITEM_COLUMNS = ["codec", "config_hash", "dataset", "image_id", "image_sha256", "point"]


@dataclass(frozen=True)
class Mismatch:
    """One stored value that could not be derived again: ``kind`` is ``bitstream``, ``image``, ``decode`` or
    ``metric``."""

    kind: str
    codec: str
    dataset: str
    image_id: str
    point: float
    variant: str
    detail: str


@dataclass
class CodecTally:
    items: int = 0
    variants: int = 0
    values: int = 0
    mismatches: int = 0


@dataclass
class VerifyResult:
    """What :func:`verify_run` checked, per codec label, and every mismatch."""

    run_dir: Path
    tallies: dict[str, CodecTally] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches


def _close(stored: float, now: float, rtol: float, atol: float) -> bool:
    if math.isinf(stored) or math.isinf(now):
        return stored == now
    return math.isclose(stored, now, rel_tol=rtol, abs_tol=atol)


def _compare_arrays(stored: dict[str, np.ndarray], now: Any, rtol: float, atol: float) -> bool:
    return isinstance(now, dict) and set(stored) == set(now) and all(
        np.allclose(stored[name], np.asarray(now[name]), rtol=rtol, atol=atol) for name in stored)


def verify_run(run_dir: Path | str, device: str | None = None, data_root: str | None = None,
               sample: int | None = None, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-9,
               progress: bool = True) -> VerifyResult:
    """Derives every stored number of a run again (see the module docstring).

    Args:
        device: decode (and score) on this device instead of the run's.
        data_root: the datasets' root on this machine, when it differs from the run's.
        sample: check only this many items, drawn at random with ``seed``.
        rtol, atol: tolerance of metric values (bytes and bpp are compared exactly).

    Raises:
        BenchError: no run store or suite file in ``run_dir``, or nothing of the run can be rebuilt here.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "suite.toml").is_file():
        raise BenchError(f"{run_dir}: no suite.toml; pass a run directory written by `python -m bench run`")
    suite = load_suite(str(run_dir / "suite.toml"))
    suite = dataclasses.replace(
        suite, device=device or suite.device,
        datasets=tuple(dataclasses.replace(spec, root=data_root) if data_root else spec for spec in suite.datasets))
    result = VerifyResult(run_dir)
    with open_store(run_dir / STORE_NAME) as store:
        run_id = run_id_of(store, run_dir)
        plan = build_plan(suite, run_id)
        result.notes += [f"not checked: {line}" for line in plan.skipped]
        stored_hashes = dict(zip(store.codecs(run_id)["label"], store.codecs(run_id)["config_hash"]))
        for job in plan.codecs:
            if stored_hashes.get(job.label) not in (None, job.config_hash):
                result.notes.append(f"codec {job.label}: its configuration here (library versions, options) differs "
                                    f"from the run's; decoding the run's bytes with this machine's build")
        rows = store.rows(run_id)
        rows = rows[rows["status"] == "ok"]
        items = [key for key, _ in rows.groupby(ITEM_COLUMNS, sort=True)]
        if sample is not None and sample < len(items):
            items = sorted(random.Random(seed).sample(items, sample))
        grouped = dict(iter(rows.groupby(ITEM_COLUMNS, sort=True)))
        jobs = {job.label: job for job in plan.codecs}
        samples = {(job.spec.name, s.image_id): s for job in plan.datasets for s in job.samples}
        for item in tqdm(items, desc=f"verify {run_dir.name}", unit="item", disable=not progress, dynamic_ncols=True):
            label = item[0]
            if label not in jobs:
                continue
            tally = result.tallies.setdefault(label, CodecTally())
            found = _verify_item(store, run_id, plan, jobs[label], samples.get(item[2:4]), item, grouped[item],
                                 rtol, atol, tally)
            tally.items += 1
            tally.mismatches += len(found)
            result.mismatches += found
    return result


def _verify_item(store: RunStore, run_id: str, plan, job, sample: Sample | None, item: tuple, rows: pd.DataFrame,
                 rtol: float, atol: float, tally: CodecTally) -> list[Mismatch]:
    label, config_hash, dataset, image_id, image_sha256, point = item
    first = rows.iloc[0]

    def mismatch(kind: str, detail: str, variant: str = "*") -> Mismatch:
        return Mismatch(kind, label, dataset, image_id, float(point), variant, detail)

    try:
        data = store.bitstream(run_id, label, config_hash, dataset, image_id, point, image_sha256)
    except KeyError:
        return [mismatch("bitstream", "no stored bitstream (the run kept none: keep_bitstreams = false?)")]
    digest = hashlib.sha256(data).hexdigest()
    found = []
    for row in rows.itertuples():
        if row.bitstream_sha256 != digest or int(row.num_bytes) != len(data):
            found.append(mismatch("bitstream", f"stored bytes: {len(data)} B sha256 {digest[:12]}; row says "
                                  f"{int(row.num_bytes)} B sha256 {str(row.bitstream_sha256)[:12]}", row.variant))
    if found:
        return found
    if sample is None:
        return [mismatch("image", "the image is not in the dataset here (pass --data-root)")]
    image = sample.load()
    if sample_digest(sample, image) != image_sha256:
        return [mismatch("image", "the dataset image here differs from the one measured (other content)")]
    x = image_to_tensor(image).to(plan.suite.device)
    bitstream = Bitstream(data, int(first["height"]), int(first["width"]), payload_bytes=int(first["payload_bytes"]))
    try:
        decoded = {d.variant: d for d in job.codec.decode_variants(bitstream, tuple(rows["variant"]))}
    except Exception as error:  # noqa: BLE001 - a decoder that fails on its own bytes is a finding, not a crash
        return [mismatch("decode", f"{type(error).__name__}: {error}")]
    fresh = {variant: Row(variant) for variant in decoded}
    score(list(fresh.values()), x, [d.x_hat.to(x.device) for d in decoded.values()], sample, plan.metrics,
          plan.metric_hashes)
    stored_arrays = _stored_arrays(store, rows, plan)
    for record in rows.to_dict("records"):
        now = fresh[record["variant"]]
        tally.variants += 1
        for metric in plan.metrics:
            stored = record.get(metric)
            if metric in now.metrics and stored is not None and not pd.isna(stored):
                tally.values += 1
                if not _close(float(stored), now.metrics[metric], rtol, atol):
                    found.append(mismatch("metric", f"{metric}: stored {float(stored):.10g}, now "
                                          f"{now.metrics[metric]:.10g}", now.variant))
            elif metric in now.arrays and (record["id"], metric) in stored_arrays:
                tally.values += 1
                if not _compare_arrays(stored_arrays[record["id"], metric], now.arrays[metric], rtol, atol):
                    found.append(mismatch("metric", f"{metric}: stored statistics differ", now.variant))
    return found


def _stored_arrays(store: RunStore, rows: pd.DataFrame, plan) -> dict[tuple[int, str], dict[str, np.ndarray]]:
    found = {}
    for metric in plan.metrics:
        for result_id, arrays in store.arrays(rows["id"].tolist(), metric, plan.metric_hashes[metric]):
            found[result_id, metric] = arrays
    return found


def format_verify(result: VerifyResult, limit: int = 20) -> str:
    """The readable report: notes, a table per codec, the first mismatches, and a summary line."""
    lines = [f"note: {note}" for note in result.notes]
    if result.tallies:
        table = pd.DataFrame([{"codec": label, "items": t.items, "variants": t.variants, "values": t.values,
                               "mismatches": t.mismatches} for label, t in sorted(result.tallies.items())])
        lines.append(table.to_string(index=False))
    for found in result.mismatches[:limit]:
        lines.append(f"MISMATCH {found.kind}: {found.dataset}/{found.image_id} {found.codec}@{found.point:g} "
                     f"{found.variant}: {found.detail}")
    if len(result.mismatches) > limit:
        lines.append(f"... and {len(result.mismatches) - limit} more")
    items = sum(t.items for t in result.tallies.values())
    values = sum(t.values for t in result.tallies.values())
    verdict = "OK" if result.passed else f"FAILED: {len(result.mismatches)} mismatch(es)"
    lines.append(f"{result.run_dir}: {items} items, {values} metric values derived again from the stored bitstreams: "
                 f"{verdict}")
    return "\n".join(lines)
