"""Dataset manifests (``datasets/<name>.json``): which files a dataset has, their sha256, where they come from.

A manifest is JSON::

    {"name": "kodak", "description": ..., "homepage": ..., "license": ..., "layout": ...,
     "folder": "kodak",                       # sub-folder of --data-root that holds the files
     "files": [{"path": "kodim01.png", "size": 736501, "sha256": ..., "pixels_sha256": ...,
                "width": 768, "height": 512, "url": ...}, ...]}

``pixels_sha256`` is the sha256 of the decoded 8-bit RGB pixels (row-major H x W x 3 bytes), so a file that was
re-encoded losslessly (different bytes, same pixels) still verifies.

Datasets published as one archive, or not published at all, add (see "Archives and unlisted files" below)::

     "archive": {"url": ..., "filename": ..., "sha1" | "md5" | "sha256": ..., "size": ...,
                 "members": ["prefix/", ...],     # extract only these (default: everything but __MACOSX/)
                 "destination": ""},              # where under --data-root the members go
     "fetch_note": "...",                         # no public URL: where to get the data (fetch prints it)
     "expected_count": 41, "dataset": "clic"      # no file list: verify counts the samples of that dataset
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from bench.data.imagefile import load_rgb8
from bench.download import download, sha256_of_file
from bench.errors import DatasetError, ImageError

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "datasets"
DATA_ENV = "MPA_BENCH_DATA"


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int | None = None
    sha256: str | None = None
    pixels_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    source_path: Path
    folder: str
    files: tuple[ManifestFile, ...]
    description: str = ""
    homepage: str = ""
    license: str = ""
    layout: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    archive: Archive | None = None
    fetch_note: str = ""
    expected_count: int | None = None
    dataset: str | None = None


@dataclass(frozen=True)
class FileStatus:
    """Verification result of one manifest file: ``ok``, ``reencoded`` (same pixels), ``missing`` or ``corrupt``."""

    path: str
    status: str
    detail: str = ""

    @property
    def good(self) -> bool:
        return self.status in ("ok", "reencoded")


def manifest_names() -> list[str]:
    return sorted(p.stem for p in MANIFEST_DIR.glob("*.json"))


def load_manifest(name: str) -> Manifest:
    path = MANIFEST_DIR / f"{name}.json"
    if not path.is_file():
        raise DatasetError(f"no manifest {path}; known manifests: {', '.join(manifest_names()) or 'none'}")
    raw = json.loads(path.read_text())
    return Manifest(
        name=raw["name"],
        source_path=path,
        folder=raw.get("folder", raw["name"]),
        files=tuple(ManifestFile(**entry) for entry in raw["files"]),
        description=raw.get("description", ""),
        homepage=raw.get("homepage", ""),
        license=raw.get("license", ""),
        layout=raw.get("layout", ""),
        notes=tuple(raw.get("notes", ())),
        archive=Archive(**raw["archive"]) if "archive" in raw else None,
        fetch_note=raw.get("fetch_note", ""),
        expected_count=raw.get("expected_count"),
        dataset=raw.get("dataset"),
    )


def resolve_root(manifest: Manifest, data_root: Path | None) -> Path:
    """The folder holding a dataset's files: ``DIR/<folder>`` if it exists, else ``DIR`` itself.

    ``DIR`` is ``--data-root``, else the ``MPA_BENCH_DATA`` environment variable.
    """
    if data_root is None:
        if DATA_ENV not in os.environ:
            raise DatasetError(
                f"{manifest.name}: no data folder given; pass --data-root DIR or set {DATA_ENV} "
                f"(manifest {manifest.source_path}; see `python -m bench datasets list`)"
            )
        data_root = Path(os.environ[DATA_ENV])
    data_root = Path(data_root)
    nested = data_root / manifest.folder
    root = nested if nested.is_dir() else data_root
    if not root.is_dir():
        raise DatasetError(
            f"{manifest.name}: data folder {data_root} does not exist (manifest {manifest.source_path}); "
            f"run `python -m bench datasets fetch {manifest.name} --data-root {data_root}`"
        )
    return root


def pixels_sha256(path: Path) -> str:
    return hashlib.sha256(load_rgb8(path).tobytes()).hexdigest()


def verify_file(root: Path, entry: ManifestFile) -> FileStatus:
    path = root / entry.path
    if not path.is_file():
        return FileStatus(entry.path, "missing")
    if entry.sha256 is None or sha256_of_file(path) == entry.sha256:
        return FileStatus(entry.path, "ok")
    if entry.pixels_sha256 is None:
        return FileStatus(entry.path, "corrupt", "sha256 differs")
    try:
        same_pixels = pixels_sha256(path) == entry.pixels_sha256
    except ImageError as error:
        return FileStatus(entry.path, "corrupt", str(error))
    if same_pixels:
        return FileStatus(entry.path, "reencoded", "file bytes differ, decoded pixels match")
    return FileStatus(entry.path, "corrupt", "sha256 and decoded pixels differ")


def verify(manifest: Manifest, data_root: Path | None) -> Iterator[FileStatus]:
    root = resolve_root(manifest, data_root)
    if not manifest.files and manifest.expected_count is not None:
        yield verify_count(manifest, root)
    for entry in manifest.files:
        yield verify_file(root, entry)


def fetch(manifest: Manifest, data_root: Path) -> Iterator[FileStatus]:
    """Downloads every missing or corrupt file that has a public URL into ``data_root/<folder>``."""
    if manifest.archive is not None or manifest.fetch_note:
        yield from fetch_unlisted(manifest, data_root)
        return
    root = Path(data_root) / manifest.folder
    root.mkdir(parents=True, exist_ok=True)
    for entry in manifest.files:
        status = verify_file(root, entry)
        if status.good:
            yield status
            continue
        if not entry.url:
            yield FileStatus(entry.path, status.status, f"no public URL; see {manifest.homepage or manifest.source_path}")
            continue
        # Mirrors may serve re-encoded PNGs: accept the bytes, then check the decoded pixels.
        download(entry.url, root / entry.path, sha256=None if entry.pixels_sha256 else entry.sha256)
        yield verify_file(root, entry)


# ------------------------------------------------------------------------------ archives and unlisted files
# Datasets that are published as one archive (ADE20K, CLIC) or only behind a login (ImageNet). Their manifests
# may not list every file with a hash; verify then counts the samples the dataset class finds.


@dataclass(frozen=True)
class Archive:
    """A dataset archive: where it is, how to check it, and which members to extract where.

    Attributes:
        url: public download URL.
        filename: name of the downloaded file (kept in ``--data-root/.downloads``).
        size: expected size in bytes, when known.
        sha256, sha1, md5: expected digests, whichever could be established (all given ones are checked).
        members: member-name prefixes to extract (default: all but ``__MACOSX/``).
        destination: folder under ``--data-root`` that the members are extracted into.
        source: where the URL and digests were established.
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None
    members: tuple[str, ...] = ()
    destination: str = ""
    source: str = ""


