"""Orientation and sign conventions of the optics, against an independent Fraunhofer FFT.

Pinned: +Z2 moves the PSF to +x (increasing column), +Z3 to +y (increasing row), theta =
atan2(row offset, column offset), PSF = |fftshift(fft2(ifftshift(pupil)))|^2 (hcipy, prysm),
and a positive Z4 moves the best focus to +z.
"""

import numpy as np
import pytest

from napari_selfdiff.optics import zernike_psf
from napari_selfdiff.optics.pupil import pupil_coordinates

FFT_SIZE = 256
PUPIL_PIXELS = 40


def _centroid(psf):
    rows, cols = np.indices(psf.shape)
    centre = psf.shape[0] // 2
    return float((psf * rows).sum() - centre), float((psf * cols).sum() - centre)


def _reference_psf(wavefront_waves, size):
    """Plain Fraunhofer PSF written independently of the package: unit disk, FFT, crop."""
    offsets = np.arange(FFT_SIZE) - FFT_SIZE // 2
    y, x = np.meshgrid(offsets, offsets, indexing="ij")  # y = row (down), x = column
    rho = np.hypot(x, y) / PUPIL_PIXELS
    theta = np.arctan2(y, x)
    pupil = np.where(rho <= 1, np.exp(2j * np.pi * wavefront_waves(rho, theta)), 0)
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(pupil)))) ** 2
    half = size // 2
    centre = FFT_SIZE // 2
    window = intensity[centre - half : centre + half + 1, centre - half : centre + half + 1]
    return window / window.sum()


def _correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_pupil_frame_y_down_theta_from_x_towards_y():
    rho, theta = pupil_coordinates(9, 4.0)
    assert rho[4, 8] == pytest.approx(1.0) and theta[4, 8] == pytest.approx(0.0)  # +x: column
    assert theta[8, 4] == pytest.approx(np.pi / 2)  # +y: down the rows
    assert theta[4, 0] == pytest.approx(np.pi)


@pytest.mark.parametrize(("j", "axis"), [(2, 1), (3, 0)])
@pytest.mark.parametrize("c", [0.25, -0.5])
def test_tilt_direction_and_amount_dimensionless(j, axis, c):
    psf = zernike_psf({j: c}, 65, pupil_pixels=PUPIL_PIXELS, fft_size=FFT_SIZE)
    shift = _centroid(psf)
    expected = 2 * c * FFT_SIZE / PUPIL_PIXELS  # phase 2 pi 2c x / R -> FFT bin 2c N / R
    assert np.sign(shift[axis]) == np.sign(c)
    assert abs(shift[axis] - expected) <= 0.1 * abs(expected)
    assert abs(shift[1 - axis]) < 1e-9


@pytest.mark.parametrize(("j", "axis"), [(2, 1), (3, 0)])
def test_tilt_direction_and_amount_physical(j, axis):
    wavelength, na, pixel_size, c = 0.5, 0.8, 0.1, 0.3
    psf = zernike_psf({j: c}, 65, wavelength=wavelength, na=na, pixel_size=pixel_size)
    expected = 2 * c * wavelength / na / pixel_size  # 3.75 px towards +column / +row
    shift = _centroid(psf)
    assert abs(shift[axis] - expected) <= 0.1 * expected
    assert abs(shift[1 - axis]) < 1e-9


@pytest.mark.parametrize(
    ("j", "angular"),
    [(8, np.cos), (7, np.sin)],  # Noll: Z8 = sqrt(8)(3 rho^3 - 2 rho) cos, Z7 the same with sin
)
def test_coma_matches_independent_fft(j, angular):
    c = 0.3
    reference = _reference_psf(lambda r, t: c * np.sqrt(8) * (3 * r**3 - 2 * r) * angular(t), 33)
    psf = zernike_psf({j: c}, 33, pupil_pixels=PUPIL_PIXELS, fft_size=FFT_SIZE)
    assert _correlation(psf, reference) > 0.999
    np.testing.assert_allclose(psf, reference, atol=1e-12)
    # The test discriminates: the mirror image (the defect of issue #30) does not pass.
    mirrored = reference[:, ::-1] if j == 8 else reference[::-1, :]
    assert _correlation(psf, mirrored) < 0.99


def test_random_aberration_matches_independent_fft():
    coefficients = {2: 0.1, 3: -0.05, 5: 0.1, 6: -0.15, 7: 0.2, 8: -0.1, 9: 0.12, 10: 0.08}
    closed = {
        2: lambda r, t: 2 * r * np.cos(t),
        3: lambda r, t: 2 * r * np.sin(t),
        5: lambda r, t: np.sqrt(6) * r**2 * np.sin(2 * t),
        6: lambda r, t: np.sqrt(6) * r**2 * np.cos(2 * t),
        7: lambda r, t: np.sqrt(8) * (3 * r**3 - 2 * r) * np.sin(t),
        8: lambda r, t: np.sqrt(8) * (3 * r**3 - 2 * r) * np.cos(t),
        9: lambda r, t: np.sqrt(8) * r**3 * np.sin(3 * t),
        10: lambda r, t: np.sqrt(8) * r**3 * np.cos(3 * t),
    }
    reference = _reference_psf(lambda r, t: sum(a * closed[j](r, t) for j, a in coefficients.items()), 33)
    psf = zernike_psf(coefficients, 33, pupil_pixels=PUPIL_PIXELS, fft_size=FFT_SIZE)
    assert _correlation(psf, reference) > 0.999


def test_positive_defocus_moves_focus_to_positive_z():
    wavelength, na, a = 0.5, 0.3, 0.1
    kwargs = {"wavelength": wavelength, "na": na, "pixel_size": 0.2, "immersion_index": 1.0}
    dz = 4 * np.sqrt(3) * 1.0 * wavelength * a / na**2  # paraxial: 3.85 um
    z = np.linspace(-2 * dz, 2 * dz, 41)
    stack = zernike_psf({4: a}, 31, z=z, **kwargs)
    best = z[int(np.argmax(stack.max(axis=(1, 2))))]
    assert best > 0
    assert abs(best - dz) <= 0.1 * dz
    in_focus = zernike_psf({}, 31, **kwargs)
    assert _correlation(zernike_psf({4: a}, 31, z=dz, **kwargs), in_focus) > 0.999
    # A positive z alone acts as a negative Z4 coefficient.
    assert _correlation(zernike_psf({}, 31, z=dz, **kwargs), zernike_psf({4: -a}, 31, **kwargs)) > 0.999
