"""Optics: Zernike polynomials, pupil -> PSF (2D and 3D), blur kernels, synthetic degradation.

NumPy only; no napari import.
"""

from .aberration import random_aberration, rms_wavefront_error, strehl_ratio
from .degrade import blur
from .kernels import disk_kernel, gaussian_kernel, motion_kernel
from .psf import PsfSamplingWarning, nyquist_pixel_size, zernike_psf
from .pupil import pupil_function, wavefront
from .zernike import (
    NOLL_NAMES,
    ansi_to_nm,
    coefficients_from_names,
    nm_to_ansi,
    nm_to_noll,
    noll_name,
    noll_to_nm,
    zernike,
)

__all__ = [
    "NOLL_NAMES",
    "PsfSamplingWarning",
    "ansi_to_nm",
    "blur",
    "coefficients_from_names",
    "disk_kernel",
    "gaussian_kernel",
    "motion_kernel",
    "nm_to_ansi",
    "nm_to_noll",
    "noll_name",
    "noll_to_nm",
    "nyquist_pixel_size",
    "pupil_function",
    "random_aberration",
    "rms_wavefront_error",
    "strehl_ratio",
    "wavefront",
    "zernike",
    "zernike_psf",
]
