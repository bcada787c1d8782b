"""A PSF layer made fit for an image layer: its in-focus plane, at the image's pixel size.

Non-blind deconvolution here is 2D (per plane for stacks): a 3D PSF contributes its
in-focus plane (the one with the highest peak), and a PSF sampled at another pixel size
than the image (say a 0.065 um Zernike PSF for a 0.1 um image) is resampled to the image's
pixel size, its side kept odd and its sum 1. What was done is returned in words.
"""

import numpy as np
from napari.layers import Image
from scipy import ndimage

#: Relative pixel-size difference below which a PSF is used as it is.
SCALE_TOLERANCE = 0.01


def _units(layer: Image) -> tuple[str, ...]:
    return tuple(str(unit) for unit in layer.units)


def _resample(psf: np.ndarray, factor: float) -> np.ndarray:
    """``psf`` sampled ``factor`` times more densely, centre on centre, odd sides (linear)."""
    side = [max(3, round((n - 1) * factor) // 2 * 2 + 1) for n in psf.shape]
    grids = np.meshgrid(
        *[(np.arange(m) - m // 2) / factor + (n - 1) / 2 for m, n in zip(side, psf.shape, strict=True)],
        indexing="ij",
    )
    return np.clip(ndimage.map_coordinates(psf, grids, order=1, cval=0.0), 0, None)


def match_psf(image: Image, psf_layer: Image) -> tuple[np.ndarray, list[str]]:
    """The 2D PSF to deconvolve ``image`` with, and notes on what was changed."""
    psf = np.asarray(psf_layer.data[0] if psf_layer.multiscale else psf_layer.data, dtype=np.float64)
    notes = []
    if psf.ndim == 3 and not psf_layer.rgb:
        plane = int(np.argmax(psf.reshape(psf.shape[0], -1).max(axis=1)))
        psf = psf[plane]
        notes.append(
            f"3D PSF: its in-focus plane {plane + 1}/{psf_layer.data.shape[0]} is used (2D deconvolution "
            "does not remove out-of-focus light from other planes)"
        )
    image_pixel, psf_pixel = float(image.scale[-1]), float(psf_layer.scale[-1])
    physical = _units(image)[-1] == _units(psf_layer)[-1] != "pixel"  # a scale-1 layer is in pixels
    if physical and abs(psf_pixel / image_pixel - 1) > SCALE_TOLERANCE:
        psf = _resample(psf, psf_pixel / image_pixel)
        notes.append(
            f"PSF resampled from {psf_pixel:.4g} to the image's {image_pixel:.4g} {_units(image)[-1]} "
            f"pixels ({psf_layer.data.shape[-1]} -> {psf.shape[-1]} px)"
        )
    total = psf.sum()
    return (psf / total if total > 0 else psf), notes
