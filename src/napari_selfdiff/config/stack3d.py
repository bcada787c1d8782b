"""The 3D section of :class:`~napari_selfdiff.config.deblur.DeblurConfig`: blind deconvolution of z-stacks.

Used when ``stack_mode="3d"``: one 3D PSF of ``Kz x K x K`` voxels for the whole (Z, Y, X)
stack (:mod:`napari_selfdiff.blind.selfdiff.volume_run`). Import it from :mod:`napari_selfdiff.config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from napari_selfdiff.config.rules import (
    _choice,
    _is_int,
    _is_number,
    _non_negative,
    _positive,
    _validate,
    _within,
)

__all__ = ["Stack3dConfig"]

PlaneEnergy = Literal["equal", "free"]


def _optional_positive(name: str) -> tuple:
    return name, lambda v: v is None or (_is_number(v) and v > 0), "None or a finite number > 0"


@dataclass(frozen=True)
class Stack3dConfig:
    """How a z-stack is deconvolved in 3D.

    Parameters
    ----------
    z_step_um : float or None
        Distance between the planes of the stack, in micrometres (the z scale).
    pixel_size_um : float or None
        Lateral pixel size in micrometres; with ``z_step_um`` it gives the voxel aspect
        ``z_step_um / pixel_size_um`` the PSF prior uses (1, isotropic voxels, when either is
        unknown).
    init_width : float
        In-focus lateral width (Gaussian sigma) of the PSF the search starts from, as a
        fraction of the PSF's side K.
    smoothness : float
        Weight per observed voxel of the PSF's smoothness prior (finite differences in
        physical units; :mod:`napari_selfdiff.blind.selfdiff.psf3d`).
    focus : float
        Weight per observed voxel of the prior keeping the PSF's squared energy near its
        middle (focal) plane.
    plane_energy : {"equal", "free"}
        ``"equal"``: every plane of the PSF carries the same light, as in a widefield microscope
        (light is conserved through focus); ``"free"``: planes may dim away from focus
        (confocal, light-sheet).
    widths : tuple of int
        Feature widths of the 2.5D image network (the extended planes are its channels; its
        first width should be at least their number Z + Kz - 1).
    kernel_warmup_fraction : float
        Fraction of the first outer steps in which the PSF is held at its start while the
        image network fits.
    lr, kernel_lr : float
        Adam learning rates of the 2.5D image network and of the PSF generator.
    reliable_from : float
        Do no harm: the stack is deconvolved only when ``1 -`` the share of the PSF's focal
        plane light in its box's one-pixel rim is at least this (a PSF running into its box's
        edge has not been found), in (0, 1]. True widefield PSFs of the benchmark in an 11 px
        box reached 0.87 (spherical aberration spreads the focal plane), hence a floor below.
        For the self-diffusion 3D PSF (``method`` "selfdiff-3d").
    evidence_from : float
        The physical pupil fit (``method`` "pupil-3d", :mod:`napari_selfdiff.blind.pupil3d`)
        is trusted when its likelihood-ratio statistic against the aberration-free pupil is at
        least this (24.7: the chi-square 1 % point for its 11 coefficients); otherwise the
        stack is restored with the aberration-free PSF and no aberration is reported.
    fit_iterations : int
        L-BFGS iterations of each of the pupil fit's two stages (the object's spectrum alone,
        then with the aberrations).
    """

    z_step_um: float | None = None
    pixel_size_um: float | None = None
    init_width: float = 0.12
    smoothness: float = 0.003
    focus: float = 0.003
    plane_energy: PlaneEnergy = "equal"
    widths: tuple[int, ...] = (32, 48, 64)
    kernel_warmup_fraction: float = 0.3
    lr: float = 3e-3
    kernel_lr: float = 3e-3
    reliable_from: float = 0.75
    evidence_from: float = 24.7
    fit_iterations: int = 60

    def __post_init__(self) -> None:
        if isinstance(self.widths, list):  # from JSON provenance
            object.__setattr__(self, "widths", tuple(self.widths))
        _validate(
            self,
            [
                _optional_positive("z_step_um"),
                _optional_positive("pixel_size_um"),
                _within("init_width", 0, 1, "(]"),
                _non_negative("smoothness"),
                _non_negative("focus"),
                _choice("plane_energy", get_args(PlaneEnergy)),
                (
                    "widths",
                    lambda v: isinstance(v, tuple) and len(v) >= 1 and all(_is_int(w) and w >= 1 for w in v),
                    "a non-empty tuple of integers >= 1",
                ),
                _within("kernel_warmup_fraction", 0, 1, "[)"),
                _positive("lr"),
                _positive("kernel_lr"),
                _within("reliable_from", 0, 1, "(]"),
                _non_negative("evidence_from"),
                ("fit_iterations", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
            ],
        )

    @property
    def aspect(self) -> float | None:
        """Voxel aspect ``z_step_um / pixel_size_um``, or None when either is unknown."""
        if self.z_step_um is None or self.pixel_size_um is None:
            return None
        return self.z_step_um / self.pixel_size_um
