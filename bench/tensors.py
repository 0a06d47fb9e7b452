"""Conversions between 8-bit RGB arrays and the float tensors codecs and metrics work on."""

from __future__ import annotations

import numpy as np
import torch


def uint8_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def as_batch(x: torch.Tensor) -> torch.Tensor:
    """Accepts (3, H, W) or (1, 3, H, W) and returns (1, 3, H, W)."""
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"expected an RGB image of shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    return x


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, clamped and rounded to nearest."""
    x = as_batch(x.detach()).clamp(0.0, 1.0).mul(255.0).round()
    return x[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Rounds a float image to the 8-bit grid a decoder writes, staying in float [0, 1]."""
    return x.detach().clamp(0.0, 1.0).mul(255.0).round().div(255.0)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8, or float32 already in [0, 1], -> (1, 3, H, W) float32 in [0, 1].

    Datasets whose official preprocessing yields non-integer values (ADE20K: bilinear resize of float pixels)
    return float32 arrays; every other dataset returns uint8, which is converted exactly as
    :func:`uint8_to_tensor` does.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got {image.dtype} {image.shape}")
    if image.dtype == np.uint8:
        return uint8_to_tensor(image)
    if image.dtype != np.float32:
        raise ValueError(f"expected uint8 or float32 pixels, got {image.dtype}")
    if image.size and (float(image.min()) < 0.0 or float(image.max()) > 1.0):
        raise ValueError(f"float32 pixels must lie in [0, 1], got [{image.min()}, {image.max()}]")
    return torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).unsqueeze(0).clone()
