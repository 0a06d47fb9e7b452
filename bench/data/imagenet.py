"""ImageNet-1k validation (ILSVRC2012, 50,000 images, 1,000 classes) with the official MPA classification
preprocessing (``examples/eval_cls_real_bpp.py``): ``Resize(int(256 / 0.875) = 292, bicubic)`` of the shorter side,
``CenterCrop(256)``, ``ToTensor``. The codec sees the 256x256 crop; the classifier gets the 256x256 reconstruction
(no resize to 224).

Pixels: Pillow ``convert("RGB")`` as torchvision's ``ImageFolder`` loader (no EXIF orientation); the resize is
Pillow's bicubic (antialiased when shrinking, torchvision's path for PIL images) to (292, int(292 * long / short));
the crop offset is ``int(round((size - 256) / 2))``. The loader returns (256, 256, 3) uint8.

Class indices are positions in the sorted list of the 1,000 ILSVRC2012 WordNet ids (n01440764 = 0, ...), the
order of ``ImageFolder`` over the 1,000 synset folders and of the timm/torchvision classifiers. Layouts accepted
under ``--data-root DIR``:

- **synset folders**: ``DIR/val/nXXXXXXXX/*.JPEG`` (or ``DIR/nXXXXXXXX/*.JPEG``), ImageFolder style;
- **flat**: ``DIR/ILSVRC2012_val_00000001.JPEG`` ... (or under ``DIR/val``) with one ground-truth file:

  - ``LOC_val_solution.csv`` (Kaggle ImageNet Object Localization): ``ImageId,PredictionString``; the class is the
    first WordNet id of the prediction string;
  - ``val.txt`` ("filename label" per line, label = sorted-synset index, the Caffe convention many repositories
    use);
  - ``ILSVRC2012_validation_ground_truth.txt`` of the ILSVRC2012 devkit, with the devkit's ``meta.mat`` (both in
    ``ILSVRC2012_devkit_t12/data`` or beside the images). The devkit file holds ILSVRC2012_IDs (1..1000 in the
    devkit's own order, not the sorted-synset order); ``meta.mat`` maps them to WordNet ids.

  The ``labels`` option names the ground-truth file explicitly.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.data.base import Dataset
from bench.data.manifest import load_manifest, resolve_root
from bench.errors import DatasetError, ImageError
from bench.schema import Sample

RESIZE = int(256 / 0.875)  # 292
CROP = 256
NUM_CLASSES = 1000
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
WNID = re.compile(r"^n\d{8}$")
VAL_NAME = re.compile(r"^ILSVRC2012_val_(\d{8})$")
LOC_SOLUTION = "LOC_val_solution.csv"
VAL_TXT = "val.txt"
DEVKIT_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = "meta.mat"
DEVKIT_DIR = Path("ILSVRC2012_devkit_t12") / "data"


# ------------------------------------------------------------------------------------------------- preprocessing


def resized_size(width: int, height: int, size: int = RESIZE) -> tuple[int, int]:
    """(new_w, new_h) with the shorter side ``size`` and the longer ``int(size * long / short)`` (torchvision)."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def preprocess(image: Image.Image) -> np.ndarray:
    """An RGB PIL image -> (256, 256, 3) uint8: bicubic shorter side 292, centre crop 256."""
    new_size = resized_size(*image.size)
    if new_size != image.size:
        image = image.resize(new_size, Image.BICUBIC)
    width, height = image.size
    if width < CROP or height < CROP:  # cannot happen after the resize to 292; guards odd inputs
        raise ImageError(f"image of {width}x{height} is smaller than the {CROP} crop")
    top, left = int(round((height - CROP) / 2.0)), int(round((width - CROP) / 2.0))
    return np.asarray(image.crop((left, top, left + CROP, top + CROP)))


def load_image(path: Path) -> np.ndarray:
    """Reads ``path`` as RGB and applies :func:`preprocess`."""
    try:
        with Image.open(path) as image:
            return preprocess(image.convert("RGB"))
    except FileNotFoundError as error:
        raise ImageError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: cannot decode image ({error}); replace the file") from error


# ---------------------------------------------------------------------------------------------------- class ids


