"""PSNR of a real MPA reconstruction against the value the shared reference data states (31.874 dB, 8-bit mode)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.metrics.fidelity import PSNR, PSNRFloat
from bench.schema import Sample
from bench.tensors import uint8_to_tensor

ASSETS = Path(__file__).parent / "assets"


def _load(name: str) -> np.ndarray:
    return np.asarray(Image.open(ASSETS / name).convert("RGB"))


def test_psnr_of_mpa_reconstruction_matches_published_value():
    """Oracle: the 31.874 dB stated for ADE_val_00000269 decoded by the released MPA checkpoint (mse path, q=1)."""
    reference, reconstruction = _load("ADE_val_00000269.png"), _load("val00000269_mse.png")
    assert reference.shape == reconstruction.shape == (512, 512, 3)
    sample = Sample("ADE_val_00000269", loader=lambda: reference)
    value = PSNR().compute(uint8_to_tensor(reference), uint8_to_tensor(reconstruction), sample)
    assert value == pytest.approx(31.874, abs=5e-4)
    # Second oracle: the textbook formula on the uint8 arrays (the tensors hold v / 255 in float32, hence 1e-6).
    mse = np.mean((reference.astype(np.float64) - reconstruction.astype(np.float64)) ** 2)
    assert value == pytest.approx(10 * np.log10(255.0**2 / mse), abs=1e-6)
    # An 8-bit reconstruction is already on the grid, so the float mode agrees.
    float_value = PSNRFloat().compute(uint8_to_tensor(reference), uint8_to_tensor(reconstruction), sample)
    assert float_value == pytest.approx(value, abs=1e-9)
