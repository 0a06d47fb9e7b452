"""The Dataset interface: an ordered, lazily loaded list of samples with stable ids."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

from bench.errors import DatasetError
from bench.schema import Sample


class Dataset(abc.ABC):
    """A named set of images (and, for task datasets, their ground truth).

    Args:
        root: where the files are (``--data-root``); embedded datasets ignore it.
        limit: keep only the first ``limit`` samples (ordered by id), for quick runs.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # Bump when a change to this dataset's loading or preprocessing changes the pixels its samples return: cached
    # image digests (bench.data.digest) are keyed by it.
    code_version: ClassVar[int] = 1
    # What is done to each image before coding (stated in exports beside the image count).
    preprocessing: ClassVar[str] = "none"

    def __init__(self, root: Path | None = None, limit: int | None = None):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise DatasetError(f"{self.name}: limit must be a whole number >= 1, got {limit!r}")
        self.root = Path(root) if root is not None else None
        self.limit = limit

    @abc.abstractmethod
    def _all_samples(self) -> list[Sample]:
        """Every sample, sorted by id; raises :class:`bench.errors.DatasetError` when the data is missing."""

    def samples(self) -> list[Sample]:
        found = self._all_samples()
        return found if self.limit is None else found[: self.limit]

    def config(self) -> dict[str, Any]:
        """The dataset's options as given (recorded with the run)."""
        return {"name": self.name, "root": str(self.root) if self.root else None, "limit": self.limit}

    def loader_identity(self) -> dict[str, Any]:
        """What, besides a file's content, decides the pixels a sample loads: keys the image digest cache."""
        return {"name": self.name, "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "code_version": self.code_version}
