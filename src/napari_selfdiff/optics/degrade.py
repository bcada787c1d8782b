"""Synthetic degradation: blur with a PSF, then Poisson and Gaussian noise.

``y = P(x * k) + n`` where ``*`` is a true convolution of a reflect-padded image (no
wrap-around, no dark border), P is optional shot noise and n white Gaussian noise.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from napari_selfdiff.inputs import check_psf, from_planes, to_planes

__all__ = ["blur"]

#: Most expected photons at the brightest pixel (NumPy's Poisson sampler stops near 1e19).
MAX_PHOTONS = 1e15


def _noise_scale(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def blur(
    image: np.ndarray,
    psf: np.ndarray,
    noise_sigma: float = 0.0,
    poisson_photons: float | None = None,
    seed: int | np.random.Generator | None = None,
    *,
    axes: str | None = None,
) -> np.ndarray:
    """Blur ``image`` with ``psf`` and add noise; the result keeps the image's shape and dtype.

    Parameters
    ----------
    image : numpy.ndarray
        (Y, X), (Y, X, C) or (Z, Y, X) image; each plane and channel is blurred in 2D.
    psf : numpy.ndarray
        Odd-sized 2D PSF (normalised to unit sum here).
    noise_sigma : float
        Standard deviation of the Gaussian noise, as a fraction of the dtype's full scale
        for integer images (255 for uint8) and in intensity units for float images.
    poisson_photons : float, optional
        Expected photon count at the blurred image's maximum; shot noise is drawn at this
        level and scaled back to the image's units.
    seed : int or numpy.random.Generator, optional
        Seed of the noise.
    axes : str, optional
        Axes of the image (see :func:`napari_selfdiff.inputs.infer_axes`).

    Returns
    -------
    numpy.ndarray
        Degraded image, same shape and dtype (integers are rounded and clipped).
    """
    planes, layout = to_planes(image, axes)
    kernel = check_psf(psf)
    if poisson_photons is not None and not (
        np.isfinite(poisson_photons) and 0 < poisson_photons <= MAX_PHOTONS
    ):
        raise ValueError(
            f"`poisson_photons` must be a number in (0, {MAX_PHOTONS:g}], got {poisson_photons!r} "
            "(beyond that shot noise is negligible: leave it out)"
        )
    if not (np.isfinite(noise_sigma) and noise_sigma >= 0):
        raise ValueError(f"`noise_sigma` must be a finite number >= 0, got {noise_sigma!r}")
    ky, kx = kernel.shape
    if ky // 2 >= min(layout.height, layout.width) or kx // 2 >= min(layout.height, layout.width):
        raise ValueError(f"psf of shape {kernel.shape} is too large for an image of shape {layout.shape}")
    padded = np.pad(planes, ((0, 0), (0, 0), (ky // 2, ky // 2), (kx // 2, kx // 2)), mode="reflect")
    blurred = fftconvolve(padded, kernel[None, None], mode="valid", axes=(-2, -1))
    rng = np.random.default_rng(seed)
    if poisson_photons is not None:
        peak = float(blurred.max())
        if peak > 0:
            scale = poisson_photons / peak
            blurred = rng.poisson(np.clip(blurred, 0, None) * scale) / scale
    if noise_sigma > 0:
        blurred = blurred + noise_sigma * _noise_scale(layout.dtype) * rng.standard_normal(blurred.shape)
    out = from_planes(blurred, layout)
    if layout.dtype.kind in "ui":
        info = np.iinfo(layout.dtype)
        # float(info.max) of a 64-bit integer rounds up past it (2**64 - 1 -> 2**64): the float below.
        high = float(info.max) if float(info.max) <= info.max else np.nextafter(float(info.max), 0.0)
        return np.clip(np.rint(out), info.min, high).astype(layout.dtype)
    return out.astype(layout.dtype if layout.dtype.kind == "f" else np.float64)
