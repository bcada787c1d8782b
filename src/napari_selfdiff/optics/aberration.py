"""Measures and random draws of Zernike aberrations: RMS wavefront error, Strehl ratio."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from .pupil import pupil_coordinates, wavefront

__all__ = ["random_aberration", "rms_wavefront_error", "strehl_ratio"]


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
