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

Every value is checked when the suite is read (:meth:`SuiteConfig.validate`): unknown keys, wrong types, options
and rate points outside what the codec class declares (:mod:`bench.options`), names that could leave the
runs folder. Relative paths in a suite file (dataset ``root``, ``labels``, ``list_file``, a codec's ``checkpoint``)
are relative to the file's folder; those of the built-in suites to the current directory.

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
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from bench.engine.execution import ExecutionConfig
from bench.errors import BenchError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "suites"
DEFAULT_MAX_MEGAPIXELS = 50.0
# Options of codecs and datasets that name files; relative ones are resolved against the suite file's folder.
PATH_OPTIONS = ("checkpoint", "labels", "list_file")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


class SuiteError(BenchError):
    """A suite file or option that is malformed."""


def check_name(name: Any, what: str) -> str:
    """A suite, experiment or run name that is safe as one path component (no ``/``, no ``..``)."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise SuiteError(f"{what} {name!r} must be letters, digits and . _ + = - (no '/' or '..'), starting with a "
                         f"letter or digit: it names a folder under the runs directory")
    return name


@dataclass(frozen=True)
class CodecSpec:
    codec: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    points: tuple[float, ...] | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of a suite: registry name, data root, image limit, and dataset-specific options
    (``labels`` for ImageNet, ``list_file`` for ADE20K)."""

    name: str
    root: str | None = None
    limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


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
    """A resolved suite: what to run, on what, measured how.

    Attributes:
        max_megapixels: images above this size fail as items (with the reason) instead of exhausting memory.
        execution: where the run executes (the ``[execution]`` table); None leaves it to the caller (the CLI: a
            local process pool). Not part of the suite's digest: it does not change any number.
    """

    name: str
    datasets: tuple[DatasetSpec, ...]
    codecs: tuple[CodecSpec, ...]
    metrics: tuple[str, ...] = ("psnr-rgb", "ms-ssim-rgb")
    description: str = ""
    device: str = "cpu"
    keep_bitstreams: bool = True
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
    execution: ExecutionConfig | None = None
    experiments: tuple[ExperimentSpec, ...] = ()

    def validate(self) -> "SuiteConfig":
        """Checks every value: names against the registries, options and rate points against what each class
        declares, labels for uniqueness, the device against the machine; returns self.

        Raises:
            SuiteError: the first value that does not fit, with where it is and what is allowed.
        """
        from bench.codecs import codecs
        from bench.data import datasets
        from bench.devices import check_device
        from bench.options import OptionError, check_options, check_points
        from bench.metrics import metrics

        check_name(self.name, "suite name")
        if not self.codecs:
            raise SuiteError(f"suite {self.name!r} has no codecs")
        if not self.datasets and not self.experiments:
            raise SuiteError(f"suite {self.name!r} has no datasets")
        if not self.metrics:
            raise SuiteError(f"suite {self.name!r} has no metrics (e.g. metrics = [\"psnr-rgb\"])")
        if not (isinstance(self.max_megapixels, (int, float)) and math.isfinite(self.max_megapixels)
                and self.max_megapixels > 0):
            raise SuiteError(f"max_megapixels must be a positive number, got {self.max_megapixels!r}")
        self._validate_experiments()
        if self.execution is not None:
            try:
                self.execution.validate()
            except BenchError as error:
                raise SuiteError(f"suite {self.name!r}: {error}") from error
        labels = [spec.label for spec in self.codecs]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise SuiteError(f"suite {self.name!r}: codec labels must be unique, repeated: {', '.join(duplicates)}")
        try:
            for spec in self.codecs:
                factory = codecs.get(spec.codec)
                check_options(factory, spec.options, f"codec {spec.label}")
                if spec.points is not None:
                    check_points(factory, spec.points, f"codec {spec.label}")
            for spec in self.datasets + tuple(d for e in self.experiments for d in e.datasets):
                check_options(datasets.get(spec.name), spec.options, f"dataset {spec.name}")
                if spec.limit is not None and (isinstance(spec.limit, bool) or not isinstance(spec.limit, int)
                                               or spec.limit < 1):
                    raise SuiteError(f"dataset {spec.name}: limit must be a whole number >= 1, got {spec.limit!r}")
        except OptionError as error:
            raise SuiteError(f"suite {self.name!r}: {error}") from error
        for metric in self.metrics + tuple(m for e in self.experiments for m in e.metrics):
            metrics.target(metric)
        check_device(self.device)
        return self

    def _validate_experiments(self) -> None:
        names = [experiment.name for experiment in self.experiments]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SuiteError(f"suite {self.name!r}: experiment names must be unique, repeated: {', '.join(repeated)}")
        labels = {spec.label for spec in self.codecs}
        for experiment in self.experiments:
            check_name(experiment.name, "experiment name")
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
        """Hash of what the suite measures (its execution settings left out)."""
        data = self.to_dict()
        data.pop("execution", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def run_id(self, datasets: Sequence[str] | None = None) -> str:
        """Deterministic run id, so that rerunning the same suite on the same data reuses its store: the suite name
        and the datasets (``datasets``: those that run, when some are skipped)."""
        return f"{self.name}-{'+'.join(datasets if datasets is not None else [s.name for s in self.datasets])}"


def builtin_suites() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> SuiteConfig:
    """Loads a built-in suite by name or a suite TOML file by path, checking its keys and value types (the values
    themselves are checked by :meth:`SuiteConfig.validate` once command-line overrides are applied).

    Raises:
        SuiteError: no such suite, not a UTF-8 TOML file, an unknown key or a value of the wrong type.
    """
    path = Path(name_or_path)
    builtin = not path.suffix
    if builtin:
        path = BUILTIN_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise SuiteError(f"unknown suite {name_or_path!r}; built-in suites: {', '.join(builtin_suites())}")
    if not path.is_file():
        raise SuiteError(f"{path}: suite file not found")
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SuiteError(f"{path}: not a text file (suite files are UTF-8 TOML)") from error
    except OSError as error:
        raise SuiteError(f"{path}: cannot read the suite file ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: invalid TOML ({error})") from error
    base = Path.cwd() if builtin else path.resolve().parent
    return suite_from_dict(raw, default_name=path.stem, source=str(path), base=base)


# Keys of each table of a suite file and the types their values must have.
_TOP_LEVEL = {"name": str, "description": str, "datasets": list, "codecs": list, "metrics": list, "device": str,
              "keep_bitstreams": bool, "max_megapixels": (int, float), "execution": dict, "experiments": list}
_EXECUTION = {"kind": str, "workers": int, "ray_address": str, "resources": dict}
_DATASET = {"name": str, "root": str, "limit": int}
_CODEC = {"codec": str, "label": str, "options": dict, "points": list}
_EXPERIMENT = {"name": str, "description": str, "datasets": list, "codecs": list, "metrics": list}
_TYPE_NAMES = {str: "a string", list: "an array", dict: "a table", bool: "true or false", int: "a whole number",
               (int, float): "a number"}


def _check_table(raw: Any, schema: Mapping[str, Any], where: str, required: Sequence[str] = (),
                 open_keys: bool = False) -> dict[str, Any]:
    """Checks a TOML table's keys and value types; ``open_keys`` lets unknown keys through (dataset options)."""
    if not isinstance(raw, dict):
        raise SuiteError(f"{where} must be a table, got {type(raw).__name__} {raw!r}")
    unknown = sorted(set(raw) - set(schema))
    if unknown and not open_keys:
        raise SuiteError(f"{where}: unknown keys {', '.join(unknown)} (known: {', '.join(schema)})")
    for key in required:
        if key not in raw:
            raise SuiteError(f"{where}: {key} is missing")
    for key, kind in schema.items():
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
                raise SuiteError(f"{where}: {key} must be {_TYPE_NAMES[kind]}, got {value!r}")
    return raw


def _strings(values: list, where: str) -> tuple[str, ...]:
    if not all(isinstance(value, str) for value in values):
        raise SuiteError(f"{where} must be an array of strings, got {values!r}")
    return tuple(values)


def _resolve(value: Any, base: Path) -> Any:
    """A path option relative to ``base`` (strings and lists of strings; ``~`` expanded)."""
    if isinstance(value, list):
        return [_resolve(item, base) for item in value]
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else base / path)
    return value


def suite_from_dict(raw: Any, default_name: str, source: str, base: Path | None = None) -> SuiteConfig:
    """Builds a suite from a parsed TOML document, checking every key and type (values are checked by
    :meth:`SuiteConfig.validate`). ``base`` resolves relative paths (default: left as they are)."""
    raw = _check_table(raw, _TOP_LEVEL, source)
    return SuiteConfig(
        name=raw.get("name", default_name),
        description=raw.get("description", ""),
        datasets=tuple(_dataset_spec(entry, f"{source}: datasets", base) for entry in raw.get("datasets", ["sample"])),
        codecs=tuple(_codec_spec(entry, f"{source}: [[codecs]]", base) for entry in raw.get("codecs", [])),
        metrics=_strings(raw.get("metrics", list(SuiteConfig.metrics)), f"{source}: metrics"),
        device=raw.get("device", "cpu"),
        keep_bitstreams=raw.get("keep_bitstreams", True),
        max_megapixels=float(raw.get("max_megapixels", DEFAULT_MAX_MEGAPIXELS)),
        execution=ExecutionConfig(**_check_table(raw["execution"], _EXECUTION, f"{source}: [execution]"))
        if "execution" in raw else None,
        experiments=tuple(_experiment_spec(entry, f"{source}: [[experiments]]", base)
                          for entry in raw.get("experiments", [])),
    )


def _dataset_spec(entry: Any, where: str, base: Path | None) -> DatasetSpec:
    if isinstance(entry, str):
        return DatasetSpec(entry)
    entry = _check_table(entry, _DATASET, f"{where} entry", required=("name",), open_keys=True)
    options = {k: v for k, v in entry.items() if k not in _DATASET}
    root = entry.get("root")
    if base is not None:
        root = _resolve(root, base)
        options = {k: _resolve(v, base) if k in PATH_OPTIONS else v for k, v in options.items()}
    return DatasetSpec(entry["name"], root, entry.get("limit"), options)


def _experiment_spec(entry: Any, where: str, base: Path | None) -> ExperimentSpec:
    entry = _check_table(entry, _EXPERIMENT, f"{where} entry", required=("name",))
    name = entry["name"]
    return ExperimentSpec(
        name=name,
        datasets=tuple(_dataset_spec(d, f"{where} {name!r}: datasets", base) for d in entry.get("datasets", [])),
        codecs=_strings(entry.get("codecs", []), f"{where} {name!r}: codecs"),
        metrics=_strings(entry.get("metrics", []), f"{where} {name!r}: metrics"),
        description=entry.get("description", ""),
    )


def _codec_spec(entry: Any, where: str, base: Path | None) -> CodecSpec:
    entry = _check_table(entry, _CODEC, f"{where} entry", required=("codec",))
    options = dict(entry.get("options", {}))
    if base is not None:
        options = {k: _resolve(v, base) if k in PATH_OPTIONS else v for k, v in options.items()}
    points = entry.get("points")
    if points is not None:
        from bench.options import OptionError, check_points

        try:
            points = check_points(None, points, f"{where} {entry.get('label', entry['codec'])!r}")
        except OptionError as error:
            raise SuiteError(str(error)) from error
    return CodecSpec(codec=entry["codec"], label=entry.get("label", entry["codec"]), options=options, points=points)


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

    ``codec_labels`` selects codecs of the suite by label or registry name; a registered codec the suite does not
    have is added with its default options (``--codec bmshj2018-factorized --checkpoint ...`` needs no suite file).
    ``checkpoints`` maps a label or registry name to what :func:`parse_checkpoint_options` parsed. In a suite with
    experiments, ``datasets`` and ``codec_labels`` select: each experiment keeps only the named
    datasets and codecs it has, and experiments left with none are dropped; ``metrics`` replaces every
    experiment's metrics; ``data_root`` and ``limit`` apply to every dataset.
    """
    codec_specs = suite.codecs
    if codec_labels:
        codec_specs = _select_codecs(suite, codec_labels)
    if checkpoints:
        names = {spec.label for spec in codec_specs} | {spec.codec for spec in codec_specs}
        unknown = sorted(set(checkpoints) - names)
        if unknown:
            raise SuiteError(f"--checkpoint {unknown[0]}=...: suite {suite.name!r} runs no codec {unknown[0]!r}; its "
                             f"codecs: {', '.join(spec.label for spec in codec_specs)}")
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


def _select_codecs(suite: SuiteConfig, names: Sequence[str]) -> tuple[CodecSpec, ...]:
    from bench.codecs import codecs

    selected = [spec for spec in suite.codecs if spec.label in names or spec.codec in names]
    for name in names:
        if any(name in (spec.label, spec.codec) for spec in selected):
            continue
        if name not in codecs:
            known = ", ".join(spec.label for spec in suite.codecs)
            codecs.get(name)  # raises with "did you mean" among the registered codecs
            raise SuiteError(f"suite {suite.name!r} has no codec {name}; its codecs: {known}")
        selected.append(CodecSpec(name, name))
    return tuple(selected)


@dataclass(frozen=True)
class CheckpointOption:
    """What ``--checkpoint NAME=PATH[:Q][,PATH[:Q]...]`` gives a codec: one file or folder, or several files (one per
    rate point), with the quality of each file when a ``:Q`` suffix names it."""

    paths: tuple[str, ...]
    qualities: tuple[int, ...] = ()

    def options(self) -> dict[str, Any]:
        checkpoint: Any = self.paths[0] if len(self.paths) == 1 else list(self.paths)
        return {"checkpoint": checkpoint, **({"qualities": list(self.qualities)} if self.qualities else {})}


def _with_checkpoint(spec: CodecSpec, checkpoints: Mapping[str, CheckpointOption]) -> CodecSpec:
    given = checkpoints.get(spec.label, checkpoints.get(spec.codec))
    if given is None:
        return spec
    return dataclasses.replace(spec, options={**spec.options, **given.options()})


def parse_checkpoint_options(values: Sequence[str]) -> dict[str, CheckpointOption]:
    """Parses ``--checkpoint NAME=PATH`` options: NAME is a codec label or registry name; PATH a file or folder, or
    several files separated by commas, each optionally with ``:Q``, its quality
    (``bmshj2018-factorized=a.pth.tar:1,b.pth.tar:2``)."""
    parsed = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise SuiteError(f"--checkpoint expects NAME=PATH (e.g. mpa=ckpt/checkpoint_step3.pth.tar), got {value!r}")
        paths, qualities = [], []
        for part in rest.split(","):
            path, colon, quality = part.rpartition(":")
            if colon and quality.isdigit() and path:
                paths.append(str(Path(path).expanduser()))
                qualities.append(int(quality))
            else:
                paths.append(str(Path(part).expanduser()))
        if qualities and len(qualities) != len(paths):
            raise SuiteError(f"--checkpoint {value!r}: give every file a :Q suffix, or none")
        parsed[name] = CheckpointOption(tuple(paths), tuple(qualities))
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
        f"max_megapixels = {_toml_value(suite.max_megapixels)}",
        f"metrics = {_toml_value(list(suite.metrics))}",
        "datasets = [" + ", ".join(_dataset_toml(d) for d in suite.datasets) + "]",
    ]
    if suite.execution is not None:
        lines += ["", "[execution]"] + [f"{key} = {_toml_value(value)}" for key, value in suite.execution.to_dict().items()
                                        if value is not None and value != {}]
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
    table = {"name": spec.name, "root": spec.root, "limit": spec.limit, **spec.options}
    return _toml_value({k: v for k, v in table.items() if v is not None})
