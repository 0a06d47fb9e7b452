"""Task metric math (top-k, confusion counts, mIoU/mAcc/allAcc) against hand-computed values, the metric
registrations, and the unavailable-weights path."""

import numpy as np
import pytest
import torch

from bench.errors import MetricUnavailable, NotApplicable
from bench.metrics import metrics
from bench.metrics.task import (
    AllAccuracy,
    MeanAccuracy,
    MeanIoU,
    Top1,
    Top5,
    intersection_and_union,
    pool_counts,
    segmentation_scores,
    topk_correct,
)
from bench.schema import Sample


def bare(cls):
    """A metric instance without its network: aggregate and the ground-truth checks need none."""
    return object.__new__(cls)

# ------------------------------------------------------------------------------------------------ top-k accuracy


def test_topk_against_hand_ranking():
    # Ranking of row 0: class 3 (0.9), 1 (0.5), 2 (0.3), 5 (0.2), 0 (0.1), 4 (0.0).
    # Ranking of row 1: class 2, 0, 4, 1, 5, 3.
    logits = torch.tensor([[0.1, 0.5, 0.3, 0.9, 0.0, 0.2], [0.6, 0.2, 1.0, -1.0, 0.4, 0.1]])
    assert topk_correct(logits, 2, (1, 2, 3, 5)) == [[False, False, True, True], [True, True, True, True]]
    assert topk_correct(logits, 4, (1, 3, 5)) == [[False, False, False], [False, True, True]]
    assert topk_correct(logits, 3, (5,)) == [[True], [False]]


def test_topk_dataset_value_is_percentage_of_correct_images():
    # Per image 100 or 0; four images, three correct: 75 %, which is also the official batch-size-weighted mean of
    # batch accuracies for batches [2 images, 50 %] and [2 images, 100 %].
    assert bare(Top1).aggregate([100.0, 0.0, 100.0, 100.0]) == pytest.approx(75.0)


# ------------------------------------------------------------------------------------------- confusion counts


def test_counts_of_a_hand_computed_example():
    """Five valid pixels, one ignored (predicted 0, which must not count). Hand counts:
    intersection (1, 1, 1), prediction areas (2, 2, 1), target areas (2, 2, 1) -> union (3, 3, 1);
    IoU (1/3, 1/3, 1) -> mIoU 5/9; Acc (1/2, 1/2, 1) -> mAcc 2/3; allAcc 3/5."""
    target = np.array([[0, 0, 1], [2, 255, 1]])
    prediction = np.array([[0, 1, 1], [2, 0, 0]])
    counts = intersection_and_union(prediction, target, num_classes=3)
    assert counts["intersection"].tolist() == [1, 1, 1]
    assert counts["union"].tolist() == [3, 3, 1]
    assert counts["target"].tolist() == [2, 2, 1]
    assert counts["union"].dtype == np.int64
    scores = segmentation_scores(counts)
    assert scores["miou"] == pytest.approx(5 / 9)
    assert scores["macc"] == pytest.approx(2 / 3)
    assert scores["allacc"] == pytest.approx(3 / 5)


def test_out_of_range_values_count_in_no_class():
    """semseg's histc over [0, K-1]: a prediction of 7 (K = 3) is in no class, its target still is."""
    counts = intersection_and_union(np.array([7, 1]), np.array([0, 1]), num_classes=3)
    assert counts["intersection"].tolist() == [0, 1, 0]
    assert counts["target"].tolist() == [1, 1, 0]
    assert counts["union"].tolist() == [1, 1, 0]


def test_pooling_is_sum_of_counts_not_mean_of_images():
    """Image A: 4 pixels of class 0, all right. Image B: target (0,1,1,1), prediction all 1.
    Pooled: I = (4, 3), U = (5, 4) -> mIoU (0.8 + 0.75) / 2 = 0.775, whereas the mean of per-image mIoUs
    (A: (1 + 0) / 2, B: (0 + 0.75) / 2) would be 0.4375."""
    a = intersection_and_union(np.zeros(4, int), np.zeros(4, int), num_classes=2)
    b = intersection_and_union(np.ones(4, int), np.array([0, 1, 1, 1]), num_classes=2)
    pooled = pool_counts([a, None, b])
    assert pooled["intersection"].tolist() == [4, 3] and pooled["union"].tolist() == [5, 4]
    assert segmentation_scores(pooled)["miou"] == pytest.approx(0.775)
    assert bare(MeanIoU).aggregate([a, b]) == pytest.approx(0.775)
    assert MeanIoU.aggregate([a, b]) == pytest.approx(0.775)  # the engine aggregates through the class
    assert AllAccuracy.aggregate([a, b]) == pytest.approx(7 / 8)
    assert MeanAccuracy.aggregate([a, b]) == pytest.approx((4 / 5 + 3 / 3) / 2)
    assert np.isnan(MeanIoU.aggregate([None]))


