"""What produced a run: library versions, machine, and the project's git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from bench import __version__

PACKAGES = ("torch", "torchvision", "compressai", "numpy", "pillow", "pytorch-msssim", "pandas", "scipy")


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


def describe_environment(codec_versions: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Versions of Python, the project, key packages and each codec's libraries, plus the machine."""
    cuda = torch.cuda.is_available()
    return {
        "mpa_bench": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in PACKAGES},
        "codecs": codec_versions,
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda_device": torch.cuda.get_device_name(0) if cuda else None,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
        },
    }
