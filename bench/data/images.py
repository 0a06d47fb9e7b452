"""Image datasets: the embedded ``sample`` set, any ``folder`` of images, and manifest-checked sets (Kodak).

Images are read as 8-bit RGB by :func:`bench.data.imagefile.load_rgb8` (conversion rules documented there).
"""

from __future__ import annotations

import functools
from pathlib import Path

from bench.data.base import Dataset
from bench.data.imagefile import IMAGE_EXTENSIONS, image_ids, list_images, load_rgb8
from bench.data.manifest import Manifest, load_manifest, resolve_root
from bench.errors import DatasetError
from bench.schema import Sample


def file_sample(image_id: str, path: Path) -> Sample:
    return Sample(image_id=image_id, loader=functools.partial(load_rgb8, path), path=path)


def _embedded_files() -> dict[str, Path]:
    import matplotlib
    import skimage.data

    skimage_dir = Path(skimage.data.data_dir)
    return {
        "astronaut": skimage_dir / "astronaut.png",
        "chelsea": skimage_dir / "chelsea.png",
        "coffee": skimage_dir / "coffee.png",
        "grace_hopper": Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
        "hubble_deep_field": skimage_dir / "hubble_deep_field.jpg",
        "motorcycle_left": skimage_dir / "motorcycle_left.png",
        "rocket": skimage_dir / "rocket.jpg",
    }


class SampleDataset(Dataset):
    """Seven real colour photographs shipped inside installed packages (scikit-image data, matplotlib), offline.

    Sizes from 451x300 to 1000x872; ids are the image names (``astronaut``, ``chelsea``, ...).
    """

    name = "sample"
    description = "7 colour photographs embedded in scikit-image and matplotlib (offline default)"

    def _all_samples(self) -> list[Sample]:
        files = _embedded_files()
        missing = [str(path) for path in files.values() if not path.is_file()]
        if missing:
            raise DatasetError(
                f"embedded sample images are missing ({', '.join(missing)}); reinstall scikit-image and matplotlib"
            )
        return [file_sample(image_id, path) for image_id, path in sorted(files.items())]


class FolderDataset(Dataset):
    """Every image under a directory (recursive, sorted); ids are relative paths without extension."""

    name = "folder"
    description = "any directory of images (--data-root DIR)"

    def _all_samples(self) -> list[Sample]:
        if self.root is None:
            raise DatasetError("the folder dataset needs a directory: pass --data-root DIR")
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a directory; pass --data-root DIR with the images")
        paths = list_images(self.root)
        if not paths:
            raise DatasetError(f"{self.root}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        return [file_sample(image_id, path) for image_id, path in zip(image_ids(self.root, paths), paths)]


class ManifestDataset(Dataset):
    """A dataset whose files are listed, with sha256, in ``datasets/<name>.json``."""

    def manifest(self) -> Manifest:
        return load_manifest(self.name)

    def _all_samples(self) -> list[Sample]:
        manifest = self.manifest()
        root = resolve_root(manifest, self.root)
        missing = [entry.path for entry in manifest.files if not (root / entry.path).is_file()]
        if missing:
            raise DatasetError(
                f"{self.name}: {len(missing)} of {len(manifest.files)} files missing under {root} "
                f"(first: {missing[0]}); manifest {manifest.source_path}; "
                f"run `python -m bench datasets fetch {self.name} --data-root DIR` or `... verify {self.name}`"
            )
        paths = [root / entry.path for entry in manifest.files]
        return [file_sample(image_id, path) for image_id, path in zip(image_ids(root, paths), paths)]


class KodakDataset(ManifestDataset):
    """The 24 Kodak images (768x512 / 512x768), the field's standard test set."""

    name = "kodak"
    description = "Kodak Lossless True Color Image Suite, 24 images"
