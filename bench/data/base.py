"""The Dataset interface: an ordered, lazily loaded list of samples with stable ids."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

from bench.schema import Sample


class Dataset(abc.ABC):
    """A named set of images (and, for task datasets, their ground truth).

    Args:
        root: where the files are (``--data-root``); embedded datasets ignore it.
        limit: keep only the first ``limit`` samples (ordered by id), for quick runs.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, root: Path | None = None, limit: int | None = None):
        self.root = Path(root) if root is not None else None
        self.limit = limit

    @abc.abstractmethod
    def _all_samples(self) -> list[Sample]:
        """Every sample, sorted by id; raises :class:`bench.errors.DatasetError` when the data is missing."""

    def samples(self) -> list[Sample]:
        found = self._all_samples()
        return found if self.limit is None else found[: self.limit]

    def config(self) -> dict[str, Any]:
        """What identifies this dataset's content in the run store key."""
        return {"name": self.name, "root": str(self.root) if self.root else None, "limit": self.limit}
