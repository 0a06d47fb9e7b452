"""``bench profile``'s library entry point: codecs (or a run's codecs) -> profiles + Table 4 -> a document."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch

from bench.complexity.document import ComplexityDocument
from bench.complexity.latency import device_name
from bench.complexity.profile import CodecProfile, ProfileOptions, latency_image, profile_codec
from bench.complexity.subjects import build_subject, kind_of, meta_transformer
from bench.complexity.table4 import Table4, build_table4
from bench.devices import check_device
from bench.errors import BenchError

log = logging.getLogger(__name__)

DEFAULT_CODECS = ("tinylic", "mpa")
OUTPUT_NAME = "complexity.json"


def codecs_of_run(run_dir: Path) -> list[tuple[str, str, dict]]:
    """``(codec, label, options)`` of every codec of a run directory's suite."""
    from bench.engine.suite import SuiteError, load_suite

    suite_file = Path(run_dir) / "suite.toml"
    if not suite_file.is_file():
        raise BenchError(f"{run_dir}: no suite.toml; pass a run directory written by `python -m bench run`")
    try:
        suite = load_suite(str(suite_file))
    except SuiteError as error:
        raise BenchError(f"{suite_file}: {error}") from error
    return [(spec.codec, spec.label, dict(spec.options)) for spec in suite.codecs]


def select_entries(codec_names: Sequence[str], run_dir: Path | None) -> list[tuple[str, str, dict]]:
    """What to profile, checked before anything runs: names are registry names or, with a run, its labels.

    Without names: every label of the run with its options (``jpeg`` and ``jpeg-444`` are two codecs), except that
    labels of one learned codec with one checkpoint are profiled once (MPA's task variants share one architecture);
    without a run, :data:`DEFAULT_CODECS`.
    """
    from bench.codecs import codecs

    run_entries = codecs_of_run(run_dir) if run_dir is not None else []
    if not codec_names:
        if not run_entries:
            return [(name, name, {}) for name in DEFAULT_CODECS]
        first: dict[tuple, tuple[str, str, dict]] = {}
        for codec, label, options in run_entries:
            same_model = (codec, str(options.get("checkpoint")))
            first.setdefault(same_model if kind_of(codec) != "classical" else (codec, label), (codec, label, options))
        return list(first.values())
    by_label = {label: (codec, label, options) for codec, label, options in run_entries}
    entries = []
    for name in dict.fromkeys(codec_names):
        if name not in by_label:
            codecs.target(name)  # an unknown name fails here, with suggestions, before any profiling
        entries.append(by_label.get(name, (name, name, {})))
    return entries


def profile_codecs(codec_names: Sequence[str] = (), options: ProfileOptions = ProfileOptions(),
            checkpoints: dict[str, str] | None = None, run_dir: Path | None = None,
            table4: bool | None = None) -> ComplexityDocument:
    """Profiles codecs: parameters, MACs per pixel, latency; and Table 4 when MPA or MRIC is among them.

    Args:
        codec_names: registry names or ``run_dir``'s labels; empty: see :func:`select_entries`.
        checkpoints: ``{registry name or label: path}``; without one, the official architecture is profiled
            (latency with random weights).
        run_dir: a run directory whose suite supplies the codecs (and their options, checkpoints included).
        table4: add Table 4 (default: when ``mpa`` or ``mric`` is profiled).

    Raises:
        BenchError: unknown codec, missing checkpoint, unusable option (one line, naming the fix).
    """
    checkpoints = dict(checkpoints or {})
    entries = select_entries(codec_names, run_dir)
    device = check_device(options.device)
    image = latency_image(options.height, options.width, options.image) if options.latency else None
    profiles: list[CodecProfile] = []
    meta_models: dict[str, torch.nn.Module] = {}
    notes: list[str] = []
    for codec_name, label, codec_options in entries:
        checkpoint = checkpoints.get(label, checkpoints.get(codec_name))
        suite_checkpoint = codec_options.get("checkpoint")
        if checkpoint is None and suite_checkpoint and not Path(suite_checkpoint).expanduser().exists():
            notes.append(f"{label}: the suite's checkpoint {suite_checkpoint} is missing; profiled the official "
                         f"architecture (pass --checkpoint {codec_name}=PATH)")
            codec_options = {k: v for k, v in codec_options.items() if k != "checkpoint"}
        log.info("profiling %s", label)
        try:
            subject = build_subject(codec_name, label, codec_options, checkpoint=checkpoint, device=options.device,
                                    attention=options.attention, qualities=options.qualities, alphas=options.alphas,
                                    tasks=options.tasks, timed=options.latency)
            profiles.append(profile_codec(subject, options, image))
        except (ValueError, TypeError) as error:
            raise BenchError(f"cannot profile {label}: {error}") from error
        if subject.meta_model is not None and codec_name in ("mpa", "tinylic", "mric"):
            meta_models[codec_name] = subject.meta_model
    table = None
    if table4 or (table4 is None and ("mpa" in meta_models or "mric" in meta_models)):
        table = _table4(meta_models, profiles)
        sources = {item.codec: item.source for item in profiles if item.codec in ("mpa", "tinylic")}
        notes.append("Table 4 at 256x256: parameters and MACs of " + "; ".join(
            f"{name}: {sources.get(name, 'architecture (no checkpoint)').split(':')[0]}"
            for name in ("tinylic", "mpa")) + ". The poster's '+' rows are changes; here each is measured: the "
            "side-path MLP sets, one predictor set, and the split/aggregation (no parameters, no MACs).")
    return ComplexityDocument(options, profiles, table, device_name(device), _environment(), notes)


def _table4(meta_models: dict[str, torch.nn.Module], profiles: list[CodecProfile]) -> Table4:
    from bench.codecs.mric import table4_breakdown

    mpa = meta_models.get("mpa") or meta_transformer("mpa")
    tinylic = meta_models.get("tinylic") or meta_transformer("tinylic")
    latency: dict[str, object] = {}
    for item in profiles:
        timed = [c.latency.as_dict() for c in item.configs if c.latency is not None]
        if item.codec in ("tinylic", "mric") and timed:
            latency["TinyLIC" if item.codec == "tinylic" else "MRIC"] = timed[0]
        if item.codec == "mpa" and timed:
            latency["MPA"] = timed
    return build_table4(mpa, tinylic, latency=latency, mric=table4_breakdown(meta_models.get("mric")))


def _environment() -> dict:
    from bench.engine.environment import describe_environment

    environment = describe_environment({})
    environment.pop("codecs", None)
    return environment


def default_output(run_dir: Path | None, output: Path | None) -> Path | None:
    """``--output`` if given, else ``RUN_DIR/complexity.json`` with ``--run``, else none."""
    if output is not None:
        return Path(output)
    return Path(run_dir) / OUTPUT_NAME if run_dir is not None else None
