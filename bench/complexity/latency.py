"""Latency: encode and decode separately, network vs entropy coding, warm-up, median of repeats, CUDA synchronised.

Every interval is ``time.perf_counter`` around work bracketed by ``torch.cuda.synchronize()`` (on CUDA devices).
After ``warmup`` untimed runs, ``repeats`` runs are timed and the median of each quantity is reported (the median
of the parts need not add up to the median of the total).

- **Batch 1** goes through the codec itself (:func:`bench.timing.timed_encode`, :func:`bench.timing.timed_decode`):
  the codec's own encode and decode of bytes (padding, container, cropping included; for classical codecs the
  conversion between float tensors and 8-bit arrays is outside the timed region and reported as ``conversion``),
  and the split is the one the codec records in
  ``Bitstream.timings`` (learned codecs: ``network`` = analysis transform, ``entropy`` = hyper-transforms, context
  model and rANS coding) and ``Decoded.timings`` (``entropy`` = entropy decoding with its networks, ``synthesis``).
  CompressAI zoo codecs record one ``total``; classical codecs none.
- **Batch B > 1** (learned codecs) runs the same model-level steps the codecs run, on a batch of B copies of the
  padded image: TinyLIC / MPA ``analyze`` -> ``code_latents`` and ``decode_latents`` -> ``synthesize``;
  CompressAI ``compress`` and ``decompress``. Times are reported per image (batch time / B) and per batch.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from bench.codecs.learned import pad_center
from bench.timing import NativeCodec, Stopwatch, synchronize, timed, timed_decode, timed_encode


@dataclass(frozen=True)
class Latency:
    """Median times of one (rate point, decoder variant) in seconds.

    Attributes:
        encode, decode: per image.
        encode_parts, decode_parts: per image, as the codec splits them (may be empty).
        batch: images per timed call; ``encode_batch``/``decode_batch`` are the per-call medians.
        warmup, repeats: untimed and timed runs.
        conversion: medians of the float <-> uint8 conversions outside the timed region (``encode``, ``decode``).
    """

    encode: float
    decode: float
    encode_parts: dict[str, float] = field(default_factory=dict)
    decode_parts: dict[str, float] = field(default_factory=dict)
    batch: int = 1
    warmup: int = 0
    repeats: int = 1
    conversion: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Milliseconds, in the complexity.json layout."""
        ms = 1e3
        return {
            "encode": self.encode * ms,
            "decode": self.decode * ms,
            "total": (self.encode + self.decode) * ms,
            "encode_parts": {k: v * ms for k, v in self.encode_parts.items()},
            "decode_parts": {k: v * ms for k, v in self.decode_parts.items()},
            "batch": self.batch,
            "encode_batch": self.encode * self.batch * ms,
            "decode_batch": self.decode * self.batch * ms,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "conversion": {k: v * ms for k, v in self.conversion.items()},
        }


