"""What gets profiled: a registry codec -> the model to count (on ``meta``) and the codec to time.

Everything codec-specific comes from the codec class (:class:`bench.codecs.learned.LearnedCodec`): its network
(``build_model``), the forward pass to count (``counted_forward``), the rate points to profile
(``profile_points``), its padding and its kind; codecs without a network (classical and command-line ones) are
timed only. Without a checkpoint, parameters and MACs come from the official architecture (built on the ``meta``
device: no memory, no initialisation) and latency is measured with random weights (fine for time: the network cost
does not depend on weight values; the entropy-coding share does, through the symbol statistics). With a checkpoint,
the architecture is read from the file (N, M, depths, heads) and latency uses its weights. Quality is never
measured here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

ARCHITECTURE_SOURCE = "architecture (no checkpoint): parameters and MACs of the official architecture; latency " \
                      "with random weights"


@dataclass
class Subject:
    """One codec to profile.

    Attributes:
        codec: registry name; ``label``: the name shown (a suite label).
        kind: ``transformer`` (MPA, MPAEnc, TinyLIC), ``compressai`` or ``classical`` (no network: time only).
        source: where parameters/MACs/weights come from (architecture or checkpoint path).
        meta_model: the model on ``meta`` for parameters and MACs (None for classical codecs).
        forward: ``forward(model, x, quality, q_task, task_idx)`` to count.
        codec: the bench codec to time (None when latency is not measured).
        model: the real model behind ``codec`` (batched timing).
        points: the rate points timed (the codec's own units: MPA q, TinyLIC file index, zoo quality, JPEG
            quality ...); ``qualities`` the model qualities counted (None where the model has none).
        pad_multiple: what the codec pads inputs to (MACs are counted at the padded size).
    """

    codec_name: str
    label: str
    kind: str
    source: str
    meta_model: nn.Module | None = None
    forward: Callable | None = None
    codec: Any = None
    model: nn.Module | None = None
    points: tuple[float, ...] = (1.0,)
    qualities: tuple[float | None, ...] = (None,)
    pad_multiple: int = 1
    notes: list[str] = field(default_factory=list)


def learned_class(codec_name: str):
    """The codec class of a learned codec, or None for a codec without a network."""
    from bench.codecs import codecs
    from bench.codecs.learned import LearnedCodec

    factory = codecs.get(codec_name)
    return factory if issubclass(factory, LearnedCodec) else None


def kind_of(codec_name: str) -> str:
    factory = learned_class(codec_name)
    return factory.profile_kind if factory is not None else "classical"


def meta_model(codec_name: str, quality: float | None = None, state_dict: dict | None = None) -> nn.Module:
    """A learned codec's network on ``meta``: the official architecture, or the one a state dict was saved from."""
    factory = learned_class(codec_name)
    if factory is None:
        raise ValueError(f"{codec_name} has no network to count")
    return factory.build_model(quality, state_dict, device="meta").eval().requires_grad_(False)


def meta_transformer(codec_name: str, state_dict: dict | None = None) -> nn.Module:
    """:func:`meta_model` of MPA, MPAEnc or TinyLIC (the models of Table 4)."""
    return meta_model(codec_name, None, state_dict)


def build_subject(codec_name: str, label: str | None = None, options: dict | None = None, *,
                  checkpoint: str | None = None, device: str = "cpu", attention: str = "auto",
                  qualities: tuple[float, ...] = (8.0,), alphas: tuple[float, ...] = (0.0,),
                  tasks: tuple[str, ...] = ("mse",), timed: bool = True, seed: int = 0) -> Subject:
    """Builds what profiling ``codec_name`` needs.

    Args:
        options: the codec's keyword options (from a suite); ``checkpoint`` overrides theirs.
        qualities: the model qualities to count (MPA, MPAEnc); the first picks the zoo quality.
        alphas, tasks: MPA decoder configurations (the profile's variants, not codec options).
        timed: build the codec (and load weights) for latency; False builds the meta model only.
    """
    from bench.codecs import codecs

    options = dict(options or {})
    checkpoint = checkpoint or options.pop("checkpoint", None)
    options.pop("checkpoint", None)
    label = label or codec_name
    factory = learned_class(codec_name)
    if factory is None:
        codec = codecs.get(codec_name)(**options)
        points = list(codec.rate_points())
        return Subject(codec_name, label, "classical", "classical codec: time only (no parameters or MACs)",
                       codec=codec, points=(float(points[len(points) // 2]),))
    options = _with_attention(factory, options, attention)
    codec = model = None
    if checkpoint:
        codec = factory(checkpoint=checkpoint, device=device, **options)
        points, counted, note = factory.profile_points(qualities, codec.rate_points())
        model = codec.model(points[-1])
        meta = meta_model(codec_name, counted[-1], model.state_dict())
        source = f"checkpoint {checkpoint}"
    else:
        points, counted, note = factory.profile_points(qualities, None)
        meta = meta_model(codec_name, counted[-1])
        source = ARCHITECTURE_SOURCE
        if timed:
            torch.manual_seed(seed)
            key = None if factory.one_model_for_all_points else points[-1]
            codec = factory.from_models({key: factory.build_model(counted[-1])}, f"random weights (seed {seed})",
                                        device=device, **options)
            model = codec.model(points[-1])
    return Subject(codec_name, label, factory.profile_kind, source, meta, factory.counted_forward, codec,
                   model if timed else None, tuple(points), tuple(counted), factory.pad_multiple,
                   [note] if note else [])


def _with_attention(factory: Any, options: dict, attention: str) -> dict:
    """The profile's attention path for codecs that take one (a suite's own option wins)."""
    if "attention" in inspect.signature(factory).parameters and "attention" not in options:
        return {**options, "attention": attention}
    return options
