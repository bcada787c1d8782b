"""Fourier-optics PSFs: Airy ring, Strehl vs Marechal, symmetry, energy, sampling."""

import numpy as np
import pytest
from scipy.signal import argrelmin

from napari_selfdiff.optics import (
    PsfSamplingWarning,
    random_aberration,
    rms_wavefront_error,
    strehl_ratio,
    zernike_psf,
)

PHYS = {"wavelength": 0.5, "na": 1.0, "pixel_size": 0.05}


def test_airy_first_dark_ring():
    psf = zernike_psf({}, 41, **PHYS)
    centre = psf.shape[0] // 2
    expected = 0.61 * PHYS["wavelength"] / PHYS["na"] / PHYS["pixel_size"]  # 6.1 px
    for profile in (psf[centre, centre:], psf[centre:, centre]):
        first_min = argrelmin(profile)[0][0]
        assert abs(first_min - expected) <= 0.5
    assert np.unravel_index(psf.argmax(), psf.shape) == (centre, centre)


@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.05])
@pytest.mark.parametrize("j", [4, 6, 8, 11])
def test_strehl_matches_marechal(sigma, j):
    marechal = np.exp(-((2 * np.pi * sigma) ** 2))
    assert abs(strehl_ratio({j: sigma}) - marechal) <= 0.02 * marechal


def test_strehl_equals_psf_peak_ratio():
    aberrated = zernike_psf({11: 0.07}, 255, pupil_pixels=32)  # whole field: no energy cut off
    perfect = zernike_psf({}, 255, pupil_pixels=32)
    assert abs(aberrated.max() / perfect.max() - strehl_ratio({11: 0.07})) < 0.01


@pytest.mark.parametrize("j", [4, 11])
def test_defocus_and_spherical_are_rotationally_symmetric(j):
    psf = zernike_psf({j: 0.3}, 31, pupil_pixels=24)
    np.testing.assert_allclose(psf, psf.T, atol=1e-12)
    np.testing.assert_allclose(psf, np.rot90(psf), atol=1e-12)


def test_defocus_sign_in_focus_and_mirrored_in_z():
    plus = zernike_psf({4: 0.25}, 25, **PHYS)
    minus = zernike_psf({4: -0.25}, 25, **PHYS)
    np.testing.assert_allclose(plus, minus, atol=1e-12)
    z = [-0.6, -0.3, 0.0, 0.3, 0.6]
    kwargs = {**PHYS, "na": 1.2, "immersion_index": 1.33}
    stack = zernike_psf({4: 0.25}, 25, z=z, **kwargs)
    mirrored = zernike_psf({4: -0.25}, 25, z=z[::-1], **kwargs)
    np.testing.assert_allclose(stack, mirrored, atol=1e-12)
    assert not np.allclose(stack[0], stack[-1])  # defocus really moves the focus


def test_focus_sharpest_at_z0_without_aberration():
    stack = zernike_psf(
        {}, 25, z=np.linspace(-1, 1, 9), wavelength=0.52, na=1.4, pixel_size=0.05, immersion_index=1.518
    )
    assert stack.shape == (9, 25, 25)
    assert int(np.argmax(stack.max(axis=(1, 2)))) == 4


def test_energy_and_non_negativity():
    rng = np.random.default_rng(1)
    for seed in range(5):
        coeffs = random_aberration(0.2, seed=seed)
        for psf in (
            zernike_psf(coeffs, 21, pupil_pixels=20 + 10 * rng.random()),
            zernike_psf(coeffs, 21, wavelength=0.6, na=0.8, pixel_size=0.1, oversample=3),
        ):
            assert psf.min() >= 0
            assert abs(psf.sum() - 1) < 1e-12


def test_undersampling_warns_and_oversampling_silences():
    with pytest.warns(PsfSamplingWarning, match="oversample=3"):
        zernike_psf({}, 15, wavelength=0.5, na=1.4, pixel_size=0.2, immersion_index=1.5)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psf = zernike_psf({}, 15, wavelength=0.5, na=1.4, pixel_size=0.2, immersion_index=1.5, oversample=3)
    assert psf.shape == (15, 15)


def test_units_and_errors():
    in_um = zernike_psf({4: 0.1}, 15, wavelength=0.5, na=0.9, pixel_size=0.1, units="um")
    in_waves = zernike_psf({4: 0.2}, 15, wavelength=0.5, na=0.9, pixel_size=0.1)
    np.testing.assert_allclose(in_um, in_waves)
    with pytest.raises(ValueError, match="cannot exceed"):
        zernike_psf({}, 15, wavelength=0.5, na=1.4, pixel_size=0.05)
    with pytest.raises(ValueError, match="odd"):
        zernike_psf({}, 16, pupil_pixels=20)
    with pytest.raises(ValueError, match="physical mode"):
        zernike_psf({}, 15, wavelength=0.5)


def test_random_aberration_rms_and_seed():
    a = random_aberration(0.15, seed=3)
    assert sorted(a) == list(range(4, 16))
    assert abs(rms_wavefront_error(a) - 0.15) < 1e-12
    assert a == random_aberration(0.15, seed=3) != random_aberration(0.15, seed=4)