class _Samples:
    """Collects timed samples of named quantities and returns their medians."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.values.setdefault(name, []).append(seconds)

    def add_parts(self, prefix: str, parts: dict[str, float]) -> None:
        for key, seconds in parts.items():
            self.add(f"{prefix}.{key}", seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def parts(self, prefix: str, scale: float = 1.0) -> dict[str, float]:
        start = prefix + "."
        return {name[len(start):]: statistics.median(v) * scale for name, v in self.values.items()
                if name.startswith(start)}


def _check_counts(warmup: int, repeats: int) -> None:
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")


def time_codec(codec, image: torch.Tensor, point: float, variants: Sequence[str], warmup: int = 1,
               repeats: int = 5) -> dict[str, Latency]:
    """Times ``codec.encode(image, point)`` and, per variant, a standalone decode of that bitstream.

    Args:
        codec: a :class:`bench.codecs.base.Codec` (its ``device`` attribute, if any, is synchronised).
        image: (1, 3, H, W) float32 in [0, 1].
        variants: decoder variants; each is timed as ``decode_variants(bitstream, [variant])``.

    Returns:
        ``{variant: Latency}`` (the encode figures are shared by every variant).
    """
    _check_counts(warmup, repeats)
    device = torch.device(getattr(codec, "device", "cpu"))
    samples = _Samples()
    for run in range(warmup + repeats):
        bitstream, seconds, convert = timed_encode(codec, image, point, device)
        for variant in variants:
            if isinstance(codec, NativeCodec):
                decoded = next(iter(timed_decode(codec, bitstream, [variant], device)))
                decode_seconds = decoded.seconds
            else:  # the whole standalone decode of one variant, CUDA synchronised
                decoded, decode_seconds = timed(device, lambda v=variant: next(iter(codec.decode_variants(bitstream,
                                                                                                          [v]))))
            if run >= warmup:
                timings = dict(decoded.timings)
                samples.add(f"decode:{variant}", decode_seconds)
                samples.add(f"convert:decode:{variant}", timings.pop("convert", 0.0))
                samples.add_parts(f"decode:{variant}", timings)
        if run >= warmup:
            samples.add("encode", seconds)
            samples.add("convert:encode", convert)
            samples.add_parts("encode", dict(bitstream.timings))
    return {
        variant: Latency(samples.median("encode"), samples.median(f"decode:{variant}"), samples.parts("encode"),
                         samples.parts(f"decode:{variant}"), 1, warmup, repeats,
                         {"encode": samples.median("convert:encode"),
                          "decode": samples.median(f"convert:decode:{variant}")})
        for variant in variants
    }


def time_transformer_model(model: nn.Module, image: torch.Tensor, batch: int, quality: float | None,
                           decoders: Sequence[tuple[str, float | None, int]], device: torch.device,
                           pad_multiple: int = 256, warmup: int = 1, repeats: int = 5) -> dict[str, Latency]:
    """Batched timing of TinyLIC / MPAEnc / MPA through the steps their codecs run.

    Args:
        model: the model, on ``device``.
        image: (1, 3, H, W); padded to ``pad_multiple`` and repeated ``batch`` times.
        quality: q (None for TinyLIC).
        decoders: ``(name, q_task, task_idx)`` per decoder variant (q_task None for MPAEnc and TinyLIC).
    """
    _check_counts(warmup, repeats)
    x = pad_center(image.to(device), pad_multiple)[0].expand(batch, -1, -1, -1).contiguous()
    samples = _Samples()
    with torch.inference_mode():
        for run in range(warmup + repeats):
            clock = Stopwatch(device)
            synchronize(device)
            start = time.perf_counter()
            y, z, _ = clock.run("network", model.analyze, x, quality)
            coded, _ = clock.run("entropy", model.code_latents, y, z, quality)
            encode_seconds = time.perf_counter() - start
            for name, q_task, task_idx in decoders:
                decode_clock = Stopwatch(device)
                synchronize(device)
                start = time.perf_counter()
                y_hat = decode_clock.run("entropy", model.decode_latents, coded["strings"], coded["shape"], quality)
                decode_clock.run("synthesis", model.synthesize, y_hat, quality, q_task, task_idx)
                if run >= warmup:
                    samples.add(f"decode:{name}", time.perf_counter() - start)
                    samples.add_parts(f"decode:{name}", decode_clock.times)
            if run >= warmup:
                samples.add("encode", encode_seconds)
                samples.add_parts("encode", clock.times)
    return _batched(samples, [name for name, _, _ in decoders], batch, warmup, repeats)


def time_compressai_model(model: nn.Module, image: torch.Tensor, batch: int, device: torch.device,
                          pad_multiple: int = 64, warmup: int = 1, repeats: int = 5) -> dict[str, Latency]:
    """Batched timing of a CompressAI zoo model: ``compress`` and ``decompress`` (one ``total`` part each)."""
    _check_counts(warmup, repeats)
    x = pad_center(image.to(device), pad_multiple)[0].expand(batch, -1, -1, -1).contiguous()
    samples = _Samples()
    with torch.inference_mode():
        for run in range(warmup + repeats):
            coded, encode_seconds = timed(device, model.compress, x)
            _, decode_seconds = timed(device, model.decompress, coded["strings"], coded["shape"])
            if run >= warmup:
                samples.add("encode", encode_seconds)
                samples.add("decode:default", decode_seconds)
    return _batched(samples, ["default"], batch, warmup, repeats)


def _batched(samples: _Samples, names: Sequence[str], batch: int, warmup: int, repeats: int) -> dict[str, Latency]:
    per_image = 1.0 / batch
    return {
        name: Latency(samples.median("encode") * per_image, samples.median(f"decode:{name}") * per_image,
                      samples.parts("encode", per_image), samples.parts(f"decode:{name}", per_image), batch, warmup,
                      repeats)
        for name in names
    }


def device_name(device: torch.device, threads: int | None = None) -> str:
    """``NVIDIA H100 80GB HBM3 (cuda:0)`` or the CPU model with the torch thread count (default: the current)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    from bench.engine.environment import describe_environment

    threads = torch.get_num_threads() if threads is None else threads
    return f"{describe_environment({})['machine']['cpu']} (cpu, {threads} torch thread{'s' if threads != 1 else ''})"
