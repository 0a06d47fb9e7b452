"""Profiles -> complexity.json (the schema of :mod:`bench.complexity.schema`) and the text table on stdout."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from bench.complexity.macs import CONVENTIONS, DECODER_STAGES, DEFAULT_CONVENTION, ENCODER_STAGES
from bench.complexity.profile import CodecProfile, ConfigResult, ProfileOptions
from bench.complexity.schema import CLASSICAL, LEARNED, SCHEMA, models_from_document
from bench.complexity.table4 import TABLE4_SIZE, Table4

CLASSICAL_NOTE = ("Classical codecs: timed with {threads} torch thread(s) per process (bench profile's default for "
                  "classical codecs; --threads N changes it), on the codec's own encode and decode of bytes; the "
                  "float <-> uint8 conversion is outside the timed region (latency_ms.conversion).")
WEIGHTS_NOTE = ("MACs do not depend on weights: MPA's predictors choose which tokens take each path, but the number "
                "per path is int(T * ratio) with the ratio fixed by q and alpha.")


@dataclass
class ComplexityDocument:
    """What one ``bench profile`` measured."""

    options: ProfileOptions
    profiles: list[CodecProfile]
    table4: Table4 | None
    device: str
    environment: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _kmacs(macs, convention: str = DEFAULT_CONVENTION) -> float | None:
    return None if macs is None else macs.kmacs_per_pixel(convention)


def config_row(profile: CodecProfile, config: ConfigResult, device: str = "") -> dict[str, Any]:
    """One ``models`` entry of complexity.json for a profiled configuration (``device``: where it was timed)."""
    suffix = config.title if len(profile.configs) > 1 or config.alpha is not None or config.quality else ""
    row: dict[str, Any] = {
        "name": f"{profile.label} ({suffix})" if suffix else profile.label,
        "codec": profile.codec,
        "kind": CLASSICAL if profile.kind == "classical" else LEARNED,
        "variant": config.variant,
        "point": config.point,
        "params": profile.params.total if profile.params else None,
        "kmacs_per_pixel": _kmacs(config.macs),
        "latency_ms": config.latency.as_dict() if config.latency else None,
        "paper": {},
    }
    if config.latency is not None:
        row.update(device=device, threads=config.threads)
    if config.macs is not None:
        row["kmacs_by_convention"] = config.macs.by_convention()
    return row


def _profile_entry(profile: CodecProfile) -> dict[str, Any]:
    configs = []
    for config in profile.configs:
        entry: dict[str, Any] = {"point": config.point, "variant": config.variant, "quality": config.quality,
                                 "alpha": config.alpha, "q_task": config.q_task, "task": config.task}
        if config.macs is not None:
            pixels = config.macs.pixels * 1e3
            entry["macs"] = {
                "kmacs_per_pixel": config.macs.by_convention(),
                "encode_kmacs_per_pixel": config.macs.stage_kmacs(ENCODER_STAGES),
                "decode_kmacs_per_pixel": config.macs.stage_kmacs(DECODER_STAGES),
                "modules": {name: {k: v / pixels for k, v in counts.items()}
                            for name, counts in config.macs.modules.items()},
                "categories": {name: value / pixels for name, value in sorted(config.macs.categories.items())},
            }
        if config.latency is not None:
            entry["latency_ms"] = config.latency.as_dict()
        configs.append(entry)
    return {
        "codec": profile.codec, "label": profile.label, "kind": profile.kind, "source": profile.source,
        "params": profile.params.as_dict() if profile.params else None,
        "macs_input": None if profile.macs_size is None else {"height": profile.macs_size[0],
                                                               "width": profile.macs_size[1]},
        "configs": configs, "notes": profile.notes,
    }


def _row_device(document: ComplexityDocument, config: ConfigResult) -> str:
    from bench.complexity.latency import device_name

    device = torch.device(document.options.device)
    return document.device if device.type == "cuda" or config.threads is None else device_name(device, config.threads)


def to_json(document: ComplexityDocument) -> dict[str, Any]:
    """The complexity.json document (schema ``mpa-bench/complexity/1`` with the profiler's extensions)."""
    options = document.options
    models: list[dict[str, Any]] = []
    notes = [WEIGHTS_NOTE, *document.notes]
    if options.latency:
        notes.append(f"Latency: {document.device}, {options.height}x{options.width}, batch {options.batch}, median "
                     f"of {options.repeats} after {options.warmup} warm-up, ms per image (encode + decode); the "
                     f"poster's latency was measured on an RTX 3090 with a protocol the paper does not state.")
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "input": {"height": options.height, "width": options.width, "batch": options.batch},
        "device": document.device,
        "environment": document.environment,
        "latency_protocol": {"warmup": options.warmup, "repeats": options.repeats, "statistic": "median",
                             "batch": options.batch, "measured": options.latency},
        "conventions": dict(CONVENTIONS),
    }
    if document.table4 is not None:
        table = document.table4
        models += table.rows
        out["table4_related"] = table.related
        out["convention"] = {"name": DEFAULT_CONVENTION, "reproduces_paper": table.best_convention,
                             "sentence": table.sentence, "params_sentence": table.params_sentence,
                             "comparison": table.conventions}
        out["mpa_sweep"] = {"height": TABLE4_SIZE[0], "width": TABLE4_SIZE[1], "convention": DEFAULT_CONVENTION,
                            "points": [point.as_dict() for point in table.sweep]}
        notes.append(sweep_summary(table))
    for profile in document.profiles:
        models += [config_row(profile, config, _row_device(document, config)) for config in profile.configs]
    threads = sorted({config.threads for p in document.profiles for config in p.configs if config.threads})
    if any(p.kind == "classical" for p in document.profiles) and options.latency:
        notes.append(CLASSICAL_NOTE.format(threads=options.threads_for("classical")))
    out["threads"] = threads[0] if len(threads) == 1 else threads
    out["workers"] = 1
    out["notes"] = notes
    out["models"] = models
    out["profiles"] = [_profile_entry(profile) for profile in document.profiles]
    return out


