"""Downloads that verify: fetch a URL to a file atomically and check its sha256 (for weights and datasets)."""

from __future__ import annotations

import hashlib
import http.client
import urllib.request
from pathlib import Path

from tqdm import tqdm

from bench.atomic import atomic_path
from bench.errors import BenchError

CHUNK = 1 << 20


class DownloadError(BenchError):
    """A download that failed, was truncated, or does not match its expected sha256."""


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# Digests of files already hashed in this process, keyed by (path, size, mtime): a weights file opened by several
# metrics (or checked on every load) is hashed once.
_digests: dict[tuple[str, int, int], str] = {}


def sha256_of_file_cached(path: Path) -> str:
    """:func:`sha256_of_file`, memoised per (path, size, modification time)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_of_file(path)
    return _digests[key]


def download(url: str, destination: Path, sha256: str | None, timeout: float = 60.0, progress: bool = True) -> Path:
    """Downloads ``url`` to ``destination`` through a temporary file renamed into place only once verified.

    Raises:
        DownloadError: on a network error, a response shorter than its Content-Length, or a sha256 mismatch.
            ``destination`` is left untouched in every failure case.
    """
    destination = Path(destination)
    digest = hashlib.sha256()
    received = 0
    with atomic_path(destination) as temporary, open(temporary, "wb") as out:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)
        except OSError as error:
            raise DownloadError(f"cannot download {url}: {error}") from error
        with response:
            expected = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=destination.name, disable=not progress) as bar:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as error:
                        raise DownloadError(f"download of {url} broke off after {received} bytes: {error}") from error
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
        if expected is not None and received != expected:
            raise DownloadError(f"download of {url} is truncated: {received} of {expected} bytes")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise DownloadError(
                f"download of {url} has sha256 {digest.hexdigest()}, expected {sha256}; the file was not kept"
            )
        out.flush()
    return destination
