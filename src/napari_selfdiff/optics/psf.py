r"""Scalar Fourier-optics PSFs from Zernike aberrations, in physical or dimensionless units.

Model (scalar, incoherent imaging; Goodman, *Introduction to Fourier Optics*):

.. math::

    \mathrm{PSF}(x, y; z) \propto \big| \mathcal F\{ P(\rho, \theta; z) \} \big|^2,
    \qquad \mathcal F\{P\}(u) = \sum_p P(p)\, e^{-2 \pi i\, p \cdot u / N},

with the pupil P of :mod:`.pupil`: a forward FFT (``fft2`` between ``ifftshift`` and
``fftshift``), the Fraunhofer propagation of hcipy and prysm. In object space the pupil's
edge is the coherent cut-off frequency ``NA / lambda``; on an N x N FFT grid of pixel
``dx`` it is therefore a disk of radius ``NA N dx / lambda`` pixels. The intensity PSF is band-limited to
``2 NA / lambda``, so it is Nyquist-sampled when

.. math::

    dx \le \frac{\lambda}{4\,\mathrm{NA}}.

Coarser pixels are simulated by computing on a finer grid (``oversample`` odd sub-pixels
per pixel) and integrating over each pixel; the caller is warned when the requested
sampling is coarser than Nyquist and no oversampling was asked for.

Units: wavelength, pixel size and z in micrometres; coefficients in waves RMS (or
micrometres RMS with ``units="um"``).

Orientation and sign conventions (pinned by ``tests/test_optics_convention.py``):

* Pupil and PSF share one array frame: x is the column, y the row, +y points *down* the
  rows as an image is displayed; ``theta = atan2(y, x)`` runs from +x towards +y
  (:mod:`.zernike`).
* A positive Z2 (``2 rho cos theta``) moves the PSF towards +x (increasing column), a
  positive Z3 towards +y (increasing row), as in hcipy and prysm. A tilt of
  ``c`` waves RMS shifts the spot by ``2 c lambda / NA`` (physical mode) or
  ``2 c fft_size / pupil_pixels`` pixels (dimensionless mode).
* Through focus, the pupil gains ``exp(2 pi i z (sqrt(n^2 - (NA rho)^2) - n) / lambda)``:
  the field propagated by +z (``exp(+i k_z z)``, time dependence ``exp(-i omega t)``).
  Paraxially this wavefront is ``-z NA^2 rho^2 / (2 n lambda)``, a *negative* Z4, so a
  positive Z4 coefficient ``a`` moves the best focus to +z, by
  ``dz = 4 sqrt(3) n lambda a / NA^2``: at low NA ``zernike_psf({4: a}, z=dz)`` is the
  in-focus aberration-free PSF (at high NA the exact defocus departs from Z4).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from napari_selfdiff.optics.pupil import angular_spectrum_defocus, pupil_coordinates, pupil_function
from napari_selfdiff.optics.sampling import check_grid, nyquist_pixel_size, pupil_sampling
from napari_selfdiff.optics.zernike import coefficients_from_names

__all__ = [
    "PsfSamplingWarning",
    "nyquist_pixel_size",
    "zernike_psf",
]

DEFAULT_FFT_SIZE = 256


class PsfSamplingWarning(UserWarning):
    """The requested PSF pixel is coarser than the Nyquist limit lambda / (4 NA)."""


def _positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"`{name}` must be a finite number > 0, got {value!r}")
    return float(value)


def _to_waves(coefficients: Mapping[int, float], units: str, wavelength: float | None) -> dict[int, float]:
    if units not in ("waves", "um"):
        raise ValueError(f"`units` must be 'waves' or 'um', got {units!r}")
    if not isinstance(coefficients, Mapping):
        raise TypeError(f"`coefficients` must map Noll indices to values, got {type(coefficients).__name__}")
    checked = coefficients_from_names(coefficients)  # indices >= 1, finite values
    if units == "waves":
        return checked
    if wavelength is None:
        raise ValueError("coefficients in micrometres (`units='um'`) need `wavelength`")
    return {j: v / wavelength for j, v in checked.items()}


def _intensity(pupil: np.ndarray) -> np.ndarray:
    # Forward FFT, pupil and PSF in the same (row = y, column = x) frame: Fraunhofer
    # propagation as in hcipy and prysm, so +Z2 moves the spot to +x and +Z3 to +y.
    field = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(pupil)))
    return np.abs(field) ** 2


def _crop_and_bin(intensity: np.ndarray, size: int, oversample: int) -> np.ndarray:
    centre = intensity.shape[0] // 2
    half = (size * oversample) // 2
    window = intensity[centre - half : centre + half + 1, centre - half : centre + half + 1]
    binned = window.reshape(size, oversample, size, oversample).sum(axis=(1, 3))
    return binned / binned.sum()


def zernike_psf(
    coefficients: Mapping[int, float],
    size: int,
    *,
    wavelength: float | None = None,
    na: float | None = None,
    pixel_size: float | None = None,
    immersion_index: float = 1.0,
    pupil_pixels: float | None = None,
    z: float | Sequence[float] | None = None,
    oversample: int = 1,
    units: str = "waves",
    fft_size: int | None = None,
) -> np.ndarray:
    """PSF of a circular pupil with Zernike aberrations, normalised to unit sum.

    Parameters
    ----------
    coefficients : mapping of int to float
        Noll index -> RMS coefficient (waves, or um with ``units="um"``); ``{}`` is aberration-free.
    size : int
        Odd side K of the returned PSF in pixels.
    wavelength : float, optional
        Emission wavelength in um (physical mode: give ``wavelength``, ``na``, ``pixel_size``).
    na : float, optional
        Numerical aperture; at most ``immersion_index``.
    pixel_size : float, optional
        Pixel size in object space, um.
    immersion_index : float
        Refractive index of the immersion medium (used by the z defocus).
    pupil_pixels : float, optional
        Dimensionless mode: pupil radius in pixels of an ``fft_size`` grid (default 256);
        the first dark ring then lies at ``0.61 fft_size / pupil_pixels`` pixels.
    z : float or sequence of float, optional
        Defocus distance(s) in um (physical mode only); a sequence gives a (Z, K, K) stack.
        A positive Z4 coefficient moves the best focus towards +z (module docstring).
    oversample : int
        Odd number of sub-pixels per pixel side; the PSF is integrated over each pixel.
    units : {"waves", "um"}
        Unit of the coefficients.
    fft_size : int, optional
        FFT grid side (chosen automatically in physical mode).

    Returns
    -------
    numpy.ndarray
        (K, K) float64 PSF, or (Z, K, K) when ``z`` is a sequence; non-negative, each plane
        sums to 1.

    Raises
    ------
    ValueError
        A parameter breaks its rule (non-finite coefficients, ``z`` or optics; an empty ``z``;
        ``size`` larger than the grid), or the FFT grid would need more than
        :data:`MAX_GRID_BYTES` or the free host memory (checked before allocating).

    Warns
    -----
    PsfSamplingWarning
        When ``pixel_size / oversample`` is coarser than ``lambda / (4 NA)``.

    Examples
    --------
    >>> psf = zernike_psf({4: 0.2, 8: 0.1}, 33, wavelength=0.52, na=1.4, pixel_size=0.065,
    ...                   immersion_index=1.518)
    >>> psf.shape, round(float(psf.sum()), 6)
    ((33, 33), 1.0)
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"`size` must be an odd positive integer, got {size!r}")
    if (
        isinstance(oversample, bool)
        or not isinstance(oversample, (int, np.integer))
        or oversample < 1
        or oversample % 2 == 0
    ):
        raise ValueError(f"`oversample` must be an odd integer >= 1, got {oversample!r}")
    size, oversample = int(size), int(oversample)
    physical = (wavelength, na, pixel_size)
    if pupil_pixels is not None:
        if any(v is not None for v in physical):
            raise ValueError(
                "give either `pupil_pixels` (dimensionless) or wavelength/na/pixel_size, not both"
            )
        if z is not None:
            raise ValueError("`z` needs the physical parameters wavelength, na and pixel_size")
        radius = _positive("pupil_pixels", pupil_pixels)
        if fft_size is not None:
            _positive("fft_size", fft_size)
        grid = int(fft_size or DEFAULT_FFT_SIZE) * oversample
        radius *= oversample
        waves = _to_waves(coefficients, units, wavelength)
        check_grid(grid, size, oversample, 1)
        if 2 * radius > grid:
            raise ValueError(
                f"`pupil_pixels`={pupil_pixels} does not fit an FFT grid of {grid // oversample}"
            )
        return _crop_and_bin(_intensity(pupil_function(waves, grid, radius)), size, oversample)
    if any(v is None for v in physical):
        raise ValueError(
            "physical mode needs `wavelength`, `na` and `pixel_size` (um); or pass `pupil_pixels`"
        )
    wavelength = _positive("wavelength", wavelength)
    na = _positive("na", na)
    pixel_size = _positive("pixel_size", pixel_size)
    immersion_index = _positive("immersion_index", immersion_index)
    if na > immersion_index:
        raise ValueError(f"`na`={na} cannot exceed `immersion_index`={immersion_index}")
    fine = pixel_size / oversample
    nyquist = nyquist_pixel_size(wavelength, na)
    if fine > nyquist * (1 + 1e-9):
        needed = math.ceil(pixel_size / nyquist)
        needed += 1 - needed % 2
        warnings.warn(
            f"pixel size {pixel_size} um / oversample {oversample} is coarser than the Nyquist limit "
            f"lambda/(4 NA) = {nyquist:.4g} um: the PSF is aliased; pass oversample={needed} "
            "to integrate a well-sampled PSF over each pixel",
            PsfSamplingWarning,
            stacklevel=2,
        )
    waves = _to_waves(coefficients, units, wavelength)
    depths = None if z is None else np.atleast_1d(np.asarray(z, dtype=np.float64))
    if depths is not None and (depths.ndim != 1 or depths.size == 0 or not np.isfinite(depths).all()):
        raise ValueError(f"`z` must be a finite number or a non-empty sequence of them, got {z!r}")
    grid, radius = pupil_sampling(
        size, wavelength, na, fine, oversample, fft_size, planes=1 if depths is None else depths.size
    )
    if z is None:
        return _crop_and_bin(_intensity(pupil_function(waves, grid, radius)), size, oversample)
    rho, _ = pupil_coordinates(grid, radius)
    planes = [
        _crop_and_bin(
            _intensity(
                pupil_function(
                    waves,
                    grid,
                    radius,
                    angular_spectrum_defocus(
                        rho, depth, wavelength=wavelength, na=na, immersion_index=immersion_index
                    ),
                )
            ),
            size,
            oversample,
        )
        for depth in depths
    ]
    stack = np.stack(planes)
    return stack[0] if np.ndim(z) == 0 else stack
