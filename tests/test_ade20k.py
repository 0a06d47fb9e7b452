"""ADE20K val: the official preprocessing (OpenCV INTER_LINEAR / INTER_NEAREST resize semantics, 512 centre crop with
mean and ignore padding), the raw-id label mapping on real ground truth, the dataset layouts, and GT-vs-GT mIoU."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.data import datasets
from bench.data.ade20k import (
    MEAN_255,
    ADE20KVal,
    center_crop,
    load_image,
    map_labels,
    preprocess_image,
    preprocess_label,
    resize_linear,
    resize_nearest,
    resized_size,
)
from bench.errors import DatasetError, ImageError
from bench.metrics.task import intersection_and_union, segmentation_scores
from bench.tensors import image_to_tensor

ASSETS = Path(__file__).parent / "assets"
IDS = ("ADE_val_00000269", "ADE_val_00001200")


def real_image(image_id: str) -> np.ndarray:
    return np.asarray(Image.open(ASSETS / f"{image_id}.png").convert("RGB"))


def real_label(image_id: str) -> np.ndarray:
    return np.asarray(Image.open(ASSETS / f"{image_id}_gt.png"))


# --------------------------------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("size,expected", [
    ((512, 512), (512, 512)),
    ((375, 500), (512, 682)),      # int(512 * 500 / 375) = int(682.67)
    ((683, 512), (683, 512)),      # int(512 * 683 / 512) = 683: already the target size
    ((1024, 768), (682, 512)),
    ((300, 3000), (204, 2048)),    # long side 5120 > 2048: 2048 and int(2048 * 512 / 5120) = 204
    ((256, 256), (512, 512)),
])
def test_resized_size_follows_the_torchvision_rule(size, expected):
    assert resized_size(*size) == expected


def cv2_linear_reference(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-pixel OpenCV INTER_LINEAR in float64, from its documented mapping: source x = (d + 0.5) * in/out - 0.5,
    clamped to [0, in - 1], weights by distance to the two neighbours."""
    def taps(d, size_in, size_out):
        x = min(max((d + 0.5) * size_in / size_out - 0.5, 0.0), size_in - 1)
        left = min(int(np.floor(x)), size_in - 1)
        return left, min(left + 1, size_in - 1), x - left

    out = np.zeros((height, width, image.shape[2]))
    for i in range(height):
        top, bottom, fy = taps(i, image.shape[0], height)
        for j in range(width):
            left, right, fx = taps(j, image.shape[1], width)
            row_top = (1 - fx) * image[top, left] + fx * image[top, right]
            row_bottom = (1 - fx) * image[bottom, left] + fx * image[bottom, right]
            out[i, j] = (1 - fy) * row_top + fy * row_bottom
    return out


@pytest.mark.parametrize("out_size", [(11, 5), (5, 6), (7, 9), (14, 20)])
def test_linear_resize_matches_the_opencv_mapping(out_size):
    image = np.random.default_rng(1).uniform(0, 255, size=(7, 9, 3)).astype(np.float32)
    ours = resize_linear(image, *out_size)
    assert ours.dtype == np.float32 and ours.shape == (*out_size, 3)
    np.testing.assert_allclose(ours, cv2_linear_reference(image.astype(np.float64), *out_size), atol=2e-4)


@pytest.mark.parametrize("out_size", [(512, 683), (300, 200), (700, 1023)])
def test_linear_resize_agrees_with_torch_bilinear(out_size):
    """Second implementation: torch bilinear with align_corners=False and no antialias (half-pixel centres, edge
    clamping, like OpenCV); float32 rounding differs by well under 0.01 on the 0..255 scale."""
    image = real_image(IDS[0]).astype(np.float32)
    ours = resize_linear(image, *out_size)
    theirs = F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None], size=out_size, mode="bilinear",
                           align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, theirs, atol=0.01)


def test_linear_upscaling_agrees_with_pillow():
    """Third implementation: Pillow's bilinear on a float image; when enlarging its triangle filter has support 1
    and renormalised edges, which is OpenCV's INTER_LINEAR."""
    channel = real_image(IDS[1])[100:180, 200:260, 1].astype(np.float32)
    ours = resize_linear(channel[:, :, None], 131, 97)[:, :, 0]
    pillow = np.asarray(Image.fromarray(channel, mode="F").resize((97, 131), Image.BILINEAR))
    np.testing.assert_allclose(ours, pillow, atol=2e-3)


