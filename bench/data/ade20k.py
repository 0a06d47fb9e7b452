"""ADE20K validation (SceneParsing ADEChallengeData2016, 2,000 images, 150 classes) with the official MPA
segmentation preprocessing (``examples/eval_seg_real_bpp.py``: semseg ``SemData`` + ``transform.Resize(512,
max_size=2048)`` + ``transform.Crop(512, 'center')`` + ``ToTensor``).

Per image:

1. read the JPEG as RGB float32 in 0..255 and the annotation PNG as 8-bit greyscale (raw ADE ids: 0 = void,
   1..150 = classes). The official code reads with OpenCV, here Pillow reads (OpenCV is not a dependency); both
   decode JPEGs with libjpeg-turbo at its default settings, so the pixels are expected to agree (not checked
   against OpenCV here). EXIF orientation is applied, as OpenCV's ``IMREAD_COLOR`` does;
2. resize so that the shorter side is 512, the longer ``int(512 * long / short)``; when that exceeds 2048 the
   longer side becomes 2048 and the shorter ``int(2048 * 512 / long')`` (torchvision's rule, as semseg uses it).
   The image is resized with OpenCV ``INTER_LINEAR`` semantics, the label with ``INTER_NEAREST`` (see
   :func:`resize_linear` and :func:`resize_nearest`); an image already of that size is left untouched;
3. centre-crop 512x512 at offset ``int((size - 512) / 2)``; a side shorter than 512 is first padded (half before,
   the rest after) with the mean (123.675, 116.28, 103.53) in the image and the ignore label 255 in the label;
4. divide the image by 255 (the codec sees this 512x512 float image, values not on the 8-bit grid) and map labels
   0 -> 255 (ignore), k -> k - 1. (semseg's ``ToTensor`` skips the division when no pixel exceeds 1.0, i.e. for
   an all but black image; that quirk is not reproduced.)

The loader returns the (512, 512, 3) float32 image in [0, 1] (see :func:`bench.tensors.image_to_tensor`);
``sample.target`` is a loader of the (512, 512) int64 label map with 255 = ignore.

Layouts accepted under ``--data-root DIR`` (or ``$MPA_BENCH_DATA``; DIR may be ``ADEChallengeData2016`` itself or the
folder that contains it):

- ``ADEChallengeData2016/images/validation/ADE_val_*.jpg`` with ``annotations/validation/ADE_val_*.png``;
- a semseg list file, one ``image_path label_path`` pair per line relative to the data root
  (``list/validation.txt`` when present, or the ``list_file`` option).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from bench.data.base import Dataset
from bench.data.manifest import load_manifest, resolve_root
from bench.errors import DatasetError, ImageError
from bench.schema import Sample

CROP_SIZE = 512
MAX_SIZE = 2048
IGNORE_LABEL = 255
NUM_CLASSES = 150
MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)  # semseg's padding value, 0..255 scale
FOLDER = "ADEChallengeData2016"
LIST_FILE = Path("list") / "validation.txt"


# ------------------------------------------------------------------------------------------------------ geometry


def resized_size(height: int, width: int, size: int = CROP_SIZE, max_size: int = MAX_SIZE) -> tuple[int, int]:
    """(new_h, new_w): shorter side ``size``, longer ``int(size * long / short)``, capped at ``max_size``."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def _linear_taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV INTER_LINEAR taps along one axis: source x = (d + 0.5) * in/out - 0.5 (scale computed in double as
    1 / (out / in), the position rounded to float32), neighbours floor(x) and floor(x) + 1 with weights
    1 - frac and frac; positions left of 0 or at/after the last pixel take the edge pixel with weight 1."""
    scale = 1.0 / (out_size / in_size)
    position = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    left = np.floor(position).astype(np.int64)
    fraction = (position - left.astype(np.float32)).astype(np.float32)
    before, after = left < 0, left >= in_size - 1
    left = np.where(before, 0, np.where(after, in_size - 1, left))
    fraction = np.where(before | after, np.float32(0.0), fraction).astype(np.float32)
    right = np.minimum(left + 1, in_size - 1)
    return torch.from_numpy(left), torch.from_numpy(right), torch.from_numpy(fraction)


def resize_linear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an (H, W, C) float32 image with OpenCV ``cv2.resize(..., INTER_LINEAR)`` semantics:
    half-pixel centres, edge clamping, no antialiasing when shrinking, float32 arithmetic, horizontal pass then
    vertical pass. (OpenCV switches exact 2x shrinking to INTER_AREA, which gives the same 2x2 means.)"""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    left, right, fx = _linear_taps(x.shape[1], width)
    fx = fx.view(1, -1, 1)
    x = x[:, left] * (1.0 - fx) + x[:, right] * fx
    top, bottom, fy = _linear_taps(x.shape[0], height)
    fy = fy.view(-1, 1, 1)
    x = x[top] * (1.0 - fy) + x[bottom] * fy
    return x.numpy()


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    """OpenCV INTER_NEAREST source index: min(floor(d * (1 / (out / in))), in - 1), in double precision."""
    scale = 1.0 / (out_size / in_size)
    return np.minimum(np.floor(np.arange(out_size, dtype=np.float64) * scale).astype(np.int64), in_size - 1)


