"""Wall-clock timing of work that may run on a GPU: ``time.perf_counter`` around CUDA-synchronised calls."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

import torch

T = TypeVar("T")


def synchronize(device: str | torch.device) -> None:
    """Waits for queued CUDA work on ``device``; nothing to do on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: str | torch.device, function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """Runs ``function(*args, **kwargs)``; returns its result and wall time, CUDA synchronised on both sides."""
    synchronize(device)
    start = time.perf_counter()
    result = function(*args, **kwargs)
    synchronize(device)
    return result, time.perf_counter() - start


class Stopwatch:
    """Accumulates named intervals (e.g. ``network``, ``entropy``) of :func:`timed` calls."""

    def __init__(self, device: str | torch.device):
        self.device = device
        self.times: dict[str, float] = {}

    def run(self, name: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result, seconds = timed(self.device, function, *args, **kwargs)
        self.times[name] = self.times.get(name, 0.0) + seconds
        return result