def sweep_summary(table: Table4) -> str:
    """One line: MPA's KMACs/pixel at the sweep's corners."""
    def value(q: float, alpha: float, task: str) -> float:
        return next(p.macs.kmacs_per_pixel() for p in table.sweep
                    if p.quality == q and abs(p.alpha - alpha) < 1e-12 and p.task == task)

    parts = [f"alpha 0: {value(1, 0, 'mse'):.2f} (q 1) .. {value(8, 0, 'mse'):.2f} (q 8)"]
    parts += [f"alpha 1 {task}: {value(1, 1, task):.2f} .. {value(8, 1, task):.2f}" for task in ("mse", "cls", "seg")]
    return (f"MPA KMACs/pixel at {TABLE4_SIZE[0]}x{TABLE4_SIZE[1]} over q = 1..8 ({DEFAULT_CONVENTION}): "
            + "; ".join(parts) + ". The full q x alpha x task grid is in mpa_sweep.")


def write_json(document: ComplexityDocument, path: Path) -> Path:
    from bench.atomic import write_text_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(to_json(document), indent=2) + "\n")
    return path


# --- text ------------------------------------------------------------------------------------------------------


def _cell(value: Any, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, (list, tuple)):
        texts = [_cell(v, digits, signed) for v in value]
        return texts[0] if texts[0] == texts[1] else f"{texts[0]}~{texts[1]}"
    sign = "+" if signed else ""
    if isinstance(value, int):
        return f"{value:{sign},}"
    return f"{value:{sign}.{digits}f}"


