"""Suite configuration: one dataclass owns the defaults; the built-in TOML, a user TOML and CLI flags override it.

A suite file::

    name = "default"
    description = "..."
    datasets = ["sample"]                  # or [{name = "kodak", limit = 4}]
    metrics = ["psnr-rgb", "ms-ssim-rgb"]

    [[codecs]]
    codec = "jpeg"                         # registry name
    label = "jpeg-444"                     # unique within the suite; defaults to the codec name
    points = [10, 30, 50, 70, 90]          # optional; defaults to the codec's own rate points
    options = { subsampling = "4:4:4" }    # keyword arguments of the codec class

A suite may instead be made of named experiments, each running some of the suite's codecs (by label) on its own
datasets with its own metrics (the paper suite: rate-distortion on Kodak/CLIC, top-1 on ImageNet, ...)::

    [[experiments]]
    name = "rd"                            # run id <suite>-<experiment>-<datasets>
    datasets = ["kodak", "clic"]
    metrics = ["psnr-rgb", "lpips-alex"]   # optional; defaults to the suite's metrics
    codecs = ["mpa", "jpeg"]               # optional; labels of [[codecs]], defaults to all of them

:meth:`SuiteConfig.expand` turns such a suite into one plain suite per experiment, run one after another into
separate run directories; each run directory snapshots its own plain suite. The resolved suite (after every
override) is what the run directory snapshots.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bench.errors import BenchError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "suites"


class SuiteError(BenchError):
    """A suite file or option that is malformed."""


@dataclass(frozen=True)
class CodecSpec:
    codec: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    points: tuple[float, ...] | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    root: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment of a suite: some of its codecs (by label) on its own datasets with its own metrics.

    Attributes:
        codecs: labels of the suite's codecs; empty means all of them.
        metrics: empty means the suite's metrics.
    """

    name: str
    datasets: tuple[DatasetSpec, ...]
    codecs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class SuiteConfig:
    """A resolved suite: what to run, on what, measured how."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    codecs: tuple[CodecSpec, ...]
    metrics: tuple[str, ...] = ("psnr-rgb", "ms-ssim-rgb")
    description: str = ""
    device: str = "cpu"
    keep_bitstreams: bool = True
    experiments: tuple[ExperimentSpec, ...] = ()

    def validate(self) -> "SuiteConfig":
        """Checks names against the registries and labels for uniqueness; returns self."""
        from bench.codecs import codecs
        from bench.data import datasets
        from bench.metrics import metrics

        if not self.codecs:
            raise SuiteError(f"suite {self.name!r} has no codecs")
        if not self.datasets and not self.experiments:
            raise SuiteError(f"suite {self.name!r} has no datasets")
        self._validate_experiments()
        labels = [spec.label for spec in self.codecs]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise SuiteError(f"suite {self.name!r}: codec labels must be unique, repeated: {', '.join(duplicates)}")
        for spec in self.codecs:
            codecs.target(spec.codec)
        for spec in self.datasets + tuple(d for e in self.experiments for d in e.datasets):
            datasets.target(spec.name)
        for metric in self.metrics + tuple(m for e in self.experiments for m in e.metrics):
            metrics.target(metric)
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise SuiteError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        return self

    def _validate_experiments(self) -> None:
        names = [experiment.name for experiment in self.experiments]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SuiteError(f"suite {self.name!r}: experiment names must be unique, repeated: {', '.join(repeated)}")
        labels = {spec.label for spec in self.codecs}
        for experiment in self.experiments:
            if not experiment.datasets:
                raise SuiteError(f"suite {self.name!r}: experiment {experiment.name!r} has no datasets")
            unknown = [label for label in experiment.codecs if label not in labels]
            if unknown:
                raise SuiteError(
                    f"suite {self.name!r}: experiment {experiment.name!r} names codecs {', '.join(unknown)} that are "
                    f"not among the suite's [[codecs]] labels ({', '.join(sorted(labels))})"
                )

    def expand(self) -> list["SuiteConfig"]:
        """One plain suite per experiment (named ``<suite>-<experiment>``), or ``[self]`` without experiments."""
        if not self.experiments:
            return [self]
        suites = []
        for experiment in self.experiments:
            wanted = set(experiment.codecs)
            suites.append(dataclasses.replace(
                self,
                name=f"{self.name}-{experiment.name}",
                description=experiment.description or self.description,
                datasets=experiment.datasets,
                codecs=tuple(spec for spec in self.codecs if not wanted or spec.label in wanted),
                metrics=experiment.metrics or self.metrics,
                experiments=(),
            ))
        return suites

    def to_dict(self) -> dict[str, Any]:
        """Plain values; ``experiments`` only when there are some (a plain suite's dict is unchanged)."""
        data = dataclasses.asdict(self)
        if not self.experiments:
            del data["experiments"]
        return data

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def run_id(self) -> str:
        """Deterministic run id, so that rerunning the same suite on the same data reuses its store."""
        return f"{self.name}-{'+'.join(spec.name for spec in self.datasets)}"


def builtin_suites() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> SuiteConfig:
    """Loads a built-in suite by name or a suite TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = BUILTIN_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise SuiteError(f"unknown suite {name_or_path!r}; built-in suites: {', '.join(builtin_suites())}")
    if not path.is_file():
        raise SuiteError(f"{path}: suite file not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: invalid TOML ({error})") from error
    return suite_from_dict(raw, default_name=path.stem, source=str(path))


def suite_from_dict(raw: dict[str, Any], default_name: str, source: str) -> SuiteConfig:
    known = {"name", "description", "datasets", "codecs", "metrics", "device", "keep_bitstreams", "experiments"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SuiteError(f"{source}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return SuiteConfig(
            name=raw.get("name", default_name),
            description=raw.get("description", ""),
            datasets=tuple(_dataset_spec(entry) for entry in raw.get("datasets", ["sample"])),
            codecs=tuple(_codec_spec(entry) for entry in raw.get("codecs", [])),
            metrics=tuple(raw.get("metrics", SuiteConfig.metrics)),
            device=raw.get("device", "cpu"),
            keep_bitstreams=bool(raw.get("keep_bitstreams", True)),
            experiments=tuple(_experiment_spec(entry) for entry in raw.get("experiments", [])),
        )
    except (TypeError, KeyError, ValueError) as error:
        raise SuiteError(f"{source}: malformed suite ({error})") from error


def _dataset_spec(entry: str | dict[str, Any]) -> DatasetSpec:
    if isinstance(entry, str):
        return DatasetSpec(entry)
    return DatasetSpec(entry["name"], entry.get("root"), entry.get("limit"))


def _experiment_spec(entry: dict[str, Any]) -> ExperimentSpec:
    unknown = sorted(set(entry) - {"name", "description", "datasets", "codecs", "metrics"})
    if unknown:
        raise ValueError(f"experiment {entry.get('name')!r} has unknown keys {', '.join(unknown)}")
    return ExperimentSpec(
        name=entry["name"],
        datasets=tuple(_dataset_spec(d) for d in entry.get("datasets", [])),
        codecs=tuple(entry.get("codecs", [])),
        metrics=tuple(entry.get("metrics", [])),
        description=entry.get("description", ""),
    )


def _codec_spec(entry: dict[str, Any]) -> CodecSpec:
    unknown = sorted(set(entry) - {"codec", "label", "options", "points"})
    if unknown:
        raise ValueError(f"codec entry {entry.get('codec')!r} has unknown keys {', '.join(unknown)}")
    points = entry.get("points")
    return CodecSpec(
        codec=entry["codec"],
        label=entry.get("label", entry["codec"]),
        options=dict(entry.get("options", {})),
        points=tuple(float(p) for p in points) if points is not None else None,
    )


def apply_overrides(
    suite: SuiteConfig,
    datasets: Sequence[str] = (),
    data_root: str | None = None,
    limit: int | None = None,
    codec_labels: Sequence[str] = (),
    metrics: Sequence[str] = (),
    checkpoints: dict[str, str] | None = None,
    device: str | None = None,
) -> SuiteConfig:
    """Returns the suite with command-line overrides applied (each ignored when empty / None).

    In a suite with experiments, ``datasets`` and ``codec_labels`` select: each experiment keeps only the named
    datasets and codecs it has, and experiments left with none are dropped; ``metrics`` replaces every
    experiment's metrics; ``data_root`` and ``limit`` apply to every dataset.
    """
    codec_specs = suite.codecs
    if codec_labels:
        wanted = set(codec_labels)
        codec_specs = tuple(spec for spec in codec_specs if spec.label in wanted or spec.codec in wanted)
        missing = wanted - {spec.label for spec in codec_specs} - {spec.codec for spec in codec_specs}
        if missing:
            known = ", ".join(spec.label for spec in suite.codecs)
            raise SuiteError(f"suite {suite.name!r} has no codec {', '.join(sorted(missing))}; its codecs: {known}")
    if checkpoints:
        codec_specs = tuple(_with_checkpoint(spec, checkpoints) for spec in codec_specs)
    if suite.experiments:
        experiments = _select_experiments(suite, datasets, {spec.label for spec in codec_specs}, metrics,
                                          data_root, limit)
        dataset_specs = tuple(_with_data(spec, data_root, limit) for spec in suite.datasets)
    else:
        experiments = ()
        dataset_specs = tuple(_with_data(spec, data_root, limit)
                              for spec in tuple(DatasetSpec(name) for name in datasets) or suite.datasets)
    return dataclasses.replace(
        suite,
        datasets=dataset_specs,
        codecs=codec_specs,
        metrics=tuple(metrics) or suite.metrics,
        device=device or suite.device,
        experiments=experiments,
    )


def _with_data(spec: DatasetSpec, data_root: str | None, limit: int | None) -> DatasetSpec:
    return dataclasses.replace(
        spec,
        root=data_root if data_root is not None else spec.root,
        limit=limit if limit is not None else spec.limit,
    )


def _select_experiments(
    suite: SuiteConfig, datasets: Sequence[str], labels: set[str], metrics: Sequence[str],
    data_root: str | None, limit: int | None,
) -> tuple[ExperimentSpec, ...]:
    selected = []
    for experiment in suite.experiments:
        dataset_specs = tuple(spec for spec in experiment.datasets if not datasets or spec.name in datasets)
        codec_labels = tuple(label for label in (experiment.codecs or [s.label for s in suite.codecs])
                             if label in labels)
        if dataset_specs and codec_labels:
            selected.append(dataclasses.replace(
                experiment,
                datasets=tuple(_with_data(spec, data_root, limit) for spec in dataset_specs),
                codecs=codec_labels,
                metrics=tuple(metrics) or experiment.metrics,
            ))
    if not selected:
        names = {spec.name for e in suite.experiments for spec in e.datasets}
        raise SuiteError(
            f"suite {suite.name!r}: no experiment runs the selected datasets and codecs (its datasets: "
            f"{', '.join(sorted(names))})"
        )
    return tuple(selected)


def _with_checkpoint(spec: CodecSpec, checkpoints: dict[str, str]) -> CodecSpec:
    path = checkpoints.get(spec.label, checkpoints.get(spec.codec))
    if path is None:
        return spec
    return dataclasses.replace(spec, options={**spec.options, "checkpoint": str(Path(path).expanduser())})


def parse_checkpoint_options(values: Sequence[str]) -> dict[str, str]:
    """Parses ``--checkpoint NAME=PATH`` options (NAME is a codec label or registry name)."""
    parsed = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SuiteError(f"--checkpoint expects NAME=PATH (e.g. mpa=ckpt/checkpoint_step3.pth.tar), got {value!r}")
        parsed[name] = path
    return parsed


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise SuiteError(f"cannot write {value!r} to a suite file")


def suite_to_toml(suite: SuiteConfig) -> str:
    """The resolved suite as a suite file that :func:`load_suite` reads back to an equal config."""
    lines = [
        f"name = {_toml_value(suite.name)}",
        f"description = {_toml_value(suite.description)}",
        f"device = {_toml_value(suite.device)}",
        f"keep_bitstreams = {_toml_value(suite.keep_bitstreams)}",
        f"metrics = {_toml_value(list(suite.metrics))}",
        "datasets = [" + ", ".join(_dataset_toml(d) for d in suite.datasets) + "]",
    ]
    for spec in suite.codecs:
        lines += ["", "[[codecs]]", f"codec = {_toml_value(spec.codec)}", f"label = {_toml_value(spec.label)}"]
        if spec.points is not None:
            lines.append(f"points = {_toml_value(list(spec.points))}")
        if spec.options:
            lines.append(f"options = {_toml_value(spec.options)}")
    for experiment in suite.experiments:
        lines += ["", "[[experiments]]", f"name = {_toml_value(experiment.name)}"]
        if experiment.description:
            lines.append(f"description = {_toml_value(experiment.description)}")
        lines.append("datasets = [" + ", ".join(_dataset_toml(d) for d in experiment.datasets) + "]")
        if experiment.codecs:
            lines.append(f"codecs = {_toml_value(list(experiment.codecs))}")
        if experiment.metrics:
            lines.append(f"metrics = {_toml_value(list(experiment.metrics))}")
    return "\n".join(lines) + "\n"


def _dataset_toml(spec: DatasetSpec) -> str:
    return _toml_value({k: v for k, v in dataclasses.asdict(spec).items() if v is not None})
