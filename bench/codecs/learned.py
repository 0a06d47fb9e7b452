"""What every learned codec wrapper shares: padding, the container, device handling, timings, versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from bench.codecs.base import Codec
from bench.codecs.container import FORMAT_VERSION, Container, pack, unpack
from bench.download import sha256_of_file
from bench.schema import DEFAULT_VARIANT, Bitstream
from bench.tensors import as_batch


def pad_center(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pads (B, C, H, W) to the next multiple of ``multiple`` per axis, centred (left/top get the floor half).

    Returns:
        The padded tensor and ``(left, right, top, bottom)``.
    """
    height, width = x.shape[-2:]
    new_h = -(-height // multiple) * multiple
    new_w = -(-width // multiple) * multiple
    left, top = (new_w - width) // 2, (new_h - height) // 2
    padding = (left, new_w - width - left, top, new_h - height - top)
    return F.pad(x, padding, mode="constant", value=0.0), padding


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def crop_center(x: torch.Tensor, height: int, width: int, multiple: int) -> torch.Tensor:
    """Inverse of :func:`pad_center` for an image of original size ``height`` x ``width``."""
    new_h, new_w = padded_size(height, width, multiple)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return x[..., top : top + height, left : left + width]


def resolve_device(device: str) -> torch.device:
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but CUDA is not available")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return resolved


def prepare_input(x: torch.Tensor, device: torch.device, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Validates an RGB image in [0, 1], moves it to ``device`` and pads it; returns (padded, height, width)."""
    x = as_batch(x).to(device=device, dtype=torch.float32)
    height, width = x.shape[-2:]
    padded, _ = pad_center(x, multiple)
    return padded, height, width


def make_bitstream(codec: str, quality: float, height: int, width: int, strings: Iterable[bytes],
                   timings: dict[str, float]) -> Bitstream:
    container = Container(codec, float(quality), height, width, tuple(strings))
    return Bitstream(
        data=pack(container), height=height, width=width, payload_bytes=container.payload_bytes,
        header=container.header(), timings=dict(timings),
    )


def read_bitstream(bitstream: Bitstream, codec: str) -> Container:
    """Parses ``bitstream.data`` only (never the other fields), checking it was written by ``codec``."""
    return unpack(bitstream.data, expected_codec=codec)


def library_versions() -> dict[str, str]:
    import compressai

    return {"torch": torch.__version__, "compressai": compressai.__version__, "container": str(FORMAT_VERSION)}


def checkpoint_digest(path: str | Path) -> str:
    return sha256_of_file(Path(path))


def config_value(value: Any) -> Any:
    """Tuples to lists, so that configs hash and serialise the same way they are written."""
    if isinstance(value, (tuple, list)):
        return [config_value(v) for v in value]
    return value


class LearnedCodec(Codec):
    """A codec whose bitstream is entropy decoding + synthesis: ``decode`` is one variant of ``decode_variants``."""

    @torch.inference_mode()
    def decode(self, bitstream: Bitstream, variant: str = DEFAULT_VARIANT) -> torch.Tensor:
        return next(iter(self.decode_variants(bitstream, [variant]))).x_hat

    def check_single_decoder(self, variant: str) -> None:
        if variant != DEFAULT_VARIANT:
            raise ValueError(f"{self.name} has one decoder; unknown variant {variant!r}")
