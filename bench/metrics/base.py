"""The Metric interface: each metric declares its semantics (direction, unit, aggregation) when it registers."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence, Union

import numpy as np
import torch

from bench.schema import Sample

# What a metric returns for one image: a scalar, or named statistics that are pooled over the dataset
# (confusion counts for mIoU, features for FID) by :meth:`Metric.aggregate`.
PerImage = Union[float, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means, read by BD-rate, plots, tables and ``bench check``.

    Attributes:
        key: the result key (``psnr-rgb``, ``ms-ssim-rgb``, ``lpips-alex``, ``top1``, ``miou``, ...).
        label: axis label.
        unit: ``dB``, ``%`` or ``""``.
        higher_is_better: direction of improvement.
        pooled: False when the dataset value is the mean of per-image values; True when per-image statistics are
            pooled (summed intersections/unions, features) before the dataset value is computed.
    """

    key: str
    label: str
    unit: str
    higher_is_better: bool
    pooled: bool = False


class Metric(abc.ABC):
    """A quality or task metric comparing a reconstruction with its reference.

    Construction raises :class:`bench.errors.MetricUnavailable` (with the command that fixes it) when the metric
    cannot be computed here, e.g. missing network weights. ``compute`` raises :class:`bench.errors.NotApplicable`
    for an image it does not apply to.
    """

    spec: ClassVar[MetricSpec]
    # Bump when a change to this metric's code changes its values: stored values of the old code are then measured
    # again (the run-store key of a value is the hash of config(), versions() and this).
    code_version: ClassVar[int] = 1
    # Whether the metric runs a network (task networks, LPIPS, DISTS, FID): distributed executors keep such metrics
    # on long-lived workers that load the network once.
    holds_network: ClassVar[bool] = False

    def config(self) -> dict[str, Any]:
        """What determines this metric's values besides the images: network name, weights sha256, protocol."""
        return {}

    def versions(self) -> dict[str, str]:
        """Versions of the libraries that compute the values (lpips, timm, torch-fidelity, ...)."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """Where the weights come from (file path and sha256, network, source), for exports; {} without weights."""
        return {}

    @abc.abstractmethod
    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> PerImage:
        """Compares (1, 3, H, W) float32 images in [0, 1]; ``sample`` carries ground truth for task metrics."""

    def compute_many(
        self, reference: torch.Tensor, reconstructions: Sequence[torch.Tensor], sample: Sample
    ) -> list[PerImage]:
        """Scores several reconstructions of one image (the decoder variants); network metrics batch them."""
        return [self.compute(reference, reconstruction, sample) for reconstruction in reconstructions]

    @classmethod
    def aggregate(cls, values: Sequence[PerImage]) -> float:
        """Dataset value from per-image values; the mean unless the metric pools statistics.

        A classmethod: reports aggregate stored values without building the metric's network.
        """
        scalars = [float(v) for v in values if v is not None]
        return float(np.mean(scalars)) if scalars else float("nan")
