"""Noise-aware TV restoration with a known PSF, and the reliability measures."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfdiff.metrics import psnr
from napari_selfdiff.noise import NoiseModel, estimate_noise
from napari_selfdiff.optics import blur, gaussian_kernel, motion_kernel
from napari_selfdiff.restoration.noise_aware import (
    border_energy,
    kernel_agreement,
    restore_tv,
    tv_weight,
    weighted_discrepancy,
)

from .conftest import piecewise_image

INNER = (slice(9, -9), slice(9, -9))


def _gain(restored: np.ndarray, observed: np.ndarray, sharp: np.ndarray) -> float:
    return psnr(restored[INNER], sharp[INNER]) - psnr(observed[INNER], sharp[INNER])


@pytest.mark.parametrize(("sigma", "photons", "floor"), [(0.03, None, 3.0), (0.0, 100.0, 3.0)])
def test_true_kernel_restoration_gains(sigma, photons, floor):
    sharp = piecewise_image(80, seed=6)
    psf = gaussian_kernel(9, 1.5)
    observed = blur(sharp, psf, noise_sigma=sigma, poisson_photons=photons, seed=7)
    noise = estimate_noise(observed)
    restored = restore_tv(observed, psf, noise)
    # Measured +5.3 / +6.3 dB here, +4.0 to +5.5 on neighbouring seeds.
    assert restored.shape == observed.shape
    assert _gain(restored, observed, sharp) > floor


def test_smooth_scene_is_not_harmed():
    yy, xx = np.mgrid[:64, :64] / 64
    sharp = 0.4 + 0.3 * np.sin(3 * xx) * np.cos(2 * yy)
    psf = motion_kernel(7, seed=2)
    observed = blur(sharp, psf, poisson_photons=100.0, seed=3)
    restored = restore_tv(observed, psf, estimate_noise(observed))
    # Measured +10.1 to +11.2 dB over seeds (the TV term removes the noise, edges or not).
    assert _gain(restored, observed, sharp) > 5.0


def test_weight_grows_with_noise():
    image = np.full((16, 16), 0.5)
    weights = [tv_weight(NoiseModel.gaussian(s), image) for s in (0.005, 0.01, 0.03, 0.05)]
    assert np.all(np.diff(weights) > 0)
    poisson = [tv_weight(NoiseModel(gain=0.5 / p), image) for p in (3000, 300, 30)]
    assert np.all(np.diff(poisson) > 0)


def test_discrepancy_flags_fit_and_misfit():
    sharp = piecewise_image(64, seed=1)
    psf = gaussian_kernel(7, 1.2)
    noise = NoiseModel.gaussian(0.02)
    observed = blur(sharp, psf, noise_sigma=0.02, seed=2)
    # The truth explains the data to the noise; a wrong kernel (none) leaves structure.
    assert weighted_discrepancy(observed, sharp, psf, noise) == pytest.approx(1.0, abs=0.15)
    assert weighted_discrepancy(observed, sharp, gaussian_kernel(7, 0.3), noise) > 2.0


def test_border_energy_and_agreement():
    centred = gaussian_kernel(9, 1.0)
    shifted = np.zeros_like(centred)
    shifted[:, 3:] = centred[:, :6]  # centre moved 3 px right: a tail now on the box's edge
    assert border_energy(centred) < 0.01
    assert border_energy(shifted) > 0.2
    assert kernel_agreement(centred, np.pad(centred, 3)) == pytest.approx(1.0, abs=1e-9)
    assert kernel_agreement(centred, gaussian_kernel(9, 3.0)) < 0.9


def test_a_lower_bound_is_met_and_helps_on_a_dark_field():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    sharp = np.zeros((96, 96))
    sharp[tuple(rng.integers(8, 88, (2, 30)))] = rng.uniform(0.5, 1.0, 30)
    sharp = gaussian_filter(sharp, 1.0)
    sharp /= sharp.max()
    psf = gaussian_kernel(15, 2.5)
    blurred = blur(sharp, psf, noise_sigma=0.01, seed=1)
    noise = NoiseModel.gaussian(0.01)
    free, bounded = restore_tv(blurred, psf, noise), restore_tv(blurred, psf, noise, lower=0.0)
    assert float(bounded.min()) >= 0.0 and float(free.min()) < -0.005
    # Measured +0.4 dB on a 128 px version of this field (30.16 -> 30.55 dB).
    assert psnr(bounded, sharp) > psnr(free, sharp)


def test_the_restorations_space_differences_are_its_transfer_functions_and_adjoint():
    """The ADMM applies its difference operators in space: they must equal the OTFs it divides by."""
    from scipy import fft as sfft

    from napari_selfdiff.ops.fft import psf_to_otf
    from napari_selfdiff.restoration.noise_aware import _circular_gradient, _circular_gradient_adjoint

    rng = np.random.default_rng(0)
    x, p = rng.standard_normal((7, 10)), rng.standard_normal((2, 7, 10))
    for axis, kernel in enumerate((np.array([[1.0, -1.0, 0.0]]), np.array([[1.0], [-1.0], [0.0]]))):
        by_fft = sfft.irfft2(psf_to_otf(kernel, x.shape) * sfft.rfft2(x), s=x.shape)
        np.testing.assert_allclose(_circular_gradient(x)[axis], by_fft, atol=1e-12)
    assert np.sum(_circular_gradient(x) * p) == pytest.approx(np.sum(x * _circular_gradient_adjoint(p)))