def test_absent_classes_count_as_zero_in_the_official_mean():
    """Only classes 0 and 2 of 4 occur, both perfectly: official mIoU = 2/4, over present classes = 1."""
    labels = np.array([[0, 0], [2, 2]])
    counts = intersection_and_union(labels, labels, num_classes=4)
    assert segmentation_scores(counts)["miou"] == pytest.approx(0.5)
    assert segmentation_scores(counts, present_only=True)["miou"] == pytest.approx(1.0)
    assert segmentation_scores(counts)["allacc"] == pytest.approx(1.0)


def test_counts_against_a_confusion_matrix():
    """Second implementation: a 150x150 confusion matrix built pixel by pixel; I = diagonal, T = row sums,
    U = row + column sums - diagonal."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 150, size=(40, 50))
    target[rng.random(target.shape) < 0.2] = 255
    prediction = np.where(rng.random(target.shape) < 0.5, target, rng.integers(0, 150, size=target.shape))
    prediction[target == 255] = 3  # predictions on ignored pixels must not count
    confusion = np.zeros((150, 150), dtype=np.int64)
    for t, p in zip(target.ravel(), prediction.ravel()):
        if t != 255:
            confusion[t, p] += 1
    counts = intersection_and_union(prediction, target)
    diagonal = np.diag(confusion)
    assert np.array_equal(counts["intersection"], diagonal)
    assert np.array_equal(counts["target"], confusion.sum(axis=1))
    assert np.array_equal(counts["union"], confusion.sum(axis=1) + confusion.sum(axis=0) - diagonal)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        intersection_and_union(np.zeros((2, 2), int), np.zeros((2, 3), int))


# ------------------------------------------------------------------------------------------- registrations


@pytest.mark.parametrize("key,pooled,unit", [
    ("top1", False, "%"), ("top5", False, "%"), ("miou", True, ""), ("macc", True, ""), ("allacc", True, ""),
])
def test_registered_metrics_declare_their_semantics(key, pooled, unit):
    cls = metrics.get(key)
    assert cls.spec.key == key and cls.spec.pooled is pooled and cls.spec.unit == unit
    assert cls.spec.higher_is_better


# ------------------------------------------------------------------------------------- unavailable weights


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """No weights anywhere: empty mpa-bench, torch hub and Hugging Face caches, no weights variables."""
    import huggingface_hub.constants

    monkeypatch.setenv("MPA_BENCH_CACHE", str(tmp_path / "bench"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    for variable in ("MPA_BENCH_CONVNEXT_TINY_WEIGHTS", "MPA_BENCH_RESNET50_WEIGHTS", "MPA_BENCH_PSPNET50_WEIGHTS"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def test_missing_classifier_weights_make_the_metric_unavailable(no_weights):
    with pytest.raises(MetricUnavailable, match="hf download timm/convnext_tiny.fb_in1k model.safetensors"):
        Top1()
    with pytest.raises(MetricUnavailable, match=r"resnet50\(weights='IMAGENET1K_V1'\)"):
        Top5(network="resnet50.tv_in1k")


def test_missing_pspnet_weights_make_the_metric_unavailable(no_weights):
    with pytest.raises(MetricUnavailable, match="no direct download URL.*hszhao/semseg.*pspnet_train_epoch_100.pth"):
        MeanIoU()


def test_a_named_weights_file_that_does_not_exist_is_reported(no_weights, monkeypatch):
    monkeypatch.setenv("MPA_BENCH_PSPNET50_WEIGHTS", str(no_weights / "nowhere.pth"))
    with pytest.raises(MetricUnavailable, match="MPA_BENCH_PSPNET50_WEIGHTS names .*nowhere.pth"):
        MeanIoU()


def test_a_cached_file_with_the_wrong_sha256_is_refused(no_weights):
    cache = no_weights / "bench" / "weights"
    cache.mkdir(parents=True)
    (cache / "resnet50-0676ba61.pth").write_bytes(b"not the weights")
    with pytest.raises(MetricUnavailable, match="sha256 differs"):
        Top1(network="resnet50.tv_in1k")


def test_task_metrics_need_ground_truth():
    metric = bare(Top1)
    with pytest.raises(NotApplicable, match="no ground-truth class"):
        metric.compute_many(torch.zeros(1, 3, 8, 8), [torch.zeros(1, 3, 8, 8)], Sample("x", loader=lambda: None))
    segmentation = bare(MeanIoU)
    with pytest.raises(NotApplicable, match="no ground-truth label map"):
        segmentation.compute_many(torch.zeros(1, 3, 8, 8), [torch.zeros(1, 3, 8, 8)], Sample("x", loader=lambda: None))


def test_task_network_registry_names_match_their_cards():
    from bench.tasks import tasks

    for name in tasks.names():
        card = tasks.get(name)
        assert card.name == name and card.task in ("classification", "segmentation") and card.fetch
