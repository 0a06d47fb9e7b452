"""Reading image files as 8-bit RGB arrays.

Every image is decoded to 8-bit RGB explicitly, the same way for all datasets:

- greyscale, palette, CMYK and YCbCr images are converted by Pillow's ``convert("RGB")``;
- an alpha channel is dropped (no compositing), as the official MPA evaluation's ``convert("RGB")`` does;
- 16-bit images keep their most significant byte (v >> 8), which is what Pillow does for 16-bit RGB PNGs;
- EXIF orientation is ignored: pixels are used in stored order, as CompressAI and MPA read them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import ImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def load_rgb8(path: Path) -> np.ndarray:
    """Reads an image file as an (H, W, 3) uint8 array following the module's conversion rules.

    Raises:
        ImageError: the file is missing, truncated, not an image, or of an unsupported pixel format.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return _to_rgb8(image, path)
    except FileNotFoundError as error:
        raise ImageError(f"{path}: file not found") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{path}: refused as a decompression bomb ({error}); replace or remove the file") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: cannot decode image ({error}); replace or remove the file") from error


def _to_rgb8(image: Image.Image, path: Path) -> np.ndarray:
    if image.mode in SIXTEEN_BIT_MODES:
        grey = np.asarray(image).astype(np.int64)
        if grey.min() < 0 or grey.max() > 65535:
            raise ImageError(f"{path}: {image.mode} image with values outside 0..65535 is not supported")
        return np.repeat((grey >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    if image.mode == "F":
        raise ImageError(f"{path}: floating-point images are not supported; convert it to 8-bit RGB first")
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageError(f"{path}: unexpected pixel layout {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def image_ids(root: Path, paths: list[Path]) -> list[str]:
    """Ids of image files under ``root``: the relative path without extension, or with it where two files differ
    only in extension (``photo.jpg`` and ``photo.png`` stay two images)."""
    stems = [path.relative_to(root).with_suffix("").as_posix() for path in paths]
    clashing = {stem for stem in stems if stems.count(stem) > 1}
    return [path.relative_to(root).as_posix() if stem in clashing else stem for path, stem in zip(paths, stems)]


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive), sorted by relative path."""
    return sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.relative_to(root).as_posix(),
    )