def resize_nearest(label: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize with OpenCV ``INTER_NEAREST`` semantics (top-left aligned, no half-pixel shift)."""
    return label[_nearest_index(label.shape[0], height)][:, _nearest_index(label.shape[1], width)]


def center_crop(array: np.ndarray, fill, size: int = CROP_SIZE) -> np.ndarray:
    """semseg's centre crop: pad sides shorter than ``size`` with ``fill`` (half before, rest after), then crop
    ``size`` x ``size`` at offset ``int((side - size) / 2)``."""
    height, width = array.shape[:2]
    pad_h, pad_w = max(size - height, 0), max(size - width, 0)
    if pad_h or pad_w:
        padded = np.empty((height + pad_h, width + pad_w, *array.shape[2:]), dtype=array.dtype)
        padded[...] = np.asarray(fill, dtype=array.dtype)
        padded[pad_h // 2 : pad_h // 2 + height, pad_w // 2 : pad_w // 2 + width] = array
        array, (height, width) = padded, padded.shape[:2]
    top, left = int((height - size) / 2), int((width - size) / 2)
    return array[top : top + size, left : left + size]


def map_labels(raw: np.ndarray) -> np.ndarray:
    """Raw ADE ids to training ids as int64: 0 (void) -> 255, k -> k - 1, 255 (padding) stays 255."""
    raw = raw.astype(np.int64)
    return np.where((raw == 0) | (raw == IGNORE_LABEL), IGNORE_LABEL, raw - 1)


def preprocess_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB pixels in 0..255 (uint8 or float) -> (512, 512, 3) float32 in [0, 1], as the official eval.

    The last step divides by 255 in float32; the result is clipped to [0, 1] only to remove float rounding past
    the ends (at most one ulp).
    """
    image = image.astype(np.float32)
    height, width = image.shape[:2]
    new_size = resized_size(height, width)
    if new_size != (height, width):
        image = resize_linear(image, *new_size)
    image = center_crop(image, MEAN_255) / np.float32(255.0)
    return np.clip(image, 0.0, 1.0, out=image)


def preprocess_label(raw: np.ndarray) -> np.ndarray:
    """(H, W) raw ADE ids -> (512, 512) int64 training ids with 255 = ignore, geometry as :func:`preprocess_image`."""
    height, width = raw.shape
    new_size = resized_size(height, width)
    if new_size != (height, width):
        raw = resize_nearest(raw, *new_size)
    return map_labels(center_crop(raw, IGNORE_LABEL))


# ------------------------------------------------------------------------------------------------------- reading


def read_image(path: Path) -> np.ndarray:
    """RGB pixels of an ADE image as (H, W, 3) uint8, EXIF orientation applied (as ``cv2.imread`` does)."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError as error:
        raise ImageError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: cannot decode image ({error}); replace the file") from error


def read_label(path: Path) -> np.ndarray:
    """Raw ADE ids of an annotation PNG as (H, W) uint8."""
    try:
        with Image.open(path) as label:
            if label.mode != "L":
                raise ImageError(
                    f"{path}: annotation mode {label.mode}, expected 8-bit greyscale raw ADEChallengeData2016 ids "
                    f"(0 = void, 1..150); use the annotations of ADEChallengeData2016.zip"
                )
            return np.asarray(label)
    except FileNotFoundError as error:
        raise ImageError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: cannot decode annotation ({error}); replace the file") from error


def load_image(image_path: Path, label_path: Path) -> np.ndarray:
    """The preprocessed (512, 512, 3) float32 image in [0, 1]; checks the annotation has the image's size."""
    image = read_image(image_path)
    try:
        with Image.open(label_path) as label:
            label_size = label.size
    except (OSError, ValueError) as error:
        raise ImageError(f"{label_path}: cannot read annotation ({error})") from error
    if label_size != (image.shape[1], image.shape[0]):
        raise ImageError(
            f"{image_path}: {image.shape[1]}x{image.shape[0]} but its annotation {label_path} is "
            f"{label_size[0]}x{label_size[1]}; the pair does not belong together"
        )
    return preprocess_image(image)


def load_label(label_path: Path) -> np.ndarray:
    """The preprocessed (512, 512) int64 label map (255 = ignore)."""
    return preprocess_label(read_label(label_path))


# ------------------------------------------------------------------------------------------------------- dataset


def read_list_file(list_file: Path, root: Path) -> list[tuple[Path, Path]]:
    """Pairs of a semseg list file (``image label`` per line, paths relative to ``root``)."""
    pairs = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"{list_file}:{number}: expected 'image_path label_path', got {line.strip()!r}")
        pairs.append((root / fields[0], root / fields[1]))
    if not pairs:
        raise DatasetError(f"{list_file}: no image/label pairs")
    return pairs


