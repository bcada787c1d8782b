r"""Pupil function of a circular aperture with a Zernike wavefront.

.. math::

    P(\rho, \theta) = \mathbb 1\{\rho \le 1\}\;
        \exp\big(2 \pi i\, [W(\rho, \theta) + W_z(\rho)]\big), \qquad
    W = \sum_j a_j Z_j \;\text{(waves)},

where the optional defocus term of a distance z (micrometres) from the angular spectrum of
a medium of refractive index n is
``W_z(rho) = z (sqrt(n^2 - (NA rho)^2) - n) / lambda`` (waves): exact for a scalar field,
not the paraxial Z4 approximation, which breaks down at high NA.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from napari_selfdiff.optics.zernike import noll_to_nm, zernike

__all__ = ["angular_spectrum_defocus", "pupil_coordinates", "pupil_function", "wavefront"]


def pupil_coordinates(grid: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised polar coordinates (rho, theta) on a ``grid x grid`` array.

    The pupil centre is the pixel ``(grid // 2, grid // 2)`` (the zero frequency after
    ``fftshift``); ``rho = 1`` at ``radius`` pixels. ``x`` is the column offset and ``y`` the
    row offset from the centre, so +y points *down* the rows as an image is displayed, and
    ``theta = atan2(y, x)`` turns from +x towards +y (counter-clockwise in the right-handed
    x-y frame, which appears clockwise on screen with row 0 at the top). This is the array
    frame of the PSF too: see :mod:`.psf` for the resulting tilt directions.
    """
    coords = np.arange(grid) - grid // 2
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return np.hypot(xx, yy) / radius, np.arctan2(yy, xx)


def wavefront(coefficients: Mapping[int, float], rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Wavefront ``W = sum_j a_j Z_j`` (Noll indices, same unit as the coefficients)."""
    result = np.zeros(np.broadcast_shapes(np.shape(rho), np.shape(theta)))
    for j, value in coefficients.items():
        if value:
            result += value * zernike(*noll_to_nm(j), rho, theta)
    return result


def angular_spectrum_defocus(
    rho: np.ndarray, z: float, *, wavelength: float, na: float, immersion_index: float
) -> np.ndarray:
    """Defocus wavefront in waves, ``z (sqrt(n^2 - (NA rho)^2) - n) / lambda`` (rho <= 1)."""
    kz = np.sqrt(np.clip(immersion_index**2 - (na * np.minimum(rho, 1.0)) ** 2, 0.0, None))
    return z * (kz - immersion_index) / wavelength


def pupil_function(
    coefficients: Mapping[int, float],
    grid: int,
    radius: float,
    extra_waves: np.ndarray | None = None,
) -> np.ndarray:
    """Complex pupil ``1{rho <= 1} exp(2 pi i (W + extra))`` on a ``grid x grid`` array."""
    rho, theta = pupil_coordinates(grid, radius)
    waves = wavefront(coefficients, rho, theta)
    if extra_waves is not None:
        waves = waves + extra_waves
    return np.where(rho <= 1.0, np.exp(2j * np.pi * waves), 0.0)
