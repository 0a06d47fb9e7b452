"""What produced a run: library versions, each codec's and metric's configuration and weights, the executor, the
machine, and the project's git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from bench import __version__

PACKAGES = ("torch", "torchvision", "compressai", "numpy", "pillow", "pillow-heif", "pillow-jxl-plugin", "pytorch-msssim",
            "pandas", "scipy", "timm", "lpips", "torch-fidelity", "ray")


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None if found.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_environment(codecs: dict[str, dict[str, Any]], metrics: dict[str, dict[str, Any]] | None = None,
                         executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions of Python, the project and key packages; per codec label its versions, code version, config hash and
    weights provenance; per metric its configuration and weights; the executor; the machine."""
    cuda = torch.cuda.is_available()
    return {
        "mpa_bench": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in PACKAGES},
        "codecs": codecs,
        "metrics": metrics or {},
        "executor": executor or {},
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
        },
    }