def _archive_problem(path: Path, archive: Archive) -> str | None:
    """Why ``path`` is not the archive (wrong size or digest), or None when it is."""
    if archive.size is not None and path.stat().st_size != archive.size:
        return f"size {path.stat().st_size} bytes, expected {archive.size}"
    wanted = {name: getattr(archive, name) for name in ("sha256", "sha1", "md5") if getattr(archive, name)}
    if not wanted:
        return None
    digests = {name: hashlib.new(name) for name in wanted}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    for name, digest in digests.items():
        if digest.hexdigest() != wanted[name]:
            return f"{name} {digest.hexdigest()}, expected {wanted[name]}"
    return None


def fetch_archive(manifest: Manifest, data_root: Path, progress: bool = True) -> Path:
    """Downloads the manifest's archive (unless a verified copy is in ``data_root/.downloads``), checks its size
    and digests, and extracts the selected members under ``data_root/<destination>``.

    Members are extracted into a temporary folder beside their destination and each file is then moved into
    place with an atomic rename, so an interrupted fetch leaves no partly written file.

    Raises:
        DatasetError: the downloaded archive does not match its size or digests, or is not a zip file.
        bench.download.DownloadError: network failure or truncated download.
    """
    archive = manifest.archive
    if archive is None:
        raise DatasetError(f"{manifest.source_path}: no archive to fetch")
    data_root = Path(data_root)
    path = data_root / ".downloads" / archive.filename
    if not path.is_file() or _archive_problem(path, archive) is not None:
        download(archive.url, path, sha256=archive.sha256, progress=progress)
        problem = _archive_problem(path, archive)
        if problem is not None:
            path.unlink()
            raise DatasetError(f"{archive.url}: downloaded archive has {problem}; it was removed, try again later")
    destination = data_root / archive.destination
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(path) as zipped, tempfile.TemporaryDirectory(dir=destination, prefix=".extract-") as tmp:
            names = [
                name for name in zipped.namelist()
                if not name.startswith("__MACOSX/") and not name.endswith("/")
                and (not archive.members or name.startswith(tuple(archive.members)))
            ]
            for name in names:
                extracted = Path(zipped.extract(name, tmp))  # zipfile drops absolute parts and '..'
                target = destination / extracted.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(extracted, target)
    except zipfile.BadZipFile as error:
        raise DatasetError(f"{path}: not a zip archive ({error}); delete it and fetch again") from error
    return destination


def verify_count(manifest: Manifest, root: Path) -> FileStatus:
    """For a manifest without a file list: the samples its dataset class finds against ``expected_count``."""
    from bench.data import datasets

    label = f"{manifest.expected_count} images"
    try:
        found = len(datasets.get(manifest.dataset or manifest.name)(root=root).samples())
    except DatasetError as error:
        return FileStatus(label, "missing", str(error))
    if found != manifest.expected_count:
        return FileStatus(label, "corrupt", f"found {found} images under {root}")
    return FileStatus(label, "ok")


def fetch_unlisted(manifest: Manifest, data_root: Path) -> Iterator[FileStatus]:
    """fetch for archive manifests (download + extract when anything is missing) and for data without a public
    URL (raises with the manifest's ``fetch_note``)."""
    if manifest.archive is None:
        raise DatasetError(f"{manifest.name} cannot be downloaded automatically: {manifest.fetch_note}")
    data_root = Path(data_root)
    statuses = list(verify(manifest, data_root)) if (data_root / manifest.folder).is_dir() else []
    if not statuses or not all(status.good for status in statuses):
        fetch_archive(manifest, data_root)
        statuses = list(verify(manifest, data_root))
    yield from statuses
