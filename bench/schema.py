"""Typed data contracts shared by codecs, datasets, metrics and the engine, and the result keys written once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

# Keys of the CompressAI result JSON (``{name, description, results: {...}}``) and of stored metric values.
KEY_BPP = "bpp"
KEY_PAYLOAD_BPP = "payload-bpp"
KEY_PSNR = "psnr-rgb"
KEY_MS_SSIM = "ms-ssim-rgb"
KEY_MS_SSIM_DB = "ms-ssim-db-rgb"
KEY_ENCODING_TIME = "encoding_time"
KEY_DECODING_TIME = "decoding_time"

DEFAULT_VARIANT = "default"


@dataclass(frozen=True)
class Bitstream:
    """The exact bytes a file would hold, plus what the encoder knows about them.

    A codec's ``decode`` must use ``data`` only, so that a bitstream read back from disk decodes identically.

    Attributes:
        data: every byte of the encoded file (headers and container included).
        height, width: size of the original, unpadded image; bpp is normalised by it.
        payload_bytes: bytes of the entropy-coded payload only (CompressAI's convention for learned codecs);
            equals ``len(data)`` for classical file formats.
        header: parsed header fields (informational).
        timings: optional breakdown of the encode time in seconds (e.g. ``{"network": .., "entropy": ..}``).
    """

    data: bytes
    height: int
    width: int
    payload_bytes: int
    header: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        return len(self.data)

    @property
    def bpp(self) -> float:
        """8 x (bytes of the file) / (H x W) of the unpadded image."""
        return 8.0 * len(self.data) / (self.height * self.width)

    @property
    def payload_bpp(self) -> float:
        return 8.0 * self.payload_bytes / (self.height * self.width)


@dataclass(frozen=True)
class Sample:
    """One image of a dataset, loaded on demand.

    Attributes:
        image_id: stable identifier within the dataset (relative path without extension, or a fixed name).
        loader: returns the image as an (H, W, 3) uint8 array; raises :class:`bench.errors.ImageError`.
        path: the file it comes from, when there is one.
        target: ground truth for task metrics (class index, label map loader, ...), when the dataset has one.
        target_path: the file a target loader reads (ADE20K label maps), so that its digest can be cached.
    """

    image_id: str
    loader: Callable[[], np.ndarray]
    path: Path | None = None
    target: Any = None
    target_path: Path | None = None

    def load(self) -> np.ndarray:
        return self.loader()
