"""Fidelity metrics: PSNR and MS-SSIM on RGB, peak / data range 1.0, each in two forms (:mod:`bench.metrics.forms`).

The 8-bit form rounds the reconstruction to the grid a decoder writes (CompressAI's convention for its own runs);
the float form compares the clamped float reconstruction, as the official MPA and TinyLIC evaluations and the
published CompressAI learned-codec curves do. For a codec whose decoder writes 8-bit images the two are equal.
"""

from __future__ import annotations

import math

import torch
from pytorch_msssim import ms_ssim

from bench.errors import NotApplicable
from bench.metrics import forms
from bench.metrics.base import Metric, MetricSpec
from bench.schema import KEY_MS_SSIM, KEY_MS_SSIM_DB, KEY_PSNR, Sample
from bench.tensors import quantize_8bit

# pytorch_msssim's 5 scales with an 11-px window need both sides larger than (11 - 1) * 2**4.
MS_SSIM_MIN_SIDE = 161


def psnr(reference: torch.Tensor, reconstruction: torch.Tensor) -> float:
    """PSNR in dB with peak 1.0 over all pixels and channels; inf for identical images."""
    mse = torch.mean((reference.double() - reconstruction.double()) ** 2).item()
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def ms_ssim_rgb(reference: torch.Tensor, reconstruction: torch.Tensor) -> float:
    """MS-SSIM with pytorch_msssim defaults (window 11, sigma 1.5, 5 scales) and data_range 1.0."""
    height, width = reference.shape[-2:]
    if min(height, width) < MS_SSIM_MIN_SIDE:
        raise NotApplicable(
            f"MS-SSIM needs both sides >= {MS_SSIM_MIN_SIDE} px (5 scales, 11-px window); image is {height}x{width}"
        )
    return float(ms_ssim(reference.float(), reconstruction.float(), data_range=1.0).item())


def ms_ssim_to_db(value: float) -> float:
    """MS-SSIM in dB, -10 log10(1 - v), as CompressAI's plots show it."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


class PSNR(Metric):
    """PSNR of the 8-bit reconstruction (what a decoder writes)."""

    spec = MetricSpec(KEY_PSNR, "PSNR", "dB", higher_is_better=True)

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> float:
        return psnr(reference, quantize_8bit(reconstruction))


class PSNRFloat(Metric):
    """PSNR of the clamped float reconstruction (the official MPA evaluation's numbers)."""

    spec = MetricSpec(forms.KEY_PSNR_FLOAT, "PSNR (float)", "dB", higher_is_better=True)

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> float:
        return psnr(reference, reconstruction.clamp(0.0, 1.0))


class MSSSIM(Metric):
    """MS-SSIM of the 8-bit reconstruction, data range 1.0."""

    spec = MetricSpec(KEY_MS_SSIM, "MS-SSIM", "", higher_is_better=True)

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> float:
        return ms_ssim_rgb(reference, quantize_8bit(reconstruction))


class MSSSIMFloat(Metric):
    """MS-SSIM of the clamped float reconstruction, data range 1.0 (the official MPA and TinyLIC numbers)."""

    spec = MetricSpec(forms.KEY_MS_SSIM_FLOAT, "MS-SSIM (float)", "", higher_is_better=True)

    def compute(self, reference: torch.Tensor, reconstruction: torch.Tensor, sample: Sample) -> float:
        return ms_ssim_rgb(reference, reconstruction.clamp(0.0, 1.0))


# Curves derived from a dataset value: MS-SSIM in dB is taken of the dataset mean, as CompressAI plots it.
MS_SSIM_DB_SPEC = MetricSpec(KEY_MS_SSIM_DB, "MS-SSIM", "dB", higher_is_better=True)
MS_SSIM_DB_FLOAT_SPEC = MetricSpec(forms.KEY_MS_SSIM_DB_FLOAT, "MS-SSIM (float)", "dB", higher_is_better=True)
