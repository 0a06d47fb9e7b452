"""Table 4 of the MPA paper (poster): TinyLIC, + MLPs, + Predictors, + S & A, MPA, measured at 256 x 256.

The MPA sweep counts every (q, alpha, task) of the grid q = 1..8, alpha = k/7 (official q_task = 1..8), task in
mse/cls/seg. Token routing only changes the MLPs of g_a1/g_a3/g_a5 (encoder: depends on q) and of g_s2/g_s4/g_s6
(decoder: depends on q_task and the task), so the sweep counts one full forward plus the analysis transform per q
and the synthesis transform per (q_task, task), and combines them: ``forward(q, a, t) = forward(8, 0, mse) -
g_a(8) + g_a(q) - g_s(0, mse) + g_s(a, t)``, every term counted by FlopCounterMode (``tests/test_complexity.py``
checks the combination against full forwards).

The rows and the sentences are computed from the measured counts; only the paper's numbers are typed in (they are
the poster's, in :data:`bench.complexity.schema.POSTER_TABLE4`). The rows are the poster's: TinyLIC, the three "+" rows
(changes) and MPA; the sentences say how the poster's TinyLIC and MPA parameter counts map onto the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence
from unittest import mock

import torch
import torch.nn as nn

from bench.complexity.macs import CONVENTIONS, DEFAULT_CONVENTION, LINEAR_CONV, WITH_NORM_ACT, MacCount, count_macs
from bench.complexity.params import ParameterCount, count_parameters
from bench.complexity.schema import LEARNED, POSTER_TABLE4, parse_published

TABLE4_SIZE = (256, 256)
SWEEP_QUALITIES = tuple(float(q) for q in range(1, 9))
SWEEP_ALPHAS = tuple(k / 7 for k in range(8))  # official q_task = 1 + 7 alpha = 1, 2, ..., 8
TASKS = ("mse", "cls", "seg")


@dataclass(frozen=True)
class SweepPoint:
    quality: float
    alpha: float
    task: str
    macs: MacCount

    @property
    def q_task(self) -> float:
        return 1.0 + 7.0 * self.alpha

    def as_dict(self) -> dict[str, Any]:
        return {"quality": self.quality, "alpha": self.alpha, "q_task": self.q_task, "task": self.task,
                "kmacs_per_pixel": self.macs.kmacs_per_pixel(),
                "kmacs_by_convention": self.macs.by_convention()}


def mpa_sweep(model: nn.Module, height: int = TABLE4_SIZE[0], width: int = TABLE4_SIZE[1],
              qualities: Sequence[float] = SWEEP_QUALITIES, alphas: Sequence[float] = SWEEP_ALPHAS,
              tasks: Sequence[str] = TASKS) -> list[SweepPoint]:
    """MACs of MPA over q x alpha x task (see the module docstring for how the terms combine).

    Args:
        model: an MPA on ``meta`` (:func:`bench.complexity.subjects.meta_transformer`).
    """
    reference_q, reference_task = 8.0, 0
    latent = (1, model.M, height // 16, width // 16)
    base = count_macs(model, lambda m, x: m(x, quality=reference_q, q_task=1.0, task_idx=reference_task),
                      height, width)

    def analysis(quality: float) -> MacCount:
        return count_part(model, lambda x: model.g_a(x, quality), height, width)

    def synthesis(alpha: float, task_idx: int) -> MacCount:
        def run(x):
            return model.g_s(torch.zeros(latent, device=x.device), reference_q, 1.0 + 7.0 * alpha, task_idx)
        return count_part(model, run, height, width)

    encoders = {q: analysis(q) for q in qualities}
    reference_encoder = encoders.get(reference_q) or analysis(reference_q)
    decoders: dict[tuple[float, int], MacCount] = {}
    for alpha in alphas:
        for task_idx, _ in enumerate(tasks):
            # alpha 0 routes every token to the main path: the task does not matter, count it once
            key = (alpha, task_idx if alpha > 0 else 0)
            if key not in decoders:
                decoders[key] = synthesis(alpha, key[1])
    reference_decoder = decoders.get((0.0, 0)) or synthesis(0.0, 0)
    common = base.minus(reference_encoder).minus(reference_decoder)
    points = []
    for q in qualities:
        for alpha in alphas:
            for task_idx, task in enumerate(tasks):
                decoder = decoders[(alpha, task_idx if alpha > 0 else 0)]
                points.append(SweepPoint(q, alpha, task, common.plus(encoders[q]).plus(decoder)))
    return points


def count_part(model: nn.Module, function, height: int, width: int) -> MacCount:
    """Counts ``function(x)``, a part of ``model`` (e.g. its analysis transform), as if it were the model's forward:
    the call goes through ``model(x)`` so that FlopCounterMode names the modules by their path in the model."""
    with mock.patch.object(model, "forward", function):
        return count_macs(model, lambda m, x: m(x), height, width)


def _point(points: Sequence[SweepPoint], quality: float, alpha: float, task: str = "mse") -> SweepPoint:
    return next(p for p in points if p.quality == quality and abs(p.alpha - alpha) < 1e-12 and p.task == task)


def _span(values: Sequence[float]) -> list[float]:
    return [min(values), max(values)]


@dataclass
class Table4:
    """Measured Table 4 rows (complexity.json ``models`` entries), the sweep and the sentences.

    Attributes:
        related: measurements the sentences rely on that are no row of the poster's table (MPA's main path, MPA with
            every path); complexity.json keeps them under ``table4_related``.
    """

    rows: list[dict[str, Any]]
    sweep: list[SweepPoint]
    sentence: str
    params_sentence: str
    best_convention: str
    conventions: dict[str, dict[str, Any]]
    related: list[dict[str, Any]] = field(default_factory=list)


def build_table4(mpa: nn.Module, tinylic: nn.Module, sweep: Sequence[SweepPoint] | None = None,
                 latency: dict[str, Any] | None = None, mric: dict[str, Any] | None = None) -> Table4:
    """Table 4 from the MPA and TinyLIC architectures (on ``meta``) at 256 x 256.

    Args:
        latency: optional measured ``latency_ms`` entries (complexity.json layout) for ``"MRIC"``, ``"TinyLIC"``
            and ``"MPA"`` (a dict, or for MPA a list of dicts: the row then shows the range).
        mric: the MRIC-style model's breakdown (:func:`bench.codecs.mric.table4_breakdown`): the poster's first row.
    """
    latency = latency or {}
    height, width = TABLE4_SIZE
    sweep = list(sweep) if sweep is not None else mpa_sweep(mpa, height, width)
    mpa_params, tiny_params = count_parameters(mpa), count_parameters(tinylic)
    tiny = count_macs(tinylic, lambda m, x: m(x), height, width)

    all_main = _point(sweep, 8.0, 0.0)  # every token on the main path in encoder and decoder
    encoder_fast = _point(sweep, 1.0, 0.0)  # every encoder token on the FastMlp side path
    decoder_paths = {task: _point(sweep, 8.0, 1.0, task) for task in TASKS}  # every decoder token on the task path
    mlp_deltas = {"encoder": encoder_fast.macs.kmacs_per_pixel() - all_main.macs.kmacs_per_pixel()}
    mlp_deltas.update({f"decoder {t}": p.macs.kmacs_per_pixel() - all_main.macs.kmacs_per_pixel()
                       for t, p in decoder_paths.items()})
    predictor_sets = {"encoder": all_main.macs.categories.get("analysis: predictors", 0),
                      "decoder": all_main.macs.categories.get("synthesis: predictors", 0)}
    predictor_kmacs = predictor_sets["encoder"] / (height * width) / 1e3
    main_path_kmacs = (all_main.macs.macs() - sum(predictor_sets.values())) / (height * width) / 1e3

    side_sets = [mpa_params.encoder_side_paths, *mpa_params.decoder_side_paths.values()]
    one_path = [mpa_params.main + mpa_params.encoder_side_paths + mpa_params.encoder_predictors]
    one_path += [mpa_params.main + mpa_params.task_addon(task) for task in mpa_params.decoder_side_paths]
    paper_range_q = [p.macs.kmacs_per_pixel() for p in sweep if p.alpha == 0.0 and p.task == "mse"]
    full_range = [p.macs.kmacs_per_pixel() for p in sweep]

    def by_convention(counts: Sequence[MacCount]) -> dict[str, Any]:
        values = {name: _span([c.kmacs_per_pixel(name) for c in counts]) for name in CONVENTIONS}
        return {name: (v[0] if v[0] == v[1] else v) for name, v in values.items()}

    q_counts = [p.macs for p in sweep if p.alpha == 0.0 and p.task == "mse"]
    rows: list[dict[str, Any]] = [
        {"name": "TinyLIC", "codec": "tinylic", "params": tiny_params.total, "kmacs_per_pixel": tiny.kmacs_per_pixel(),
         "latency_ms": latency.get("TinyLIC"), "kmacs_by_convention": tiny.by_convention(),
         "note": "official fixed-rate TinyLIC architecture (no gains, no layer scales)"},
        {"name": "+ MLPs", "codec": "mpa", "relative": True, "params": min(side_sets),
         "kmacs_per_pixel": min(mlp_deltas.values()), "latency_ms": None,
         "range": {"params": _span(side_sets), "kmacs_per_pixel": _span(list(mlp_deltas.values()))},
         "components": {"params": {"encoder FastMlp": mpa_params.encoder_side_paths,
                                   **{f"decoder {t}": n for t, n in mpa_params.decoder_side_paths.items()}},
                        "kmacs_per_pixel": mlp_deltas},
         "note": "one set of side-path MLPs (g_a1/3/5 or g_s2/4/6); KMACs: every token of that set on the side "
                 "path instead of the main MLP"},
        {"name": "+ Predictors", "codec": "mpa", "relative": True, "params": mpa_params.encoder_predictors,
         "kmacs_per_pixel": predictor_kmacs, "latency_ms": None,
         "components": {"kmacs_per_pixel": {k: v / (height * width) / 1e3 for k, v in predictor_sets.items()}},
         "note": "one predictor set (3 layers); an MPA forward runs two (encoder and decoder)"},
        {"name": "+ S & A", "codec": "mpa", "relative": True, "params": 0, "kmacs_per_pixel": 0.0, "latency_ms": None,
         "note": "split and aggregation (argsort, gather, scatter): no parameters and no multiply-accumulates"},
        {"name": "MPA", "codec": "mpa", "params": min(one_path), "kmacs_per_pixel": min(paper_range_q),
         "latency_ms": _first(latency.get("MPA")),
         "range": {"params": _span(one_path), "kmacs_per_pixel": _span(paper_range_q),
                   **_latency_range(latency.get("MPA"))},
         "kmacs_by_convention": by_convention(q_counts),
         "note": "#Param.: main path + one side-path set with its predictors; KMACs: q = 1..8 at alpha 0 "
                 "(decoder main path, the official forward's default q_task = 1)"},
    ]
    if mric is not None:
        rows.insert(0, {"name": "MRIC", "codec": "mric", "params": mric["params"],
                        "kmacs_per_pixel": mric["kmacs_per_pixel"], "latency_ms": latency.get("MRIC"),
                        "kmacs_by_convention": mric["kmacs_by_convention"], "modules": mric["modules"],
                        "note": f"MRIC-style re-implementation; counted: {mric['counted']}"})
    for row in rows:
        row.update(kind=LEARNED, table4=True)
    related = [
        {"name": "TinyLIC (MPA main path)", "params": mpa_params.main, "kmacs_per_pixel": main_path_kmacs,
         "note": "MPA without side paths and predictors: TinyLIC plus the variable-rate gains and layer scales; the "
                 "poster's TinyLIC #Param. is this count"},
        {"name": "MPA (all paths)", "params": mpa_params.total, "kmacs_per_pixel": _span(full_range),
         "kmacs_by_convention": by_convention([p.macs for p in sweep]),
         "note": "every side path and predictor of the released model; KMACs over q = 1..8, alpha = 0..1, "
                 "every task"},
    ]
    conventions = _compare_conventions(tiny, q_counts, parse_published)
    best = min(conventions, key=lambda name: conventions[name]["mean_abs_relative_difference"])
    sentence = _convention_sentence(conventions, best)
    params_sentence = _params_sentence(mpa_params, tiny_params, one_path, parse_published)
    if mric is not None:
        params_sentence += " " + mric["sentence"]
    return Table4(rows, sweep, sentence, params_sentence, best, conventions, related)


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _latency_range(value: Any) -> dict[str, list[float]]:
    if not isinstance(value, list) or len(value) < 2:
        return {}
    totals = [entry["total"] for entry in value]
    return {"latency_ms": _span(totals)}


def _relative(measured: float, paper: float) -> float:
    return (measured - paper) / abs(paper)


def _compare_conventions(tiny: MacCount, q_counts: Sequence[MacCount], parse_published) -> dict[str, dict]:
    paper_tiny = parse_published(POSTER_TABLE4["TinyLIC"]["kmacs_per_pixel"])[0]
    paper_low, paper_high = parse_published(POSTER_TABLE4["MPA"]["kmacs_per_pixel"])
    out = {}
    for name in CONVENTIONS:
        low, high = _span([c.kmacs_per_pixel(name) for c in q_counts])
        differences = [_relative(tiny.kmacs_per_pixel(name), paper_tiny), _relative(low, paper_low),
                       _relative(high, paper_high)]
        out[name] = {"tinylic": tiny.kmacs_per_pixel(name), "mpa": [low, high],
                     "relative_difference": {"tinylic": differences[0], "mpa": differences[1:]},
                     "mean_abs_relative_difference": sum(abs(d) for d in differences) / 3}
    return out


def _percent(value: float) -> str:
    return f"{value * 100:+.2f}%".replace("-", "\u2212")


def _convention_sentence(conventions: dict[str, dict], best: str) -> str:
    described = {LINEAR_CONV: "convolutions and matrix products only (no attention, norms or activations)",
                 DEFAULT_CONVENTION: "convolutions, matrix products and neighborhood attention (QK and AV), without "
                                     "norms and activations",
                 WITH_NORM_ACT: "convolutions, matrix products and neighborhood attention (QK and AV) plus one "
                                "operation per element of norms, activations and the attention softmax"}
    c = conventions[best]
    d = c["relative_difference"]
    text = (f"Counting {described[best]} reproduces the poster's 'KFLOPs per pixel' (which are multiply-accumulates) "
            f"most closely: TinyLIC {c['tinylic']:.2f} vs {POSTER_TABLE4['TinyLIC']['kmacs_per_pixel']} "
            f"({_percent(d['tinylic'])}), MPA {c['mpa'][0]:.2f}~{c['mpa'][1]:.2f} vs "
            f"{POSTER_TABLE4['MPA']['kmacs_per_pixel']} ({_percent(d['mpa'][0])}~{_percent(d['mpa'][1])}).")
    others = []
    for name, values in conventions.items():
        if name == best:
            continue
        tinylic = f"{values['tinylic']:.2f} ({_percent(values['relative_difference']['tinylic'])})"
        others.append(f"{name}: TinyLIC {tinylic}, MPA {values['mpa'][0]:.2f}~{values['mpa'][1]:.2f}, mean "
                      f"|difference| {values['mean_abs_relative_difference'] * 100:.2f}%")
    return text + " Other conventions: " + "; ".join(others) + "."


def _params_sentence(mpa: ParameterCount, tiny: ParameterCount, one_path: Sequence[int], parse_published) -> str:
    paper_tiny = parse_published(POSTER_TABLE4["TinyLIC"]["params"])[0]
    paper_low, paper_high = parse_published(POSTER_TABLE4["MPA"]["params"])
    low, high = min(one_path), max(one_path)
    return (f"#Param.: the poster's TinyLIC {paper_tiny / 1e6:.2f}M is MPA's main path, TinyLIC with the "
            f"variable-rate gains and layer scales ({mpa.main:,}, {_percent(_relative(mpa.main, paper_tiny))}); the "
            f"fixed-rate TinyLIC has {tiny.total:,} ({_percent(_relative(tiny.total, paper_tiny))}). MPA "
            f"{paper_low / 1e6:.2f}M~{paper_high / 1e6:.2f}M is the main path plus one side-path set with its "
            f"predictors: {low:,}~{high:,} ({_percent(_relative(low, paper_low))}~"
            f"{_percent(_relative(high, paper_high))}); the released model with every path has {mpa.total:,}.")
