"""Profiling one codec: parameters, MACs per configuration, latency per configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.complexity.latency import Latency, time_codec, time_compressai_model, time_transformer_model
from bench.complexity.macs import MacCount, count_macs
from bench.complexity.params import ParameterCount, count_parameters
from bench.complexity.subjects import Subject
from bench.schema import DEFAULT_VARIANT
from bench.timing import torch_threads

CLASSICAL_THREADS = 1  # classical codecs are timed one thread per process by default


@dataclass(frozen=True)
class ProfileOptions:
    """How to profile (the CLI's options, resolved).

    Attributes:
        height, width: image size for MACs (padded as the codec pads) and latency.
        qualities, alphas, tasks: MPA configurations (qualities also for MPAEnc; the first picks the zoo quality).
        batch: images per timed call (learned codecs; classical codecs code one image at a time).
        warmup, repeats: untimed runs, then timed runs whose median is reported.
        latency: False measures parameters and MACs only.
        image: latency input (default: an embedded sample photograph, centre-cropped or tiled to the size).
        threads: torch CPU threads while timing (None: one for classical codecs, as ``compressai.utils.bench``
            runs them, and torch's default for learned codecs).
    """

    height: int = 256
    width: int = 256
    device: str = "cpu"
    qualities: tuple[float, ...] = (8.0,)
    alphas: tuple[float, ...] = (0.0,)
    tasks: tuple[str, ...] = ("mse",)
    batch: int = 1
    warmup: int = 1
    repeats: int = 5
    latency: bool = True
    attention: str = "auto"
    image: Path | None = None
    threads: int | None = None

    def threads_for(self, kind: str) -> int | None:
        """Torch threads to time a codec of this kind with (None: leave torch's setting)."""
        if self.threads is not None:
            return self.threads
        return CLASSICAL_THREADS if kind == "classical" else None


@dataclass
class ConfigResult:
    """One (rate point, decoder variant) of a codec."""

    point: float
    variant: str = DEFAULT_VARIANT
    quality: float | None = None
    alpha: float | None = None
    q_task: float | None = None
    task: str | None = None
    macs: MacCount | None = None
    latency: Latency | None = None
    threads: int | None = None

    @property
    def title(self) -> str:
        if self.alpha is not None:
            return f"q={self.quality:g}, alpha={self.alpha:g}, {self.task}"
        if self.quality is not None:
            return f"q={self.quality:g}"
        return f"point {self.point:g}"


@dataclass
class CodecProfile:
    """Everything measured for one codec."""

    codec: str
    label: str
    kind: str
    source: str
    params: ParameterCount | None
    macs_size: tuple[int, int] | None
    configs: list[ConfigResult]
    notes: list[str] = field(default_factory=list)


def padded(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def latency_image(height: int, width: int, path: Path | None = None) -> torch.Tensor:
    """A natural image of exactly ``height`` x ``width`` for timing: ``path`` or the largest embedded sample
    photograph, centre-cropped, or tiled (wrapped) where it is smaller. (1, 3, H, W) float32 in [0, 1]."""
    from bench.data.imagefile import load_rgb8
    from bench.tensors import uint8_to_tensor

    if path is None:
        from bench.data.images import SampleDataset

        samples = SampleDataset().samples()
        images = [sample.loader() for sample in samples]
        rgb = max(images, key=lambda image: image.shape[0] * image.shape[1])
    else:
        rgb = load_rgb8(Path(path))
    pad_h, pad_w = max(0, height - rgb.shape[0]), max(0, width - rgb.shape[1])
    if pad_h or pad_w:
        rgb = np.pad(rgb, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)), mode="wrap")
    top, left = (rgb.shape[0] - height) // 2, (rgb.shape[1] - width) // 2
    return uint8_to_tensor(np.ascontiguousarray(rgb[top : top + height, left : left + width]))


def configurations(subject: Subject, options: ProfileOptions) -> list[ConfigResult]:
    """The (point, variant) pairs to profile: MPA q x task x alpha; MPAEnc q; the others their one point."""
    if subject.codec_name != "mpa":
        return [ConfigResult(point, quality=quality) for point, quality in zip(subject.points, subject.qualities)]
    from bench.codecs.mpa import TASKS, alpha_to_q_task, format_variant

    return [
        ConfigResult(q, format_variant(alpha, task), q, alpha, alpha_to_q_task(alpha), task)
        for q in subject.points for task in options.tasks for alpha in options.alphas
        if task in TASKS
    ]


def profile_codec(subject: Subject, options: ProfileOptions, image: torch.Tensor | None = None) -> CodecProfile:
    """Parameters, MACs of each configuration and (with ``options.latency``) its latency."""
    configs = configurations(subject, options)
    params = macs_size = None
    if subject.meta_model is not None:
        params = count_parameters(subject.meta_model)
        macs_size = (padded(options.height, subject.pad_multiple), padded(options.width, subject.pad_multiple))
        for config in configs:
            config.macs = _count(subject, config, *macs_size)
    if options.latency:
        if image is None:
            image = latency_image(options.height, options.width, options.image)
        _time(subject, configs, options, image)
    return CodecProfile(subject.codec_name, subject.label, subject.kind, subject.source, params, macs_size, configs,
                        list(subject.notes))


def _count(subject: Subject, config: ConfigResult, height: int, width: int) -> MacCount:
    from bench.codecs.mpa import TASKS

    task_idx = TASKS.index(config.task) if config.task else 0
    return count_macs(subject.meta_model,
                      lambda model, x: subject.forward(model, x, config.quality, config.q_task or 1.0, task_idx),
                      height, width)


def _time(subject: Subject, configs: list[ConfigResult], options: ProfileOptions, image: torch.Tensor) -> None:
    if subject.codec is None:
        raise ValueError(f"{subject.label}: built without a codec; cannot time it")
    batched = options.batch > 1 and subject.kind != "classical"
    with torch_threads(options.threads_for(subject.kind)):
        threads = torch.get_num_threads()
        for point in dict.fromkeys(config.point for config in configs):
            group = [config for config in configs if config.point == point]
            if not batched:
                timings = time_codec(subject.codec, image, point, [c.variant for c in group], options.warmup,
                                     options.repeats)
            elif subject.kind == "compressai":
                timings = time_compressai_model(subject.model, image, options.batch, subject.codec.device,
                                                subject.pad_multiple, options.warmup, options.repeats)
            else:
                from bench.codecs.mpa import TASKS

                decoders = [(c.variant, c.q_task, TASKS.index(c.task) if c.task else 0) for c in group]
                timings = time_transformer_model(subject.model, image, options.batch, group[0].quality, decoders,
                                                 subject.codec.device, subject.pad_multiple, options.warmup,
                                                 options.repeats)
            for config in group:
                config.latency = timings[config.variant]
                config.threads = threads