@functools.lru_cache(maxsize=1)
def synsets() -> tuple[str, ...]:
    """The 1,000 ILSVRC2012 WordNet ids in sorted order (class index = position), from timm's data files."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the ImageNet synset list comes with timm, which is not installed; pip install timm")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "_info" / "imagenet_synsets.txt"
    wnids = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(wnids) != NUM_CLASSES or list(wnids) != sorted(wnids):
        raise DatasetError(f"{path}: expected the 1000 sorted ILSVRC2012 synsets, got {len(wnids)} entries")
    return wnids


def synset_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(synsets())}


def _stem_key(name: str) -> str:
    """File name or image id -> image id (folders and extension dropped)."""
    return Path(name.strip()).stem


def read_loc_solution(path: Path) -> dict[str, int]:
    """Kaggle ``LOC_val_solution.csv``: image id -> class index of the first WordNet id of its boxes."""
    index = synset_index()
    labels = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                wnid = row["PredictionString"].split()[0]
                labels[_stem_key(row["ImageId"])] = index[wnid]
            except (KeyError, IndexError) as error:
                raise DatasetError(
                    f"{path}: malformed row {row} ({error!r}); expected ImageId,PredictionString"
                ) from error
    return labels


def read_val_txt(path: Path) -> dict[str, int]:
    """``filename label`` per line (label = sorted-synset index 0..999): image id -> class index."""
    labels = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].isdigit() or not 0 <= int(fields[1]) < NUM_CLASSES:
            raise DatasetError(f"{path}:{number}: expected 'filename label' with label 0..999, got {line.strip()!r}")
        labels[_stem_key(fields[0])] = int(fields[1])
    return labels


def read_devkit_meta(path: Path) -> dict[int, str]:
    """ILSVRC2012 devkit ``meta.mat``: ILSVRC2012_ID (1..1000) -> WordNet id of the 1,000 leaf synsets."""
    from scipy.io import loadmat

    try:
        entries = loadmat(str(path), squeeze_me=True)["synsets"]
        mapping = {
            int(entry["ILSVRC2012_ID"]): str(entry["WNID"])
            for entry in np.atleast_1d(entries)
            if int(entry["num_children"]) == 0
        }
    except (KeyError, ValueError, TypeError, OSError, NotImplementedError) as error:
        raise DatasetError(f"{path}: not an ILSVRC2012 devkit meta.mat ({error})") from error
    if len(mapping) != NUM_CLASSES:
        raise DatasetError(f"{path}: {len(mapping)} leaf synsets, expected {NUM_CLASSES}")
    return mapping


def read_devkit_truth(path: Path, meta: Path) -> dict[str, int]:
    """Devkit ground truth: line i holds the ILSVRC2012_ID of ILSVRC2012_val_{i:08d}; mapped through ``meta``."""
    wnid_of = read_devkit_meta(meta)
    index = synset_index()
    labels = {}
    for number, line in enumerate(path.read_text().split(), start=1):
        try:
            labels[f"ILSVRC2012_val_{number:08d}"] = index[wnid_of[int(line)]]
        except (KeyError, ValueError) as error:
            raise DatasetError(f"{path}:{number}: {line!r} is not an ILSVRC2012_ID of {meta}") from error
    return labels


def read_labels(path: Path, search: list[Path]) -> dict[str, int]:
    """Reads a ground-truth file of any accepted kind (by its name; ``.csv`` = Kaggle format)."""
    if path.name == DEVKIT_TRUTH:
        metas = [folder / DEVKIT_META for folder in [path.parent, *search]]
        meta = next((m for m in metas if m.is_file()), None)
        if meta is None:
            raise DatasetError(
                f"{path}: the devkit ground truth uses ILSVRC2012_IDs, which need the devkit's {DEVKIT_META} to map "
                f"to classes; put {DEVKIT_META} beside it (from ILSVRC2012_devkit_t12.tar.gz)"
            )
        return read_devkit_truth(path, meta)
    if path.suffix.lower() == ".csv":
        return read_loc_solution(path)
    return read_val_txt(path)


# ------------------------------------------------------------------------------------------------------ dataset


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class ImageNetVal(Dataset):
    """ImageNet-1k val at 256x256 with the official MPA preprocessing; ``sample.target`` is the class index.

    Args:
        root: the data root (see the module docstring for the layouts).
        limit: keep the first ``limit`` images by id (ILSVRC2012_val_00000001, ...).
        labels: ground-truth file for the flat layout (default: the first found of ``LOC_val_solution.csv``,
            ``val.txt``, ``ILSVRC2012_validation_ground_truth.txt`` beside the images or in the devkit folder).
    """

    name = "imagenet"
    description = "ImageNet-1k val (ILSVRC2012), 50000 images, 292 bicubic + 256 centre crop, top-1/top-5"
    preprocessing = "shorter side 292 bicubic, centre crop 256 (official MPA)"

    def __init__(self, root: Path | None = None, limit: int | None = None, labels: Path | None = None):
        super().__init__(root, limit)
        self.labels = Path(labels) if labels is not None else None

    def _all_samples(self) -> list[Sample]:
        root = resolve_root(load_manifest(self.name), self.root)  # DIR/imagenet, DIR or $MPA_BENCH_DATA
        base = root / "val" if (root / "val").is_dir() else root
        folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        synset_folders = [folder for folder in folders if WNID.match(folder.name)]
        if synset_folders and self.labels is None:
            pairs = self._folder_layout(base, synset_folders, self._synset_labels(base, synset_folders))
        elif self.labels is not None or any(VAL_NAME.match(p.stem) for p in _images_in(base)):
            pairs = self._flat_layout(root, base)
        elif len(folders) == NUM_CLASSES:  # ImageFolder over 1000 folders of another naming: sorted order
            pairs = self._folder_layout(base, folders, {folder.name: i for i, folder in enumerate(folders)})
        else:
            raise DatasetError(
                f"{base}: neither synset folders (nXXXXXXXX/) nor flat ILSVRC2012_val_*.JPEG images; "
                f"see `python -m bench datasets fetch imagenet` for the expected layouts"
            )
        samples = [
            Sample(image_id=path.stem, loader=functools.partial(load_image, path), path=path, target=label)
            for path, label in pairs
        ]
        samples.sort(key=lambda sample: sample.image_id)
        duplicates = [a.image_id for a, b in zip(samples, samples[1:]) if a.image_id == b.image_id]
        if duplicates:
            raise DatasetError(f"{base}: image id {duplicates[0]} occurs in more than one folder")
        return samples

    @staticmethod
    def _synset_labels(base: Path, folders: list[Path]) -> dict[str, int]:
        """WordNet-id folders -> canonical class index (so a subset of the classes keeps the right indices)."""
        index = synset_index()
        unknown = [folder.name for folder in folders if folder.name not in index]
        if unknown:
            raise DatasetError(f"{base / unknown[0]}: not one of the 1000 ILSVRC2012 synsets")
        return {folder.name: index[folder.name] for folder in folders}

    @staticmethod
    def _folder_layout(base: Path, folders: list[Path], label_of: dict[str, int]) -> list[tuple[Path, int]]:
        pairs = [(path, label_of[folder.name]) for folder in folders for path in _images_in(folder)]
        if not pairs:
            raise DatasetError(f"{base}: the class folders hold no images")
        return pairs

    def _ground_truth_file(self, root: Path, base: Path) -> Path:
        if self.labels is not None:
            if not self.labels.is_file():
                raise DatasetError(f"{self.labels}: ground-truth file not found")
            return self.labels
        folders = [base, root, root / DEVKIT_DIR, base / DEVKIT_DIR]
        for name in (LOC_SOLUTION, VAL_TXT, DEVKIT_TRUTH):
            for folder in folders:
                if (folder / name).is_file():
                    return folder / name
        raise DatasetError(
            f"{base}: flat ILSVRC2012 val images need a ground-truth file: {LOC_SOLUTION}, {VAL_TXT} or "
            f"{DEVKIT_DIR / DEVKIT_TRUTH} with {DEVKIT_META} (or put the images in synset folders)"
        )

    def _flat_layout(self, root: Path, base: Path) -> list[tuple[Path, int]]:
        images = [p for p in _images_in(base) if VAL_NAME.match(p.stem)]
        if not images:
            raise DatasetError(f"{base}: no ILSVRC2012_val_*.JPEG images and no synset folders")
        truth = self._ground_truth_file(root, base)
        labels = read_labels(truth, [root, root / DEVKIT_DIR, base / DEVKIT_DIR])
        missing = [p.name for p in images if p.stem not in labels]
        if missing:
            raise DatasetError(f"{truth}: no label for {len(missing)} images (first: {missing[0]})")
        return [(path, labels[path.stem]) for path in images]

    def config(self) -> dict:
        return {**super().config(), "labels": str(self.labels) if self.labels else None}
