"""PSNR and MS-SSIM against closed forms and an independent MS-SSIM implementation."""

import math

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from bench.errors import NotApplicable
from bench.metrics.fidelity import MSSSIM, PSNR, PSNRFloat, ms_ssim_rgb, ms_ssim_to_db, psnr
from bench.schema import Sample
from bench.tensors import uint8_to_tensor

NO_SAMPLE = Sample("test", loader=lambda: None)


def test_psnr_of_a_constant_offset_is_the_closed_form():
    reference = torch.full((1, 3, 64, 80), 100 / 255)
    reconstruction = torch.full((1, 3, 64, 80), 103 / 255)
    assert PSNR().compute(reference, reconstruction, NO_SAMPLE) == pytest.approx(20 * math.log10(255 / 3), abs=1e-5)


def test_psnr_8bit_mode_rounds_and_float_mode_does_not():
    reference = torch.full((1, 3, 32, 32), 100 / 255)
    reconstruction = reference + 0.4 / 255  # rounds back to the reference on the 8-bit grid
    assert PSNR().compute(reference, reconstruction, NO_SAMPLE) == math.inf
    assert PSNRFloat().compute(reference, reconstruction, NO_SAMPLE) == pytest.approx(20 * math.log10(255 / 0.4), abs=1e-3)


def test_psnr_of_identical_images_is_infinite(kodak_crop):
    x = uint8_to_tensor(kodak_crop)
    assert psnr(x, x) == math.inf


def test_ms_ssim_of_identical_images_is_one(kodak_crop):
    x = uint8_to_tensor(kodak_crop)
    assert ms_ssim_rgb(x, x) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_in_db():
    assert ms_ssim_to_db(0.99) == pytest.approx(20.0)
    assert ms_ssim_to_db(0.9) == pytest.approx(10.0)


def test_ms_ssim_too_small_is_not_applicable():
    x = torch.rand(1, 3, 160, 300)
    with pytest.raises(NotApplicable, match="161"):
        MSSSIM().compute(x, x, NO_SAMPLE)


# An independent MS-SSIM (Wang, Simoncelli, Bovik 2003) in NumPy, following pytorch_msssim's documented choices:
# 11-tap Gaussian (sigma 1.5) applied separably without padding, K1 = 0.01, K2 = 0.03, 5 scales with weights
# (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling with zero padding of odd sides, negative
# contrast-structure terms clipped at 0, the result averaged over channels.
def _gaussian_valid(image, window):
    rows = (sliding_window_view(image, window.size, axis=0) * window).sum(-1)
    return (sliding_window_view(rows, window.size, axis=1) * window).sum(-1)


def _average_pool(image):
    padded = np.pad(image, [(s % 2, s % 2) for s in image.shape])
    h, w = padded.shape[0] // 2 * 2, padded.shape[1] // 2 * 2
    return padded[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _reference_ms_ssim(x, y):
    offsets = np.arange(11) - 5
    window = np.exp(-(offsets**2) / (2 * 1.5**2))
    window /= window.sum()
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    c1, c2 = 0.01**2, 0.03**2
    per_channel = []
    for a, b in zip(x, y):
        terms = []
        for level in range(5):
            mu_a, mu_b = _gaussian_valid(a, window), _gaussian_valid(b, window)
            var_a = _gaussian_valid(a * a, window) - mu_a**2
            var_b = _gaussian_valid(b * b, window) - mu_b**2
            cov = _gaussian_valid(a * b, window) - mu_a * mu_b
            cs_map = (2 * cov + c2) / (var_a + var_b + c2)
            ssim_map = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1) * cs_map
            terms.append(max(cs_map.mean(), 0.0) if level < 4 else max(ssim_map.mean(), 0.0))
            a, b = _average_pool(a), _average_pool(b)
        per_channel.append(np.prod(np.array(terms) ** weights))
    return float(np.mean(per_channel))


@pytest.mark.parametrize("height, width", [(192, 256), (201, 263)])
def test_ms_ssim_matches_an_independent_implementation(kodak_image, height, width):
    reference = kodak_image[:height, :width].astype(np.float64) / 255
    rng = np.random.default_rng(0)
    noisy = np.clip(np.round((reference + rng.normal(0, 0.03, reference.shape)) * 255), 0, 255) / 255
    expected = _reference_ms_ssim(reference.transpose(2, 0, 1), noisy.transpose(2, 0, 1))
    to_tensor = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None].astype(np.float32))  # noqa: E731
    # float32 evaluation: the variance terms (E[x^2] - mu^2) cancel, so agreement is to about 1e-5, not 1e-9.
    assert ms_ssim_rgb(to_tensor(reference), to_tensor(noisy)) == pytest.approx(expected, abs=1e-4)
