r"""Zernike aberrations: RMS wavefront error, Strehl ratio, random draws, and the estimated ones.

:class:`Aberrations` is what the Zernike kernel model reports: coefficients, names, RMS, Strehl
and the sign ambiguity of one image.

**What one 2D image can tell.** With ``P`` the pupil and ``W = W_e + W_o`` its wavefront split
into the terms even under ``r -> -r`` (azimuthal order m even: defocus, astigmatism, spherical,
quadrafoil) and the odd ones (coma, trefoil), ``F{conj(f)}(u) = conj(F{f}(-u))`` gives

.. math::

    \mathrm{PSF}(-W_e + W_o) = \mathrm{PSF}(W_e + W_o),

so the even part is known up to one common sign, whatever the noise and the method; the odd
part, and the relative signs of the even terms, are determined. A through-focus stack lifts the
ambiguity (defocus breaks the symmetry). :func:`coefficient_error` is the error modulo it.

Beyond that sign, one in-focus image determines the PSF better than the coefficients: for
larger aberrations distinct pupils give PSFs that explain the data equally well, even with the
sharp image known (``docs/benchmarks/aberration_identifiability.md``). A 2D estimate is a
model of the PSF; the coefficients are a measurement only through focus.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_selfdiff.config import OpticsConfig
from napari_selfdiff.optics.pupil import pupil_coordinates, wavefront
from napari_selfdiff.optics.zernike import nm_to_ansi, noll_name, noll_to_nm

__all__ = [
    "Aberrations",
    "coefficient_error",
    "is_even",
    "random_aberration",
    "rms_wavefront_error",
    "strehl_ratio",
]


def rms_wavefront_error(coefficients: Mapping[int, float]) -> float:
    """RMS wavefront error ``sqrt(sum_{j >= 2} a_j^2)`` (orthonormal terms; piston excluded)."""
    return float(math.sqrt(sum(v * v for j, v in coefficients.items() if int(j) >= 2)))


def strehl_ratio(coefficients: Mapping[int, float], samples: int = 256) -> float:
    """Strehl ratio ``|<exp(2 pi i W)>_pupil|^2``: on-axis intensity relative to a perfect pupil.

    Computed by averaging over a ``samples``-pixel-wide pupil; for small aberrations it
    approaches the Marechal approximation ``exp(-(2 pi sigma)^2)`` with sigma the RMS
    wavefront error in waves.
    """
    radius = samples / 2
    rho, theta = pupil_coordinates(samples + 2, radius)
    inside = rho <= 1.0
    phase = 2 * np.pi * wavefront(coefficients, rho[inside], theta[inside])
    return float(np.abs(np.exp(1j * phase).mean()) ** 2)


def random_aberration(
    rms: float,
    *,
    seed: int | np.random.Generator | None = None,
    indices: Iterable[int] = range(4, 16),
) -> dict[int, float]:
    """Random Zernike coefficients (waves) over Noll ``indices`` with total RMS ``rms``.

    A Gaussian direction on the chosen terms, scaled so that ``rms_wavefront_error`` equals
    ``rms``; the DeblurSDI paper draws Noll j = 4..15 (defocus to quadrafoil).
    """
    rms = float(rms)
    if not (math.isfinite(rms) and rms >= 0):
        raise ValueError(f"`rms` must be a finite number >= 0 waves, got {rms!r}")
    indices = [int(j) for j in indices]
    if not indices or min(indices) < 1:
        raise ValueError(f"`indices` must be Noll indices >= 1, got {indices!r}")
    rng = np.random.default_rng(seed)
    draw = rng.standard_normal(len(indices))
    draw *= rms / max(float(np.linalg.norm(draw)), 1e-12)
    return {j: float(v) for j, v in zip(indices, draw, strict=True)}


def is_even(noll: int) -> bool:
    """True for a term unchanged by ``r -> -r`` (even azimuthal order m)."""
    return noll_to_nm(noll)[1] % 2 == 0


def coefficient_error(found: Mapping[int, float], truth: Mapping[int, float]) -> float:
    """RMS difference (waves) of two coefficient sets, modulo the even part's sign.

    Over the union of their terms (piston and tilts excluded), minimised over the sign of
    ``found``'s even part: the ambiguity of the module docstring.
    """
    terms = sorted(j for j in set(found) | set(truth) if j >= 4)
    best = math.inf
    for sign in (1.0, -1.0):
        diff = [(sign if is_even(j) else 1.0) * found.get(j, 0.0) - truth.get(j, 0.0) for j in terms]
        best = min(best, math.sqrt(sum(d * d for d in diff)))
    return best


@dataclass(frozen=True)
class Aberrations:
    """The pupil the Zernike kernel model found for one plane group.

    Attributes
    ----------
    coefficients : dict of int to float
        Noll index -> coefficient, waves RMS; the even part's common sign is not determined
        by a 2D image (module docstring).
    pupil_radius : float
        Pupil radius in pixels of the FFT grid: ``NA grid dx / lambda`` when the optics are given.
    grid : int
        FFT grid side the PSF was rendered on.
    sampling_estimated : bool
        True when the radius was estimated (no NA, wavelength and pixel size given).
    wavelength : float or None
        Emission wavelength (um), to express coefficients in um.
    even_sign_ambiguous : bool
        True for a 2D image's estimate; False through focus (defocus breaks the symmetry).
    """

    coefficients: dict[int, float]
    pupil_radius: float
    grid: int
    sampling_estimated: bool
    wavelength: float | None = None
    even_sign_ambiguous: bool = True

    @classmethod
    def from_readout(
        cls, values: np.ndarray, noll: list[int], grid: int, optics: OpticsConfig
    ) -> Aberrations:
        """From the generator's read-out (coefficients in the order of ``noll``, then the radius)."""
        coefficients = {int(j): float(v) for j, v in zip(noll, values[:-1], strict=True)}
        return cls(coefficients, float(values[-1]), int(grid), not optics.known, optics.wavelength)

    @property
    def rms(self) -> float:
        """RMS wavefront error, waves (piston excluded)."""
        return rms_wavefront_error(self.coefficients)

    @property
    def strehl(self) -> float:
        """Strehl ratio of the wavefront (on-axis intensity relative to the perfect pupil)."""
        return strehl_ratio(self.coefficients)

    def rotated(self) -> Aberrations:
        """The pupil of the PSF rotated by 180 degrees: the odd terms negated (module docstring)."""
        flipped = {j: (v if is_even(j) else -v) for j, v in self.coefficients.items()}
        return dataclasses.replace(self, coefficients=flipped)

    def dominant(self) -> tuple[int, float]:
        """The largest term: (Noll index, coefficient)."""
        j = max(self.coefficients, key=lambda k: abs(self.coefficients[k]))
        return j, self.coefficients[j]

    def table(self) -> list[dict[str, Any]]:
        """One row per term: Noll and ANSI indices, (n, m), name, waves RMS (and um), even or odd."""
        rows = []
        for j, value in sorted(self.coefficients.items()):
            n, m = noll_to_nm(j)
            row = {"noll": j, "ansi": nm_to_ansi(n, m), "n": n, "m": m, "name": noll_name(j)}
            row.update(waves=round(value, 5), even=is_even(j))
            if self.wavelength is not None:
                row["um"] = round(value * self.wavelength, 5)
            rows.append(row)
        return rows

    def describe(self, top: int = 3) -> str:
        """One line: RMS, Strehl and the largest terms."""
        ranked = sorted(self.coefficients.items(), key=lambda item: -abs(item[1]))[:top]
        terms = ", ".join(f"{noll_name(j)} {v:+.3f}" for j, v in ranked)
        ambiguity = (
            "; even terms up to a common sign (one 2D image: a fit of the PSF, not a wavefront measurement)"
            if self.even_sign_ambiguous
            else ""
        )
        return f"aberrations {self.rms:.3f} waves RMS (Strehl {self.strehl:.2f}): {terms} waves{ambiguity}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for the provenance and layer metadata."""
        return {
            "coefficients_waves": {str(j): round(v, 5) for j, v in sorted(self.coefficients.items())},
            "terms": self.table(),
            "rms_waves": round(self.rms, 5),
            "strehl": round(self.strehl, 4),
            "pupil_radius_px": round(self.pupil_radius, 4),
            "fft_grid": self.grid,
            "sampling_estimated": self.sampling_estimated,
            "even_sign_ambiguous": self.even_sign_ambiguous,
        }
