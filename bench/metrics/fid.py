"""FID and KID on 256x256 patches ("FID/256"), the protocol of HiFiC, MRIC and MS-ILLM (anchors.md section 8).

Each image pair is cut into 256x256 patches: a top-left aligned grid, plus, where both sides are at least
1.5 patches, a second grid shifted by half a patch (128 px) down and right; remainders are dropped. A 768x512 Kodak
image gives 6 + 2 = 8 patches. Reference patches are the "real" set and reconstruction patches (rounded to 8 bits,
as a decoder writes them) the "fake" set; both go through torch-fidelity's Inception (``inception-v3-compat``, TF
2015 weights from the verified cache, 2048-d pool features, each patch resized to 299 inside the extractor).

Per image, :meth:`compute` returns ``{"real": (n, 2048), "fake": (n, 2048)}`` float32 arrays; :meth:`aggregate`
pools them over the dataset and computes FID (Frechet distance of the Gaussian fits) or KID (unbiased MMD^2 with the
cubic polynomial kernel, averaged over random subsets) with torch-fidelity's functions. Fewer than 2048 patches
(e.g. Kodak: 192) make both biased; a warning says so, and the KID subset size is clamped to the patch count.
Images with a side under 256 px have no patch and are not applicable.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from pathlib import Path
from importlib.metadata import version
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from bench import weights
from bench.errors import NotApplicable
from bench.metrics.base import Metric, MetricSpec, PerImage
from bench.metrics.perceptual import default_device
from bench.schema import Sample
from bench.tensors import as_batch, quantize_8bit

PATCH = 256
SPLITS = 2  # one extra grid shifted by PATCH / SPLITS
FEATURE_LAYER = "2048"
RELIABLE_PATCHES = 2048  # feature dimension: fewer samples give a rank-deficient covariance
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020


class FewPatchesWarning(UserWarning):
    """FID/KID pooled over fewer patches than the feature dimension (biased, comparable only on the same data)."""


def patch_corners(height: int, width: int, patch: int = PATCH, splits: int = SPLITS) -> list[tuple[int, int]]:
    """Top-left corners (row, column) of the patches of an image.

    Grid k (k = 0 .. splits-1) is offset by k * patch / splits in both directions and used only when both sides
    are at least (2 - k / splits) * patch; patches that would cross the border are dropped.
    """
    corners = []
    for k in range(splits):
        shift = k * patch // splits
        if k > 0 and min(height, width) < (2 - k / splits) * patch:
            continue
        for top in range(shift, height - patch + 1, patch):
            for left in range(shift, width - patch + 1, patch):
                corners.append((top, left))
    return corners


def extract_patches(image: torch.Tensor, patch: int = PATCH, splits: int = SPLITS) -> torch.Tensor:
    """(1, 3, H, W) -> (n, 3, patch, patch) in the order of :func:`patch_corners`."""
    image = as_batch(image)
    corners = patch_corners(image.shape[-2], image.shape[-1], patch, splits)
    if not corners:
        return image.new_zeros((0, 3, patch, patch))
    return torch.cat([image[:, :, top : top + patch, left : left + patch] for top, left in corners])


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] -> uint8 by round(v * 255), the input torch-fidelity's Inception expects."""
    return as_batch(image.detach()).float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


# One Inception per (weights file, device), shared by FID and KID.
_EXTRACTORS: dict[tuple[str, str], torch.nn.Module] = {}


def inception(path: Path, device: torch.device) -> torch.nn.Module:
    """torch-fidelity's ``inception-v3-compat`` extractor loaded from ``path`` (no download)."""
    key = (str(path), str(device))
    if key not in _EXTRACTORS:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        extractor = FeatureExtractorInceptionV3(
            "inception-v3-compat", [FEATURE_LAYER], feature_extractor_weights_path=str(path)
        )
        _EXTRACTORS[key] = extractor.eval().requires_grad_(False).to(device)
    return _EXTRACTORS[key]


class _FeatureCache:
    """Patch features of recent images, keyed by their 8-bit content (so FID and KID extract once per image)."""

    def __init__(self, capacity: int = 512):
        self.capacity = capacity
        self._entries: OrderedDict[tuple, np.ndarray] = OrderedDict()

    @staticmethod
    def key(extractor_key: tuple, image: torch.Tensor) -> tuple:
        digest = hashlib.sha1(image.cpu().numpy().tobytes()).hexdigest()
        return (*extractor_key, tuple(image.shape), digest)

    def get(self, key: tuple) -> np.ndarray | None:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        return None

    def put(self, key: tuple, features: np.ndarray) -> None:
        self._entries[key] = features
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


_CACHE = _FeatureCache()


