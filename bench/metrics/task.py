"""Task metrics: ImageNet top-1/top-5 accuracy and ADE20K mIoU, mAcc, allAcc, as the official MPA evaluation
computes them (``examples/eval_cls_real_bpp.py``, ``examples/eval_seg_real_bpp.py`` with semseg's
``intersectionAndUnionGPU``).

Classification: an image is correct at k when its class is among the k largest logits. Per image the metric is
100 (correct) or 0, so the dataset value, the mean, is the percentage of correct images (the official
batch-size-weighted mean of batch accuracies is the same number).

Segmentation: per image, per class, the pixel counts of intersection (prediction == target), union
(prediction + target - intersection) and target, over pixels whose target is not the ignore label 255
(predictions there are dropped, and values outside 0..149 are not counted). The dataset value pools them:
``IoU_c = sum I_c / (sum U_c + 1e-10)``, ``mIoU = mean over all 150 classes of IoU_c``;
``Acc_c = sum I_c / (sum T_c + 1e-10)``, ``mAcc = mean of Acc_c``; ``allAcc = sum I / (sum T + 1e-10)``.
A class absent from both the predictions and the targets of every image has IoU 0 (and Acc 0) and still counts in
the mean over 150, exactly as the official evaluation does: on a subset of images mIoU is therefore lower than
the mean over the present classes (:func:`segmentation_scores` with ``present_only=True`` gives that one).
mIoU, mAcc and allAcc are fractions in [0, 1], as semseg and MPA report them; top-k is in %.

The networks are built when a metric is constructed, from local weights only (:mod:`bench.tasks`); missing
weights raise :class:`bench.errors.MetricUnavailable` with the way to get them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch

from bench.errors import NotApplicable
from bench.metrics.base import Metric, MetricSpec, PerImage
from bench.schema import Sample

NUM_CLASSES = 150
IGNORE_LABEL = 255
EPSILON = 1e-10  # the official evaluation's guard against 0/0
COUNT_KEYS = ("intersection", "union", "target")


# --------------------------------------------------------------------------------------------- classification math


def topk_correct(logits: torch.Tensor, label: int, ks: Sequence[int]) -> list[list[bool]]:
    """For each row of ``logits`` (N, C) and each k: is ``label`` among the k largest logits (torch.topk order)?"""
    largest = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = largest == int(label)
    return [[bool(row[:k].any()) for k in ks] for row in hits]


# ----------------------------------------------------------------------------------------------- segmentation math


def _class_histogram(values: np.ndarray, num_classes: int) -> np.ndarray:
    values = values[(values >= 0) & (values < num_classes)]
    return np.bincount(values, minlength=num_classes).astype(np.int64)


def intersection_and_union(prediction: np.ndarray, target: np.ndarray, num_classes: int = NUM_CLASSES,
                           ignore_label: int = IGNORE_LABEL) -> dict[str, np.ndarray]:
    """Per-class pixel counts ``intersection``, ``union`` and ``target`` (int64, ``num_classes`` long).

    Pixels whose target is ``ignore_label`` are left out entirely; predictions and targets outside
    ``0..num_classes-1`` are not counted in any class (semseg's histc over [0, K-1]).
    """
    prediction = np.asarray(prediction, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ in shape")
    valid = target != ignore_label
    prediction, target = prediction[valid], target[valid]
    intersection = _class_histogram(prediction[prediction == target], num_classes)
    area_prediction = _class_histogram(prediction, num_classes)
    area_target = _class_histogram(target, num_classes)
    return {
        "intersection": intersection,
        "union": area_prediction + area_target - intersection,
        "target": area_target,
    }


def pool_counts(values: Sequence[Mapping[str, np.ndarray] | None]) -> dict[str, np.ndarray] | None:
    """Sums per-image counts over a dataset; None entries (images the metric did not apply to) are skipped."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    return {key: np.sum([np.asarray(value[key], dtype=np.int64) for value in present], axis=0) for key in COUNT_KEYS}


def segmentation_scores(counts: Mapping[str, np.ndarray], present_only: bool = False) -> dict[str, float]:
    """mIoU, mAcc and allAcc (fractions) from pooled counts, as the official evaluation computes them.

    With ``present_only`` the class means run over the classes with a non-zero union (mIoU) or a non-zero target
    (mAcc) instead of all classes; that is not the official number.
    """
    intersection = np.asarray(counts["intersection"], dtype=np.float64)
    union = np.asarray(counts["union"], dtype=np.float64)
    target = np.asarray(counts["target"], dtype=np.float64)
    iou = intersection / (union + EPSILON)
    accuracy = intersection / (target + EPSILON)
    if present_only:
        iou, accuracy = iou[union > 0], accuracy[target > 0]
    return {
        "miou": float(np.mean(iou)) if iou.size else float("nan"),
        "macc": float(np.mean(accuracy)) if accuracy.size else float("nan"),
        "allacc": float(intersection.sum() / (target.sum() + EPSILON)),
    }


# The label map last loaded, with the loader it came from: every rate point and every segmentation metric of an
# image reuses it instead of decoding the annotation again.
_last_label: tuple[Any, np.ndarray] | None = None


def label_map(target: Any) -> np.ndarray:
    """The ground-truth label map of a sample: the array itself, or what its loader returns (memoised)."""
    global _last_label
    if target is None:
        raise NotApplicable("no ground-truth label map for this image")
    if not callable(target):
        return np.asarray(target)
    if _last_label is None or _last_label[0] is not target:
        _last_label = (target, np.asarray(target()))
    return _last_label[1]


# ------------------------------------------------------------------------------------------------------- metrics


def network_library_versions() -> dict[str, str]:
    """Versions of the libraries that build the classifiers (timm, torchvision)."""
    from importlib.metadata import version

    return {name: version(name) for name in ("timm", "torchvision")}


class TopKAccuracy(Metric):
    """Top-k accuracy of an ImageNet classifier on the reconstruction; ``sample.target`` is the class index.

    Args:
        network: ``convnext_tiny.fb_in1k`` (default, as the official evaluation) or ``resnet50.tv_in1k``.
        weights: a local weights file (else the lookup of :mod:`bench.tasks`).
        device: ``cuda`` or ``cpu`` (default: cuda when available).
        batch_size: most reconstructions per forward (default: all variants of an image in one).
    """

    k: ClassVar[int]
    holds_network = True

    def __init__(self, network: str = "convnext_tiny.fb_in1k", weights: str | Path | None = None,
                 device: str | None = None, batch_size: int | None = None):
        from bench.tasks.classification import open_classifier

        self.classifier = open_classifier(network, weights, device, batch_size, metric=self.spec.key)

    def config(self) -> dict[str, Any]:
        identity = self.classifier.identity()
        return {"network": identity["network"], "weights_sha256": identity["weights_sha256"],
                "input": self.classifier.card.input_note}

    def versions(self) -> dict[str, str]:
        return network_library_versions()

    def provenance(self) -> dict[str, Any]:
        return self.classifier.identity()

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> PerImage:
        return self.compute_many(reference, [reconstruction], sample)[0]

    def compute_many(self, reference: torch.Tensor, reconstructions: Sequence[torch.Tensor],
                     sample: Sample) -> list[PerImage]:
        if sample.target is None:
            raise NotApplicable(f"{sample.image_id} has no ground-truth class")
        hits = topk_correct(self.classifier.logits(reconstructions), int(sample.target), (self.k,))
        return [100.0 if row[0] else 0.0 for row in hits]


class Top1(TopKAccuracy):
    spec = MetricSpec("top1", "Top-1 accuracy", "%", higher_is_better=True)
    k = 1


class Top5(TopKAccuracy):
    spec = MetricSpec("top5", "Top-5 accuracy", "%", higher_is_better=True)
    k = 5


class SegmentationMetric(Metric):
    """A PSPNet-50 ADE20K score of the reconstruction; ``sample.target`` is the (H, W) label map (ignore 255) or
    a loader of it. Per image the metric returns the 150-class counts; the dataset value pools them.

    The reconstruction (clamped) and the label map are replicate-padded right/bottom by one pixel (512 -> 513) and
    the whole image is segmented at a single scale, as the official evaluation does.

    Args:
        weights: a local ``pspnet_train_epoch_100.pth`` (else the lookup of :mod:`bench.tasks`).
        device: ``cuda`` or ``cpu`` (default: cuda when available).
        batch_size: most reconstructions per forward (default: all variants of an image in one).
    """

    holds_network = True

    score: ClassVar[str]

    def __init__(self, weights: str | Path | None = None, device: str | None = None, batch_size: int | None = None):
        from bench.tasks.segmentation import open_segmenter

        self.segmenter = open_segmenter(weights, device, batch_size, metric=self.spec.key)

    def config(self) -> dict[str, Any]:
        identity = self.segmenter.identity()
        return {"network": identity["network"], "weights_sha256": identity["weights_sha256"],
                "input": self.segmenter.card.input_note}

    def provenance(self) -> dict[str, Any]:
        return self.segmenter.identity()

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> PerImage:
        return self.compute_many(reference, [reconstruction], sample)[0]

    def compute_many(self, reference: torch.Tensor, reconstructions: Sequence[torch.Tensor],
                     sample: Sample) -> list[PerImage]:
        target = label_map(sample.target)
        height, width = reconstructions[0].shape[-2:]
        if target.shape != (height, width):
            raise NotApplicable(f"label map {target.shape} and reconstruction {height}x{width} differ in size")
        if height % 8 or width % 8:
            raise NotApplicable(f"PSPNet needs sides that are multiples of 8 (padded to 8k+1); got {height}x{width}")
        padded = np.pad(target, ((0, 1), (0, 1)), mode="edge")
        predictions = self.segmenter.predict(reconstructions)
        return [intersection_and_union(prediction, padded) for prediction in predictions]

    @classmethod
    def aggregate(cls, values: Sequence[PerImage]) -> float:
        """Pools the per-image counts (sums over images), then the official formula."""
        counts = pool_counts(values)  # type: ignore[arg-type]
        return float("nan") if counts is None else segmentation_scores(counts)[cls.score]


class MeanIoU(SegmentationMetric):
    spec = MetricSpec("miou", "mIoU", "", higher_is_better=True, pooled=True)
    score = "miou"


class MeanAccuracy(SegmentationMetric):
    spec = MetricSpec("macc", "mAcc", "", higher_is_better=True, pooled=True)
    score = "macc"


class AllAccuracy(SegmentationMetric):
    spec = MetricSpec("allacc", "allAcc", "", higher_is_better=True, pooled=True)
    score = "allacc"