def _grid(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return lines


def format_text(document: ComplexityDocument) -> str:
    """The readable summary printed by ``bench profile``."""
    data = to_json(document)
    options = document.options
    classical = options.latency and any(profile.kind == "classical" for profile in document.profiles)
    threads = options.threads_for("classical")
    lines = [f"device: {document.device}; input {options.height}x{options.width}, batch {options.batch}; latency: "
             + (f"median of {options.repeats} after {options.warmup} warm-up" if options.latency else "not measured")
             + (f"; classical codecs timed with {threads} torch thread{'s' if threads != 1 else ''}" if classical
                else "")]
    lines.append(f"MACs: FlopCounterMode, convention '{DEFAULT_CONVENTION}' ({CONVENTIONS[DEFAULT_CONVENTION]})")
    headers = ["model", "#param", "paper", "Δ", "KMACs/px", "paper", "Δ", "latency ms (enc / dec)", "paper"]
    rows = []
    for model in models_from_document(data):
        latency = "–"
        if model.latency_ms is not None:
            ranged = "latency_ms" in model.ranges
            latency = _cell(list(model.ranges["latency_ms"])) if ranged else f"{model.latency_ms:.2f}"
            if model.encode_ms is not None:
                latency += f" ({model.encode_ms:.2f} / {model.decode_ms:.2f})"
        measured_params = model.measured("params")
        rows.append([
            model.name,
            "–" if measured_params is None else _cell([int(b) for b in measured_params], signed=model.relative),
            str(model.paper.get("params", "")),
            _difference(model.relative_difference("params")),
            "–" if model.measured("kmacs_per_pixel") is None
            else _cell(list(model.measured("kmacs_per_pixel")), signed=model.relative),
            str(model.paper.get("kmacs_per_pixel", "")),
            _difference(model.relative_difference("kmacs_per_pixel")),
            latency,
            str(model.paper.get("latency_ms", "")),
        ])
    lines += [""] + _grid(headers, rows)
    for profile in document.profiles:
        lines += [""] + _profile_lines(profile)
    lines += [""] + [f"note: {note}" for note in data["notes"]]
    if "convention" in data:
        lines += [f"note: {data['convention']['sentence']}", f"note: {data['convention']['params_sentence']}"]
    return "\n".join(lines)


def _difference(values) -> str:
    if values is None or all(v is None for v in values):
        return ""
    texts = ["–" if v is None else f"{100 * v:+.2f}%" for v in values]
    return texts[0] if texts[0] == texts[1] else f"{texts[0]}~{texts[1]}"


def _profile_lines(profile: CodecProfile) -> list[str]:
    lines = [f"{profile.label} [{profile.kind}] — {profile.source}"]
    if profile.params is not None:
        p = profile.params
        text = f"  parameters: {p.total:,} (main path {p.main:,}"
        if p.encoder_side_paths:
            text += f"; encoder side paths {p.encoder_side_paths:,} + predictors {p.encoder_predictors:,}"
        for task in p.decoder_side_paths:
            text += (f"; decoder {task}: side paths {p.decoder_side_paths[task]:,} + predictors "
                     f"{p.decoder_predictors.get(task, 0):,}")
        lines.append(text + ")")
    for config in profile.configs:
        parts = [f"  {config.title}:"]
        if config.macs is not None:
            by = config.macs.by_convention()
            parts.append(f"KMACs/px {by[DEFAULT_CONVENTION]:.2f} (without attention {by['linear+conv']:.2f}, "
                         f"with norms+activations {by['linear+conv+attention+norm+act']:.2f}; encode "
                         f"{config.macs.stage_kmacs(ENCODER_STAGES):.2f}, decode "
                         f"{config.macs.stage_kmacs(DECODER_STAGES):.2f})")
        if config.latency is not None:
            lat = config.latency.as_dict()
            enc = ", ".join(f"{k} {v:.1f}" for k, v in lat["encode_parts"].items())
            dec = ", ".join(f"{k} {v:.1f}" for k, v in lat["decode_parts"].items())
            parts.append(f"encode {lat['encode']:.1f} ms" + (f" [{enc}]" if enc else "")
                         + f", decode {lat['decode']:.1f} ms" + (f" [{dec}]" if dec else ""))
        lines.append(" ".join(parts))
    if profile.configs and profile.configs[0].macs is not None:
        categories = profile.configs[0].macs.categories
        pixels = profile.configs[0].macs.pixels * 1e3
        lines.append("  MACs by part (" + profile.configs[0].title + "): " + ", ".join(
            f"{name} {value / pixels:.2f}" for name, value in sorted(categories.items(), key=lambda kv: -kv[1])
            if value / pixels >= 0.005))
    lines += [f"  note: {note}" for note in profile.notes]
    return lines
