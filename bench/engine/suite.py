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

The resolved suite (after every override) is what the run directory snapshots.
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
class SuiteConfig:
    """A resolved suite: what to run, on what, measured how."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    codecs: tuple[CodecSpec, ...]
    metrics: tuple[str, ...] = ("psnr-rgb", "ms-ssim-rgb")
    description: str = ""
    device: str = "cpu"
    keep_bitstreams: bool = True

    def validate(self) -> "SuiteConfig":
        """Checks names against the registries and labels for uniqueness; returns self."""
        from bench.codecs import codecs
        from bench.data import datasets
        from bench.metrics import metrics

        if not self.codecs:
            raise SuiteError(f"suite {self.name!r} has no codecs")
        if not self.datasets:
            raise SuiteError(f"suite {self.name!r} has no datasets")
        labels = [spec.label for spec in self.codecs]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise SuiteError(f"suite {self.name!r}: codec labels must be unique, repeated: {', '.join(duplicates)}")
        for spec in self.codecs:
            codecs.target(spec.codec)
        for spec in self.datasets:
            datasets.target(spec.name)
        for metric in self.metrics:
            metrics.target(metric)
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise SuiteError(f"device must be cpu, cuda or cuda:N, got {self.device!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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
    known = {"name", "description", "datasets", "codecs", "metrics", "device", "keep_bitstreams"}
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
        )
    except (TypeError, KeyError, ValueError) as error:
        raise SuiteError(f"{source}: malformed suite ({error})") from error


def _dataset_spec(entry: str | dict[str, Any]) -> DatasetSpec:
    if isinstance(entry, str):
        return DatasetSpec(entry)
    return DatasetSpec(entry["name"], entry.get("root"), entry.get("limit"))


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
    """Returns the suite with command-line overrides applied (each ignored when empty / None)."""
    dataset_specs = tuple(DatasetSpec(name) for name in datasets) or suite.datasets
    dataset_specs = tuple(
        dataclasses.replace(
            spec,
            root=data_root if data_root is not None else spec.root,
            limit=limit if limit is not None else spec.limit,
        )
        for spec in dataset_specs
    )
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
    return dataclasses.replace(
        suite,
        datasets=dataset_specs,
        codecs=codec_specs,
        metrics=tuple(metrics) or suite.metrics,
        device=device or suite.device,
    )


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
        "datasets = ["
        + ", ".join(_toml_value({k: v for k, v in dataclasses.asdict(d).items() if v is not None}) for d in suite.datasets)
        + "]",
    ]
    for spec in suite.codecs:
        lines += ["", "[[codecs]]", f"codec = {_toml_value(spec.codec)}", f"label = {_toml_value(spec.label)}"]
        if spec.points is not None:
            lines.append(f"points = {_toml_value(list(spec.points))}")
        if spec.options:
            lines.append(f"options = {_toml_value(spec.options)}")
    return "\n".join(lines) + "\n"
