"""Noise model: the Poisson-Gaussian variance, its affine maps, and the single-image estimate."""

from __future__ import annotations

import numpy as np
import pytest

from napari_selfdiff.inputs import InputError
from napari_selfdiff.noise import NoiseModel, estimate_noise
from napari_selfdiff.optics import blur, gaussian_kernel, motion_kernel

from .conftest import piecewise_image


def _scene(seed: int) -> np.ndarray:
    """A 128 x 128 scene in [0.1, 0.9]: flat patches plus smooth texture, like a cell image."""
    yy, xx = np.mgrid[:128, :128] / 128
    texture = 0.15 * np.sin(7 * xx + 3 * seed) * np.cos(5 * yy)
    return np.clip(0.7 * piecewise_image(128, seed=seed) + texture + 0.1, 0.1, 0.9)


@pytest.mark.parametrize(("sigma", "kernel"), [(0.0025, "motion"), (0.01, "gauss"), (0.05, "motion")])
def test_estimate_gaussian_noise(sigma, kernel):
    psf = motion_kernel(11, seed=1) if kernel == "motion" else gaussian_kernel(9, 1.5)
    observed = blur(_scene(2), psf, noise_sigma=sigma, seed=3)
    model = estimate_noise(observed)
    mid = float(np.median(observed))
    # Measured ratios 0.99-1.11 on skimage and synthetic scenes; 25 % is the contract.
    assert model.sigma_at(mid) == pytest.approx(sigma, rel=0.25)


@pytest.mark.parametrize(("photons", "read"), [(30, 0.0), (100, 0.005), (1000, 0.002), (3000, 0.0)])
def test_estimate_poisson_gaussian_noise(photons, read):
    scene, psf = _scene(4), gaussian_kernel(9, 2.0)
    observed = blur(scene, psf, noise_sigma=read, poisson_photons=photons, seed=5)
    peak = float(blur(scene, psf).max())
    truth = NoiseModel(gain=peak / photons, read_variance=read**2)
    model = estimate_noise(observed)
    for quantile in (0.25, 0.5, 0.75):  # the signal dependence, not only one level
        level = float(np.quantile(observed, quantile))
        assert model.sigma_at(level) == pytest.approx(float(truth.sigma_at(level)), rel=0.25)
    if photons <= 100:  # shot noise dominates: the fit must find the slope
        assert model.gain == pytest.approx(truth.gain, rel=0.4)


def test_noise_free_constant_regions_give_zero_variance():
    image = np.zeros((32, 32))
    image[:, 16:] = 1.0
    model = estimate_noise(image)
    assert model.gain == 0.0
    assert model.read_variance == pytest.approx(0.0, abs=1e-12)


def test_scaled_round_trip_and_variance_transform():
    model = NoiseModel(gain=0.02, offset=100.0, read_variance=4.0)
    intensities = np.array([90.0, 100.0, 150.0, 400.0])
    scale, shift = 0.003, -0.2
    mapped = model.scaled(scale, shift)
    # Var[s I + t] = s^2 Var[I], at the mapped intensity.
    np.testing.assert_allclose(
        mapped.variance(scale * intensities + shift), scale**2 * model.variance(intensities)
    )
    back = mapped.scaled(1 / scale, -shift / scale)
    np.testing.assert_allclose(
        list(back.to_dict().values()), list(model.to_dict().values()), rtol=1e-12, atol=1e-9
    )


def test_camera_units_and_description():
    # 2 electrons per ADU, offset 100 ADU, read noise 3 electrons: at 300 ADU, 400 electrons.
    model = NoiseModel.from_camera(2.0, 100.0, 3.0)
    assert model.variance(300.0) == pytest.approx((400 + 9) / 4)
    assert model.variance(50.0) == pytest.approx(9 / 4)  # below the offset: read noise only
    assert "Poisson-Gaussian" in model.describe()
    assert NoiseModel.gaussian(0.03).sigma_at(0.7) == pytest.approx(0.03)
    assert "0.03" in NoiseModel.gaussian(0.03).describe()


@pytest.mark.parametrize(
    "build",
    [
        lambda: NoiseModel(gain=-1.0),
        lambda: NoiseModel(read_variance=float("nan")),
        lambda: NoiseModel(offset=float("inf")),
        lambda: NoiseModel.gaussian(-0.1),
        lambda: NoiseModel.from_camera(0.0),
        lambda: NoiseModel().scaled(0.0),
        lambda: estimate_noise(np.full((16, 16), np.nan)),
        lambda: estimate_noise(np.zeros((16, 16, 16))),
        lambda: estimate_noise(np.zeros((4, 4))),
    ],
)
def test_bad_inputs_raise(build):
    with pytest.raises(InputError):
        build()
