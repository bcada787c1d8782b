"""How a PSF is sampled: the Nyquist pixel, the FFT grid and the pupil's radius on it.

One rule for the NumPy optics (:func:`.psf.zernike_psf`) and the torch optics of the engine's
Zernike PSF models: an N x N grid of pixel ``dx`` puts the pupil's edge (the coherent cut-off
NA / lambda) at ``R = NA N dx / lambda`` pixels, and the intensity PSF is Nyquist-sampled when
``dx <= lambda / (4 NA)``.
"""

from __future__ import annotations

import math

from napari_selfdiff.resources import free_host_memory

__all__ = ["check_grid", "fast_even_size", "known_sampling", "nyquist_pixel_size", "pupil_sampling"]

#: Complex grids held at once while a PSF is computed (pupil, field, shifts), and the most
#: memory a PSF may ask for (a typo such as na=0.0001 would need terabytes).
GRID_COPIES = 4
MAX_GRID_BYTES = 8 * 1024**3
MIN_PUPIL_RADIUS = 24  # grid pixels; fewer resolve the pupil edge poorly


def nyquist_pixel_size(wavelength: float, na: float) -> float:
    """Largest object-space pixel (um) that Nyquist-samples the intensity PSF: lambda / (4 NA)."""
    return wavelength / (4.0 * na)


def check_grid(grid: int, size: int, oversample: int, planes: int) -> None:
    """Refuse a PSF window larger than the grid, or a grid that does not fit in memory."""
    if size * oversample > grid:
        raise ValueError(
            f"`size`={size} x `oversample`={oversample} does not fit the {grid} px FFT grid: "
            "raise `fft_size` or lower `size`"
        )
    needed = GRID_COPIES * 16 * grid * grid + 8 * planes * size * size
    free = free_host_memory()
    limit = MAX_GRID_BYTES if free is None else min(MAX_GRID_BYTES, free)
    if needed > limit:
        raise ValueError(
            f"this PSF needs a {grid} x {grid} FFT grid (about {needed / 1024**3:.3g} GiB), over the "
            f"{limit / 1024**3:.3g} GiB allowed: the pixel is far finer than the optics resolve "
            "(a tiny `na` or `pixel_size`?), or `fft_size` is too large"
        )


def fast_even_size(n: int) -> int:
    """Smallest even integer >= n whose only prime factors are 2, 3 and 5 (fast FFT size)."""
    n += n % 2
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 2


def pupil_sampling(
    size: int,
    wavelength: float,
    na: float,
    fine: float,
    oversample: int,
    fft_size: int | None = None,
    *,
    planes: int = 1,
) -> tuple[int, float]:
    """FFT grid side G and pupil radius R (grid pixels) for a K = ``size`` PSF of sub-pixel ``fine`` um.

    G is the smallest fast even size that holds the oversampled PSF window twice over and
    resolves the pupil edge with at least ``MIN_PUPIL_RADIUS`` pixels (or ``fft_size``);
    ``R = NA G fine / lambda`` (the coherent cut-off NA / lambda on that grid). A grid that
    would not fit in memory (``planes`` PSF planes) is refused before anything is allocated.
    """
    wanted = max(
        2 * size * oversample, math.ceil(MIN_PUPIL_RADIUS * wavelength / (na * fine)), int(fft_size or 0)
    )
    check_grid(wanted, size, oversample, planes)
    grid = fast_even_size(wanted)
    return grid, na * grid * fine / wavelength


def known_sampling(size: int, wavelength: float, na: float, pixel_size: float) -> tuple[int, int, float]:
    """(grid G, oversample, pupil radius R) for a K = ``size`` PSF of a known microscope.

    The odd number of sub-pixels per pixel that makes the sub-pixel Nyquist-sampled
    (``pixel_size / oversample <= lambda / (4 NA)``), then :func:`pupil_sampling` on it.
    """
    oversample = max(1, math.ceil(pixel_size / nyquist_pixel_size(wavelength, na) - 1e-9))
    oversample += 1 - oversample % 2
    grid, radius = pupil_sampling(size, wavelength, na, pixel_size / oversample, oversample)
    return grid, oversample, radius
