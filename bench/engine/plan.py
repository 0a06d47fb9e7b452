"""suite -> plan: instantiate codecs, datasets and metrics, list the work items, and say up front what cannot run."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

from bench import __version__
from bench.codecs import codecs
from bench.codecs.base import Codec
from bench.data import datasets
from bench.data.base import Dataset
from bench.options import OptionError, check_options
from bench.engine.suite import CodecSpec, DatasetSpec, SuiteConfig
from bench.errors import BenchError, MetricUnavailable
from bench.metrics import metrics
from bench.metrics.base import Metric
from bench.metrics.forms import stored_metric_keys
from bench.schema import Sample

log = logging.getLogger(__name__)


class NothingToRun(BenchError):
    """No codec or no dataset of a suite can run here; ``skipped`` lists why, one component per line."""

    def __init__(self, skipped: list[str]):
        super().__init__("nothing to run: " + "; ".join(skipped))
        self.skipped = skipped


@dataclass
class CodecJob:
    """A codec of the suite, built, with the rate points and decoder variants to run."""

    spec: CodecSpec
    codec: Codec
    config_hash: str
    points: tuple[float, ...]
    variants: tuple[str, ...]

    @property
    def label(self) -> str:
        return self.spec.label


@dataclass
class DatasetJob:
    spec: DatasetSpec
    dataset: Dataset
    samples: list[Sample]


@dataclass
class Plan:
    """Everything a run will do, built before any image is encoded.

    Attributes:
        metric_hashes: the config hash of each metric (a stored value of another hash is measured again).
        skipped: components that cannot run here (missing checkpoint, data or weights), with the reason and fix.
    """

    suite: SuiteConfig
    run_id: str
    codecs: list[CodecJob]
    datasets: list[DatasetJob]
    metrics: dict[str, Metric]
    metric_hashes: dict[str, str]
    skipped: list[str] = field(default_factory=list)

    def items(self) -> Iterator[tuple[DatasetJob, Sample, CodecJob, float]]:
        """Work items in execution order: image-major, so each image is loaded once."""
        for dataset_job in self.datasets:
            for sample in dataset_job.samples:
                for codec_job in self.codecs:
                    for point in codec_job.points:
                        yield dataset_job, sample, codec_job, point

    @property
    def num_items(self) -> int:
        images = sum(len(job.samples) for job in self.datasets)
        return images * sum(len(job.points) for job in self.codecs)


def build_with_device(factory: Any, options: dict[str, Any], device: str) -> Any:
    """Calls a codec or metric class, passing ``device`` when its constructor takes one."""
    if "device" in inspect.signature(factory).parameters and "device" not in options:
        options = {**options, "device": device}
    return factory(**options)


def _hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def codec_config_hash(spec: CodecSpec, codec: Codec) -> str:
    """Hash of everything that determines a codec's bytes: options (with checkpoint sha256), library versions and
    the codec's ``code_version``."""
    return _hash({"codec": spec.codec, "config": codec.config(), "versions": codec.versions(),
                  "code_version": type(codec).code_version, "bench": __version__})


def metric_config_hash(key: str, metric: Metric) -> str:
    """Hash of everything that determines a metric's values: its configuration (weights sha256, network,
    protocol), library versions and ``code_version``."""
    return _hash({"metric": key, "class": f"{type(metric).__module__}.{type(metric).__qualname__}",
                  "config": metric.config(), "versions": metric.versions(),
                  "code_version": type(metric).code_version, "bench": __version__})


def _build_codec(spec: CodecSpec, device: str) -> CodecJob:
    factory = codecs.get(spec.codec)
    try:
        check_options(factory, spec.options, f"codec {spec.label}", require=True)
        codec = build_with_device(factory, spec.options, device)
    except OptionError as error:
        if "checkpoint" in str(error) and "required" in str(error):
            raise BenchError(f"no weights given: pass --checkpoint {spec.label}=PATH (or "
                             f"options = {{ checkpoint = \"PATH\" }} in the suite)") from error
        raise BenchError(str(error)) from error
    except TypeError as error:
        parameters = ", ".join(p for p in inspect.signature(factory).parameters if p != "self") or "none"
        raise BenchError(f"codec {spec.label!r}: bad options {spec.options} ({error}); options: {parameters}") from error
    points = spec.points if spec.points is not None else tuple(float(p) for p in codec.rate_points())
    return CodecJob(spec, codec, codec_config_hash(spec, codec), tuple(points), tuple(codec.decoder_variants()))


def build_plan(suite: SuiteConfig, run_id: str | None = None) -> Plan:
    """Builds every component; a component that cannot run is listed in ``skipped`` and the rest goes on.

    Raises:
        NothingToRun: nothing at all can run (every codec or every dataset is unavailable).
    """
    suite.validate()
    skipped: list[str] = []
    codec_jobs = []
    for spec in suite.codecs:
        try:
            codec_jobs.append(_build_codec(spec, suite.device))
        except BenchError as error:
            skipped.append(f"codec {spec.label}: {error}")
    dataset_jobs = []
    for spec in suite.datasets:
        try:
            dataset = datasets.get(spec.name)(root=spec.root, limit=spec.limit, **spec.options)
            dataset_jobs.append(DatasetJob(spec, dataset, dataset.samples()))
        except BenchError as error:
            skipped.append(f"dataset {spec.name}: {error}")
    built_metrics: dict[str, Metric] = {}
    for name in stored_metric_keys(suite.metrics):  # each metric in both forms (8-bit and float reconstruction)
        try:
            built_metrics[name] = build_with_device(metrics.get(name), {}, suite.device)
        except MetricUnavailable as error:
            skipped.append(f"metric {name}: {error}")
    if not codec_jobs or not dataset_jobs:
        raise NothingToRun(skipped)
    hashes = {name: metric_config_hash(name, metric) for name, metric in built_metrics.items()}
    # The run directory is named after the datasets that run (not those skipped for missing data).
    run_id = run_id or suite.run_id([job.spec.name for job in dataset_jobs])
    return Plan(suite, run_id, codec_jobs, dataset_jobs, built_metrics, hashes, skipped)