def test_linear_closed_forms():
    # Exact 2x shrink: OpenCV uses INTER_AREA there; both give the mean of each 2x2 block.
    image = np.random.default_rng(2).uniform(0, 255, size=(8, 6, 3)).astype(np.float32)
    blocks = image.reshape(4, 2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(resize_linear(image, 4, 3), blocks, atol=1e-4)
    # Enlarging a ramp: interior samples lie on the ramp at x = (d + 0.5) * in/out - 0.5; edges are clamped.
    ramp = np.tile(np.arange(10, dtype=np.float32)[None, :, None] * 3.0, (2, 1, 1))
    out = resize_linear(ramp, 2, 25)[0, :, 0]
    x = np.clip((np.arange(25) + 0.5) * 10 / 25 - 0.5, 0, 9)
    np.testing.assert_allclose(out, 3.0 * x, atol=1e-4)
    # Same size: identity.
    assert np.array_equal(resize_linear(image, 8, 6), image)


def test_nearest_resize_matches_opencv_and_torch():
    # OpenCV INTER_NEAREST: source = floor(d * in / out): 4 -> 6 picks 0, 0, 1, 2, 2, 3.
    row = np.array([[10, 11, 12, 13]], dtype=np.uint8)
    assert resize_nearest(row, 1, 6).tolist() == [[10, 10, 11, 12, 12, 13]]
    label = real_label(IDS[0])
    for size in ((683, 512), (300, 200), (341, 512)):
        theirs = F.interpolate(torch.from_numpy(label.astype(np.float32))[None, None], size=size, mode="nearest")
        assert np.array_equal(resize_nearest(label, *size), theirs[0, 0].numpy().astype(np.uint8))


def test_center_crop_pads_half_before_and_the_rest_after():
    array = np.arange(6).reshape(2, 3)
    out = center_crop(array, -1, size=5)
    # pad_h = 3: 1 row before, 2 after; pad_w = 2: 1 column each side.
    assert out.tolist() == [[-1] * 5, [-1, 0, 1, 2, -1], [-1, 3, 4, 5, -1], [-1] * 5, [-1] * 5]
    assert center_crop(np.arange(7 * 4).reshape(7, 4), 0, size=4).tolist() == np.arange(4, 20).reshape(4, 4).tolist()


# --------------------------------------------------------------------------------------- preprocessing on real data


@pytest.mark.parametrize("image_id", IDS)
def test_real_512_images_only_get_divided_by_255(image_id):
    image = real_image(image_id)
    out = preprocess_image(image)
    assert out.shape == (512, 512, 3) and out.dtype == np.float32
    assert np.array_equal(out, image.astype(np.float32) / np.float32(255.0))
    tensor = image_to_tensor(out)
    assert tensor.shape == (1, 3, 512, 512) and torch.equal(tensor[0, 1], torch.from_numpy(out[:, :, 1]))


@pytest.mark.parametrize("image_id", IDS)
def test_label_mapping_on_real_ground_truth(image_id):
    """Raw ADE ids: 0 (void) -> 255, k -> k - 1; pixel counts move with their class."""
    raw = real_label(image_id)
    assert raw.dtype == np.uint8 and raw.max() <= 150
    label = preprocess_label(raw)
    assert label.shape == (512, 512) and label.dtype == np.int64
    raw_ids, raw_counts = np.unique(raw, return_counts=True)
    expected = {(255 if k == 0 else k - 1): c for k, c in zip(raw_ids.tolist(), raw_counts.tolist())}
    ids, counts = np.unique(label, return_counts=True)
    assert dict(zip(ids.tolist(), counts.tolist())) == expected
    assert set(ids.tolist()) <= set(range(150)) | {255}


def test_non_square_real_crop_is_resized_and_centre_cropped():
    """A 400x512 (H x W) piece of a real image: shorter side 400 -> 512, width int(512 * 512 / 400) = 655, then
    the 512 centre crop starts at column int((655 - 512) / 2) = 71."""
    image = real_image(IDS[1])[50:450].astype(np.float32)
    label = real_label(IDS[1])[50:450]
    out = preprocess_image(image)
    expected = resize_linear(image, 512, 655)[:, 71:583] / np.float32(255.0)
    assert out.shape == (512, 512, 3) and np.array_equal(out, np.clip(expected, 0, 1))
    assert np.array_equal(preprocess_label(label), map_labels(resize_nearest(label, 512, 655)[:, 71:583]))


def test_very_wide_image_is_capped_and_padded_with_mean_and_ignore():
    """300x3000 -> 204x2048 (long side capped), crop 512: 308 rows of padding, 154 above and 154 below."""
    image = np.full((300, 3000, 3), 200, dtype=np.uint8)
    out = preprocess_image(image)
    mean = np.array(MEAN_255, dtype=np.float32) / np.float32(255.0)
    assert out.shape == (512, 512, 3)
    np.testing.assert_array_equal(out[:154], np.broadcast_to(mean, (154, 512, 3)))
    np.testing.assert_array_equal(out[358:], np.broadcast_to(mean, (154, 512, 3)))
    np.testing.assert_allclose(out[154:358], 200 / 255, atol=1e-6)
    label = preprocess_label(np.full((300, 3000), 5, dtype=np.uint8))
    assert (label[:154] == 255).all() and (label[358:] == 255).all() and (label[154:358] == 4).all()


def test_gt_against_gt_scores_one_over_present_classes():
    """Segmenting with the ground truth itself: IoU 1 for every present class; the official mean over 150
    classes is (present classes) / 150."""
    counts = [intersection_and_union(preprocess_label(real_label(i)), preprocess_label(real_label(i))) for i in IDS]
    pooled = {key: sum(c[key] for c in counts) for key in counts[0]}
    present = int((pooled["union"] > 0).sum())
    assert present >= 10
    assert segmentation_scores(pooled, present_only=True)["miou"] == pytest.approx(1.0)
    assert segmentation_scores(pooled)["miou"] == pytest.approx(present / 150)
    assert segmentation_scores(pooled)["allacc"] == pytest.approx(1.0)


def test_image_to_tensor_takes_uint8_and_unit_float32():
    image = real_image(IDS[0])
    assert torch.equal(image_to_tensor(image), image_to_tensor(image.astype(np.float32) / np.float32(255.0)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        image_to_tensor(image.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 or float32"):
        image_to_tensor(image.astype(np.float64))


# ------------------------------------------------------------------------------------------------------- layouts


@pytest.fixture
def ade_root(tmp_path):
    """An ADEChallengeData2016 tree with the two real validation images (as JPEGs) and their annotations."""
    root = tmp_path / "ADEChallengeData2016"
    (root / "images" / "validation").mkdir(parents=True)
    (root / "annotations" / "validation").mkdir(parents=True)
    for image_id in IDS:
        Image.fromarray(real_image(image_id)).save(root / "images" / "validation" / f"{image_id}.jpg", quality=95)
        shutil.copy(ASSETS / f"{image_id}_gt.png", root / "annotations" / "validation" / f"{image_id}.png")
    return root


def test_dataset_from_the_challenge_layout(ade_root):
    dataset = datasets.get("ade20k")(ade_root.parent)  # the parent of ADEChallengeData2016 works too
    assert dataset.name == "ade20k"
    samples = dataset.samples()
    assert [s.image_id for s in samples] == list(IDS)
    image = samples[0].load()
    assert image.shape == (512, 512, 3) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    jpeg = np.asarray(Image.open(ade_root / "images" / "validation" / f"{IDS[0]}.jpg").convert("RGB"))
    assert np.array_equal(image, jpeg.astype(np.float32) / np.float32(255.0))
    assert np.array_equal(samples[0].target(), preprocess_label(real_label(IDS[0])))
    assert len(ADE20KVal(ade_root, limit=1).samples()) == 1


def test_dataset_from_a_semseg_list_file(ade_root):
    (ade_root / "list").mkdir()
    (ade_root / "list" / "validation.txt").write_text(
        f"images/validation/{IDS[1]}.jpg annotations/validation/{IDS[1]}.png\n"
    )
    assert [s.image_id for s in ADE20KVal(ade_root).samples()] == [IDS[1]]
    (ade_root / "list" / "validation.txt").write_text("images/validation/only_one_field.jpg\n")
    with pytest.raises(DatasetError, match="expected 'image_path label_path'"):
        ADE20KVal(ade_root).samples()


def test_dataset_errors_name_the_file_and_the_fix(ade_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MPA_BENCH_DATA", raising=False)
    with pytest.raises(DatasetError, match="datasets fetch ade20k"):
        ADE20KVal(tmp_path / "empty").samples()
    with pytest.raises(DatasetError, match="--data-root"):
        ADE20KVal(None).samples()
    (ade_root / "annotations" / "validation" / f"{IDS[1]}.png").unlink()
    with pytest.raises(DatasetError, match=f"1 of 2 annotations missing \\(first: .*{IDS[1]}.png\\)"):
        ADE20KVal(ade_root).samples()
    Image.fromarray(real_label(IDS[0])[:100]).save(ade_root / "annotations" / "validation" / f"{IDS[0]}.png")
    with pytest.raises(ImageError, match="does not belong together"):
        load_image(ade_root / "images" / "validation" / f"{IDS[0]}.jpg",
                   ade_root / "annotations" / "validation" / f"{IDS[0]}.png")
