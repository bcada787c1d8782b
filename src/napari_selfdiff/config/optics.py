"""The microscope section of :class:`~napari_selfdiff.config.deblur.DeblurConfig`: what the pupil model knows.

Import it from :mod:`napari_selfdiff.config.deblur`. This module imports neither torch nor Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from napari_selfdiff.config.rules import _is_number, _validate
from napari_selfdiff.errors import ConfigError

__all__ = ["OpticsConfig"]


def _optional_positive(name: str):
    return name, lambda v: v is None or (_is_number(v) and v > 0), "None or a finite number > 0"


@dataclass(frozen=True)
class OpticsConfig:
    """The imaging system, for the Zernike PSF model (``kernel_net.model="zernike"``).

    With ``na``, ``wavelength`` and ``pixel_size`` all given, the pupil's sampling is known:
    the PSF is ``|F{pupil}|^2`` with the pupil's edge at the coherent cut-off ``NA / lambda``
    (:mod:`napari_selfdiff.optics.psf`), and only the aberrations are estimated. With none
    of them, the pupil's radius on the FFT grid is estimated with the aberrations.

    Parameters
    ----------
    na : float, optional
        Numerical aperture of the objective (at most ``immersion_index``).
    wavelength : float, optional
        Emission wavelength, um.
    pixel_size : float, optional
        Pixel size in object space, um.
    immersion_index : float
        Refractive index of the immersion medium.
    """

    na: float | None = None
    wavelength: float | None = None
    pixel_size: float | None = None
    immersion_index: float = 1.0

    def __post_init__(self) -> None:
        _validate(
            self,
            [
                _optional_positive("na"),
                _optional_positive("wavelength"),
                _optional_positive("pixel_size"),
                ("immersion_index", lambda v: _is_number(v) and 1 <= v <= 4, "a number in [1, 4]"),
            ],
        )
        given = [v is not None for v in (self.na, self.wavelength, self.pixel_size)]
        if any(given) and not all(given):
            raise ConfigError("give all of `na`, `wavelength` and `pixel_size` (um), or none of them")
        if self.na is not None and self.na > self.immersion_index:
            raise ConfigError(f"`na`={self.na} cannot exceed `immersion_index`={self.immersion_index}")

    @property
    def known(self) -> bool:
        """True when the pupil's sampling follows from NA, wavelength and pixel size."""
        return self.na is not None

    def nyquist_ratio(self) -> float:
        """``pixel_size / (lambda / (4 NA))``: above 1 the PSF is undersampled by the pixels."""
        if not self.known:
            return math.nan
        return self.pixel_size * 4 * self.na / self.wavelength
