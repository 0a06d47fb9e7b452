"""What gets profiled: a registry codec -> the model to count (on ``meta``) and the codec to time.

Without a checkpoint, parameters and MACs come from the official architecture (built on the ``meta`` device:
no memory, no initialisation) and latency is measured with random weights (fine for time: the network cost does not
depend on weight values; the entropy-coding share does, through the symbol statistics). With a checkpoint, the
architecture is read from the file (N, M, depths, heads) and latency uses its weights. Quality is never measured
here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from bench.errors import BenchError

TRANSFORMER_CODECS = ("mpa", "mpa-enc", "tinylic")
ARCHITECTURE_SOURCE = "architecture (no checkpoint): parameters and MACs of the official architecture; latency " \
                      "with random weights"


@dataclass
class Subject:
    """One codec to profile.

    Attributes:
        codec: registry name; ``label``: the name shown (a suite label).
        kind: ``transformer`` (MPA, MPAEnc, TinyLIC), ``compressai`` or ``classical``.
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


def kind_of(codec_name: str) -> str:
    from bench.codecs import codecs
    from bench.codecs.classical import PillowCodec
    from bench.codecs.compressai_zoo import CompressAIZooCodec

    if codec_name in TRANSFORMER_CODECS:
        return "transformer"
    factory = codecs.get(codec_name)
    if isinstance(factory, type) and issubclass(factory, CompressAIZooCodec):
        return "compressai"
    if isinstance(factory, type) and issubclass(factory, PillowCodec):
        return "classical"
    raise BenchError(f"cannot profile codec {codec_name!r}: not a learned or classical codec of the registry")


def transformer_class(codec_name: str):
    from bench.codecs.mpa import MPA, MPAEnc
    from bench.codecs.tinylic import TinyLIC

    return {"mpa": MPA, "mpa-enc": MPAEnc, "tinylic": TinyLIC}[codec_name]


def meta_transformer(codec_name: str, state_dict: dict | None = None) -> nn.Module:
    """The official architecture on ``meta`` (or the one a state dict was saved from)."""
    from bench.codecs.transformer_lic import architecture_arguments

    arguments = architecture_arguments(state_dict) if state_dict is not None else {}
    with torch.device("meta"):
        model = transformer_class(codec_name)(**arguments)
    return model.to("meta").eval().requires_grad_(False)


def transformer_forward(codec_name: str) -> Callable:
    """How to run one counted forward of each transformer model."""
    if codec_name == "mpa":
        return lambda model, x, quality, q_task, task_idx: model(x, quality=quality, q_task=q_task, task_idx=task_idx)
    if codec_name == "mpa-enc":
        return lambda model, x, quality, q_task, task_idx: model(x, quality=quality)
    return lambda model, x, quality, q_task, task_idx: model(x)


def _compressai_forward(model, x, quality, q_task, task_idx):
    return model(x)


def build_subject(codec_name: str, label: str | None = None, options: dict | None = None, *,
                  checkpoint: str | None = None, device: str = "cpu", attention: str = "auto",
                  qualities: tuple[float, ...] = (8.0,), alphas: tuple[float, ...] = (0.0,),
                  tasks: tuple[str, ...] = ("mse",), timed: bool = True, seed: int = 0) -> Subject:
    """Builds what profiling ``codec_name`` needs.

    Args:
        options: the codec's keyword options (from a suite); ``checkpoint`` overrides theirs.
        qualities, alphas, tasks: MPA configurations (qualities also pick the zoo quality).
        timed: build the codec (and load weights) for latency; False builds the meta model only.
    """
    options = dict(options or {})
    checkpoint = checkpoint or options.pop("checkpoint", None)
    options.pop("checkpoint", None)
    from bench.codecs import codecs

    factory = codecs.get(codec_name)
    if hasattr(factory, "complexity_subject"):  # codecs that describe their own profiling subject (elic, mric)
        return factory.complexity_subject(label or codec_name, options, checkpoint=checkpoint, device=device,
                                          timed=timed, seed=seed)
    kind = kind_of(codec_name)
    label = label or codec_name
    if kind == "classical":
        return _classical(codec_name, label, options)
    if kind == "compressai":
        return _compressai(codec_name, label, options, checkpoint, device, qualities, timed, seed)
    return _transformer(codec_name, label, checkpoint, device, attention, qualities, alphas, tasks, timed, seed)


