"""Device names -> torch devices: the one check of ``--device`` / a suite's ``device`` / a codec's ``device``."""

from __future__ import annotations

import torch

from bench.errors import BenchError


def check_device(name: str | torch.device) -> torch.device:
    """The torch device of ``cpu``, ``cuda`` or ``cuda:N``, or one line saying why not (another name, no CUDA GPU
    visible, no such GPU)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise BenchError(f"device must be cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(f"device {str(name)!r}: no CUDA GPU is visible to torch here; run on a machine with one, "
                             f"or use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchError(f"device {str(name)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
