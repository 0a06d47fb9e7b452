"""sample -> digest: the sha256 of the pixels a codec encodes, and of the ground truth a task metric scores.

The digest is part of every run-store key, so a number is never served for other images under the same names
(another data root, an edited file, changed preprocessing). It hashes the array the dataset's loader returns (the
codec's input after the dataset's official preprocessing), its dtype and shape, and the sample's target (a class
index, or the pixels of a label map).

Computing it means decoding the image, so digests are cached per file in ``$MPA_BENCH_CACHE/image-digests.sqlite``
(default ``~/.cache/mpa-bench``), keyed by the file's path, size and modification time, the target file's, and the
dataset's loader (name, class, ``code_version`` and options). A cache that cannot be opened or written is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from bench import __version__
from bench.schema import Sample
from bench.weights import cache_root

log = logging.getLogger(__name__)

DIGEST_VERSION = 1
CACHE_NAME = "image-digests.sqlite"


def array_digest(image: np.ndarray, target: Any = None) -> str:
    """sha256 of an image array (dtype, shape and bytes) and of its target (None, an int, or an array)."""
    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"mpa-bench-image/{DIGEST_VERSION} {image.dtype.str} {image.shape}\n".encode())
    digest.update(image.data)
    if target is not None:
        if isinstance(target, np.ndarray):
            target = np.ascontiguousarray(target)
            digest.update(f"\ntarget {target.dtype.str} {target.shape}\n".encode())
            digest.update(target.data)
        else:
            digest.update(f"\ntarget {json.dumps(target)}\n".encode())
    return digest.hexdigest()


def target_value(sample: Sample) -> Any:
    """The sample's ground truth as a value (a loader is called: ADE20K label maps)."""
    target = sample.target
    return target() if callable(target) else target


def sample_digest(sample: Sample, image: np.ndarray | None = None) -> str:
    """The digest of one sample; ``image`` is its loaded array when the caller has it already."""
    return array_digest(sample.load() if image is None else image, target_value(sample))


def _file_identity(path: Path) -> list:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


class DigestCache:
    """Digests of samples already hashed, keyed by file identity and loader (see the module docstring).

    Args:
        loader: identifies how the dataset turns files into arrays (its name, class, code version and options).
        path: the cache file (default in the mpa-bench cache root).
    """

    def __init__(self, loader: Any, path: Path | None = None):
        self.loader = json.dumps([__version__, DIGEST_VERSION, loader], sort_keys=True, default=str)
        self.path = path or cache_root() / CACHE_NAME
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0)
            self._db.execute("CREATE TABLE IF NOT EXISTS digests (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as error:
            log.debug("image digest cache %s unavailable: %s", self.path, error)
            self._db = None

    def key(self, sample: Sample) -> str | None:
        """The cache key of a sample, or None when it cannot be cached (no file, or a target without a file)."""
        if sample.path is None or (callable(sample.target) and sample.target_path is None):
            return None
        try:
            parts = [self.loader, _file_identity(Path(sample.path))]
            if sample.target_path is not None:
                parts.append(_file_identity(Path(sample.target_path)))
            elif sample.target is not None:
                parts.append(json.dumps(sample.target))
        except (OSError, TypeError):
            return None
        return json.dumps(parts)

    def get(self, sample: Sample) -> str | None:
        key = self.key(sample)
        if key is None or self._db is None:
            return None
        try:
            found = self._db.execute("SELECT sha256 FROM digests WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        return found[0] if found else None

    def put(self, sample: Sample, sha256: str) -> None:
        key = self.key(sample)
        if key is None or self._db is None:
            return
        try:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?)", (key, sha256))
        except sqlite3.Error as error:
            log.debug("cannot write image digest cache %s: %s", self.path, error)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