def _classical(codec_name: str, label: str, options: dict) -> Subject:
    from bench.codecs import codecs

    codec = codecs.get(codec_name)(**options)
    points = list(codec.rate_points())
    point = float(points[len(points) // 2])
    return Subject(codec_name, label, "classical", "classical codec: time only (no parameters or MACs)",
                   codec=codec, points=(point,))


def _compressai(codec_name, label, options, checkpoint, device, qualities, timed, seed) -> Subject:
    from compressai.zoo import image_models

    from bench.codecs import codecs
    from bench.complexity.macs import to_meta

    factory = codecs.get(codec_name)
    architecture, metric = factory.architecture, options.get("metric", "mse")
    if checkpoint:
        codec = factory(checkpoint=checkpoint, device=device, **options)
        available = [int(p) for p in codec.rate_points()]
        quality = min(available, key=lambda q: (abs(q - qualities[0]), -q))
        model = codec.model(quality)
        source = f"checkpoint {checkpoint}"
    else:
        from compressai.zoo.image import cfgs

        valid = sorted(cfgs[architecture])
        quality = int(min(max(round(qualities[0]), valid[0]), valid[-1]))
        torch.manual_seed(seed)
        model = image_models[architecture](quality=quality, metric=metric).eval()
        codec = None
        if timed:
            model.update(force=True)
            codec = factory.from_models({quality: model}, device=device, metric=metric)
            model = codec.model(quality)
        source = ARCHITECTURE_SOURCE
    subject = Subject(codec_name, label, "compressai", source, to_meta(model), _compressai_forward, codec,
                      model if timed else None, (float(quality),), (float(quality),), factory.pad_multiple)
    if not checkpoint and round(qualities[0]) != quality:
        subject.notes.append(f"{codec_name} has qualities {valid[0]}..{valid[-1]}: profiled at {quality}")
    return subject


def _transformer(codec_name, label, checkpoint, device, attention, qualities, alphas, tasks, timed, seed) -> Subject:
    from bench.codecs.mpa import MPACodec, MPAEncCodec
    from bench.codecs.tinylic import TinyLICCodec

    cls = transformer_class(codec_name)
    codec = model = None
    if checkpoint:
        if codec_name == "mpa":
            codec = MPACodec(checkpoint, alphas=alphas, tasks=tasks, qualities=qualities, device=device,
                             attention=attention)
        elif codec_name == "mpa-enc":
            codec = MPAEncCodec(checkpoint, qualities=qualities, device=device, attention=attention)
        else:
            codec = TinyLICCodec(checkpoint, device=device, attention=attention)
        model = codec.model if codec_name != "tinylic" else codec.model(codec.rate_points()[-1])
        meta = meta_transformer(codec_name, model.state_dict())
        source = f"checkpoint {checkpoint}"
    else:
        meta = meta_transformer(codec_name)
        source = ARCHITECTURE_SOURCE
        if timed:
            torch.manual_seed(seed)
            model = cls().eval()
            model.update(force=True)
            model.set_attention(attention)
            if codec_name == "mpa":
                codec = MPACodec.from_model(model, qualities=qualities, device=device, alphas=alphas, tasks=tasks,
                                            attention=attention)
            elif codec_name == "mpa-enc":
                codec = MPAEncCodec.from_model(model, qualities=qualities, device=device, attention=attention)
            else:
                codec = random_tinylic_codec(model, device, attention)
                model = codec.model(1.0)
    if codec_name == "tinylic":  # one model per rate: the architecture is the same, time the highest rate
        points, counted = ((float(codec.rate_points()[-1]),) if codec else (1.0,)), (None,)
    else:
        points = counted = tuple(float(q) for q in qualities)
    return Subject(codec_name, label, "transformer", source, meta, transformer_forward(codec_name), codec,
                   model, points, counted, TinyLICCodec.pad_multiple)


def random_tinylic_codec(model: nn.Module, device: str, attention: str):
    """A TinyLIC codec around an in-memory model, through the codec's public constructor: the state dict goes
    through a temporary checkpoint file (TinyLICCodec has no ``from_model``), which is loaded and removed."""
    from bench.codecs.tinylic import TinyLICCodec

    with tempfile.TemporaryDirectory(prefix="mpa-bench-profile-") as folder:
        path = Path(folder) / "tinylic-random.pth.tar"
        torch.save({"state_dict": model.state_dict()}, path)
        codec = TinyLICCodec(str(path), device=device, attention=attention)
        codec.model(1.0)  # load now, while the file exists
    return codec