def scan_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Pairs of the ADEChallengeData2016 layout: each validation JPEG with the PNG of the same name."""
    images = sorted((root / "images" / "validation").glob("ADE_val_*.jpg"))
    if not images:
        raise DatasetError(f"{root / 'images' / 'validation'}: no ADE_val_*.jpg images")
    return [(path, root / "annotations" / "validation" / f"{path.stem}.png") for path in images]


class ADE20KVal(Dataset):
    """ADE20K validation (2,000 images) at 512x512 with the official MPA preprocessing and raw-id label mapping.

    Args:
        root: ``ADEChallengeData2016`` (or its parent), or the semseg data root of ``list_file``.
        limit: keep the first ``limit`` images by id.
        list_file: a semseg list file (default ``root/list/validation.txt`` when present, else the folder layout).
    """

    name = "ade20k"
    description = "ADE20K val (ADEChallengeData2016), 2000 images, 512 centre crop, PSPNet-50 mIoU"
    preprocessing = "shorter side 512, centre crop 512 (official MPA)"

    def __init__(self, root: Path | None = None, limit: int | None = None, list_file: Path | None = None):
        super().__init__(root, limit)
        self.list_file = Path(list_file) if list_file is not None else None

    def _pairs(self) -> list[tuple[Path, Path]]:
        if self.list_file is not None or (self.root is not None and (self.root / LIST_FILE).is_file()):
            if self.root is None:
                raise DatasetError("ade20k: a list file needs the data root its paths are relative to (--data-root)")
            return read_list_file(self.list_file or self.root / LIST_FILE, self.root)
        root = resolve_root(load_manifest(self.name), self.root)  # DIR/ADEChallengeData2016, DIR, $MPA_BENCH_DATA
        if (root / "images" / "validation").is_dir():
            return scan_pairs(root)
        raise DatasetError(
            f"{root}: neither {FOLDER}/images/validation nor {LIST_FILE} found; "
            f"run `python -m bench datasets fetch ade20k --data-root {self.root or 'DIR'}`"
        )

    def _all_samples(self) -> list[Sample]:
        pairs = self._pairs()
        missing = [label for _, label in pairs if not label.is_file()]
        if missing:
            raise DatasetError(
                f"ade20k: {len(missing)} of {len(pairs)} annotations missing (first: {missing[0]}); "
                f"run `python -m bench datasets verify ade20k --data-root {self.root}`"
            )
        samples = [
            Sample(
                image_id=image.stem,
                loader=functools.partial(load_image, image, label),
                path=image,
                target=functools.partial(load_label, label),
                target_path=label,
            )
            for image, label in pairs
        ]
        return sorted(samples, key=lambda sample: sample.image_id)

    def config(self) -> dict:
        return {**super().config(), "list_file": str(self.list_file) if self.list_file else None}

