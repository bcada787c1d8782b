"""Optics: Zernike polynomials, pupil -> PSF (2D and 3D), blur kernels, synthetic degradation.

NumPy only; no napari import.
"""

from napari_selfdiff.optics.aberrations import random_aberration, rms_wavefront_error, strehl_ratio
from napari_selfdiff.optics.degrade import blur
from napari_selfdiff.optics.kernels import disk_kernel, gaussian_kernel, motion_kernel
from napari_selfdiff.optics.phase_retrieval import PupilEstimate, average_beads, retrieve_pupil
from napari_selfdiff.optics.psf import PsfSamplingWarning, nyquist_pixel_size, zernike_psf
from napari_selfdiff.optics.pupil import pupil_function, wavefront
from napari_selfdiff.optics.zernike import (
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
    "PupilEstimate",
    "ansi_to_nm",
    "average_beads",
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
    "retrieve_pupil",
    "rms_wavefront_error",
    "strehl_ratio",
    "wavefront",
    "zernike",
    "zernike_psf",
]
