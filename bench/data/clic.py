"""CLIC 2020 professional validation set: 41 high-resolution RGB PNG photographs (Challenge on Learned Image
Compression), the "CLIC" set of TinyLIC's published curves and of learned-compression papers.

Files come from one public archive, ``professional_valid_2020.zip`` (``python -m bench datasets fetch clic``), which
unpacks to ``valid/*.png``. The manifest (``datasets/clic.json``) records the archive's URL and digests but not the
41 file names and hashes, which could not be established here, so the dataset checks the count instead.
Images are read as 8-bit RGB as every image dataset (:func:`bench.data.imagefile.load_rgb8`); ids are file stems.
"""

from __future__ import annotations

from bench.data.base import Dataset
from bench.data.images import file_sample
from bench.data.manifest import load_manifest, resolve_root
from bench.errors import DatasetError
from bench.schema import Sample


class CLICProfessionalValid(Dataset):
    """The 41 images of CLIC 2020 professional valid, found under ``--data-root`` (``clic/valid`` or a folder of
    the PNGs)."""

    name = "clic"
    description = "CLIC 2020 professional validation, 41 PNG photographs (about 2K resolution)"

    def _all_samples(self) -> list[Sample]:
        manifest = load_manifest(self.name)
        root = resolve_root(manifest, self.root)
        folder = root / "valid" if (root / "valid").is_dir() else root
        paths = sorted(folder.glob("*.png"))
        if len(paths) != manifest.expected_count:
            raise DatasetError(
                f"clic: found {len(paths)} PNG images in {folder}, expected {manifest.expected_count} (CLIC 2020 "
                f"professional valid); run `python -m bench datasets fetch clic --data-root DIR`, or use the "
                f"`folder` dataset for another image set"
            )
        return [file_sample(path.stem, path) for path in paths]
