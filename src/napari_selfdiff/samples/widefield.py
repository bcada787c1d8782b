"""A small synthetic widefield stack: beads and filaments blurred by a true 3D PSF.

The PSF is the project's own optics (:func:`~napari_selfdiff.optics.zernike_psf`, a
circular pupil with a little spherical aberration, through focus), so the stack shows what a
widefield microscope does: in-focus detail blurred in the plane and out-of-focus cones above
and below each bead (visible in an XZ view). 2D deconvolution per plane sharpens the plane
but cannot remove those cones; the true 3D PSF is given for comparison and for the Non-blind
widget. Small enough to make in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from napari_selfdiff.optics import zernike_psf

__all__ = ["MicroscopyCase", "make_microscopy_case"]


@dataclass(frozen=True)
class MicroscopyCase:
    """The stack (Z, Y, X) in photons, its sharp object, the true 3D PSF and the optics (micrometres)."""

    blurred: np.ndarray
    sharp: np.ndarray
    psf: np.ndarray
    pixel_size_um: float
    z_step_um: float
    wavelength_um: float
    na: float
    immersion_index: float


def _object(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Beads (single bright voxels, a little smoothed) and thin curved filaments."""
    depth, height, width = shape
    sharp = np.zeros(shape, np.float64)
    for _ in range(25):
        z, y, x = rng.integers(2, depth - 2), rng.integers(4, height - 4), rng.integers(4, width - 4)
        sharp[z, y, x] += rng.uniform(0.6, 1.0)
    t = np.linspace(0, 1, 400)
    for _ in range(4):
        y0, x0, z0 = rng.uniform(0.15, 0.85, 3) * (height, width, depth)
        angle, bend = rng.uniform(0, np.pi), rng.uniform(-0.4, 0.4)
        ys = y0 + np.sin(angle) * (t - 0.5) * height * 0.8 + bend * height * (t - 0.5) ** 2
        xs = x0 + np.cos(angle) * (t - 0.5) * width * 0.8
        zs = z0 + (t - 0.5) * depth * 0.3
        inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width) & (zs >= 0) & (zs < depth)
        np.add.at(sharp, (zs[inside].astype(int), ys[inside].astype(int), xs[inside].astype(int)), 0.15)
    return ndimage.gaussian_filter(sharp, (0.3, 0.6, 0.6))


def make_microscopy_case(
    shape: tuple[int, int, int] = (16, 96, 96), *, seed: int = 0, photons: float = 300.0
) -> MicroscopyCase:
    """The sample stack: 0.1 um pixels, 0.3 um planes, NA 1.2 water, 0.52 um emission, Poisson noise."""
    rng = np.random.default_rng(seed)
    pixel, step, wavelength, na, immersion = 0.1, 0.3, 0.52, 1.2, 1.33
    z = (np.arange(shape[0] - 1) - (shape[0] - 2) / 2) * step  # odd depth, centred on focus
    psf = zernike_psf(
        {11: 0.05}, 25, wavelength=wavelength, na=na, pixel_size=pixel, immersion_index=immersion, z=z
    )
    psf = (psf / psf.sum()).astype(np.float32)  # the 3D PSF sums to 1 (each plane's share of the light)
    sharp = _object(shape, rng)
    blurred = np.clip(signal.fftconvolve(sharp, psf.astype(np.float64), mode="same"), 0, None)
    scale = photons / max(blurred.max(), 1e-12)  # photons at the brightest voxel
    counts = rng.poisson(blurred * scale + 5.0)  # with 5 photons of background
    return MicroscopyCase(
        counts.astype(np.float32),
        (sharp * scale).astype(np.float32),
        psf,
        pixel,
        step,
        wavelength,
        na,
        immersion,
    )