def _pooled(values: Sequence[PerImage], key: str, note: str = "") -> tuple[np.ndarray, np.ndarray] | None:
    """Stacks the per-image real/fake features; None (with a warning) when fewer than 2 patches."""
    mappings = [v for v in values if isinstance(v, Mapping)]
    real = [np.asarray(v["real"], dtype=np.float32) for v in mappings if len(v["real"])]
    fake = [np.asarray(v["fake"], dtype=np.float32) for v in mappings if len(v["fake"])]
    if not real or not fake:
        return None
    real_all, fake_all = np.concatenate(real), np.concatenate(fake)
    count = min(len(real_all), len(fake_all))
    if count < 2:
        warnings.warn(f"{key}: {count} patch(es) cannot give a covariance; the value is NaN", FewPatchesWarning)
        return None
    if count < RELIABLE_PATCHES:
        warnings.warn(
            f"{key} pooled over {count} patches (< {RELIABLE_PATCHES}, the feature dimension): the value is biased "
            f"and comparable only with values computed on the same images{note}",
            FewPatchesWarning,
            stacklevel=3,
        )
    return real_all, fake_all


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets (n, d), via torch-fidelity's statistics."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    stats_real = fid_features_to_statistics(torch.from_numpy(np.array(real, dtype=np.float32)))
    stats_fake = fid_features_to_statistics(torch.from_numpy(np.array(fake, dtype=np.float32)))
    return float(fid_statistics_to_metric(stats_real, stats_fake, verbose=False)[KEY_METRIC_FID])


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE
) -> tuple[float, float, int]:
    """KID mean and std over ``subsets`` random subsets, via torch-fidelity; returns (mean, std, subset size).

    The subset size is clamped to the number of samples (torch-fidelity would refuse a larger one).
    """
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = min(subset_size, len(real), len(fake))
    result = kid_features_to_metric(
        torch.from_numpy(np.array(real, dtype=np.float32)),
        torch.from_numpy(np.array(fake, dtype=np.float32)),
        kid_subsets=subsets,
        kid_subset_size=size,
        rng_seed=KID_SEED,
        verbose=False,
    )
    return float(result[KEY_METRIC_KID_MEAN]), float(result[KEY_METRIC_KID_STD]), size


class _PatchDistribution(Metric):
    """Inception features of 256x256 patches, pooled over the dataset by :meth:`aggregate`."""

    holds_network = True

    def __init__(self, device: str | torch.device | None = None, batch_size: int = 32):
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_size = batch_size
        self.weights_path = weights.verified_path("inception", self.spec.key)
        self.extractor = inception(self.weights_path, self.device)
        self._extractor_key = (str(self.weights_path), PATCH, SPLITS)

    def config(self) -> dict[str, Any]:
        return {"inception_sha256": weights.card("inception").sha256, "patch": PATCH, "splits": SPLITS,
                "feature": FEATURE_LAYER, "input": "8-bit"}

    def versions(self) -> dict[str, str]:
        return {"torch-fidelity": version("torch-fidelity")}

    def provenance(self) -> dict[str, Any]:
        return {"network": "inception-v3-compat (torch-fidelity)", "weights": [weights.identity("inception")]}

    def features(self, images: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Patch features (n_i, 2048) of each uint8 (1, 3, H, W) image, batched across images, cached."""
        keys = [_CACHE.key(self._extractor_key, image) for image in images]
        results: list[np.ndarray | None] = [_CACHE.get(key) for key in keys]
        first_of = {key: keys.index(key) for key in keys}  # identical images are extracted once
        missing = [i for i, result in enumerate(results) if result is None and first_of[keys[i]] == i]
        patches = [extract_patches(images[i]) for i in missing]
        if missing:
            stacked = torch.cat(patches)
            outputs = []
            with torch.inference_mode():
                for start in range(0, len(stacked), self.batch_size):
                    batch = stacked[start : start + self.batch_size].to(self.device)
                    (feature,) = self.extractor(batch)
                    outputs.append(feature.float().cpu())
            flat = torch.cat(outputs).numpy() if outputs else np.zeros((0, 2048), np.float32)
            offset = 0
            for i, chunk in zip(missing, patches):
                results[i] = flat[offset : offset + len(chunk)].copy()
                offset += len(chunk)
                _CACHE.put(keys[i], results[i])
        return [results[first_of[key]] for key in keys]  # type: ignore[misc]

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> PerImage:
        return self.compute_many(reference, [reconstruction], sample)[0]

    def compute_many(
        self, reference: torch.Tensor, reconstructions: Sequence[torch.Tensor], sample: Sample
    ) -> list[PerImage]:
        reference = as_batch(reference)
        height, width = reference.shape[-2:]
        if not patch_corners(height, width):
            raise NotApplicable(f"{self.spec.key} needs both sides >= {PATCH} px; image is {height}x{width}")
        for reconstruction in reconstructions:
            if as_batch(reconstruction).shape != reference.shape:
                raise ValueError(
                    f"{self.spec.key}: reference {tuple(reference.shape)} and reconstruction "
                    f"{tuple(as_batch(reconstruction).shape)}"
                )
        images = [to_uint8(reference)] + [to_uint8(quantize_8bit(as_batch(r))) for r in reconstructions]
        real, *fakes = self.features(images)
        return [{"real": real, "fake": fake} for fake in fakes]


class FID256(_PatchDistribution):
    """FID over the dataset's 256x256 patches (HiFiC protocol)."""

    spec = MetricSpec("fid-256", "FID/256", "", higher_is_better=False, pooled=True)

    @classmethod
    def aggregate(cls, values: Sequence[PerImage]) -> float:
        pooled = _pooled(values, cls.spec.key)
        return math.nan if pooled is None else frechet_distance(*pooled)


class KID256(_PatchDistribution):
    """KID (mean over subsets) over the dataset's 256x256 patches (HiFiC protocol)."""

    spec = MetricSpec("kid-256", "KID/256", "", higher_is_better=False, pooled=True)

    @classmethod
    def aggregate(cls, values: Sequence[PerImage]) -> float:
        note = f"; the KID subset size is clamped to the patch count when below {KID_SUBSET_SIZE}"
        pooled = _pooled(values, cls.spec.key, note)
        if pooled is None:
            return math.nan
        mean, _, _ = kernel_inception_distance(*pooled)
        return mean
