"""Blur kernels for synthetic experiments: camera shake, Gaussian, disk (defocus).

Every kernel is a float64 (K, K) array, non-negative, with unit sum and its centre of
mass near the centre pixel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["disk_kernel", "gaussian_kernel", "motion_kernel", "motion_trajectory"]


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"`size` must be an odd positive integer, got {size!r}")
    return int(size)


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """Isotropic Gaussian ``exp(-r^2 / (2 sigma^2))`` sampled on a (size, size) grid."""
    size = _check_size(size)
    if not sigma > 0:
        raise ValueError(f"`sigma` must be > 0 pixels, got {sigma!r}")
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2.0 * sigma**2))
    kernel = np.outer(g, g)
    return kernel / kernel.sum()


def disk_kernel(size: int, radius: float, supersample: int = 8) -> np.ndarray:
    """Uniform disk of ``radius`` pixels (geometric defocus), area-weighted at the edge.

    Each pixel holds the fraction of its area inside the disk, estimated on a
    ``supersample x supersample`` sub-grid.
    """
    size = _check_size(size)
    if not 0 < radius <= size / 2:
        raise ValueError(f"`radius` must be in (0, size/2 = {size / 2}] pixels, got {radius!r}")
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    coords = (np.arange(size) - size // 2)[:, None] + offsets[None, :]
    fine = coords.reshape(-1)
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2) <= radius**2
    kernel = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return kernel / kernel.sum()


def motion_trajectory(
    rng: np.random.Generator, n_samples: int = 2000, anxiety: float | None = None
) -> np.ndarray:
    """Random camera-shake trajectory (complex positions), after Boracchi & Foi (2012).

    A particle moves at constant speed; at every sample its velocity receives a Gaussian
    perturbation, a centripetal pull back to the origin and, rarely, an abrupt reversal
    ("big shake"). ``anxiety`` in [0, 1] scales the perturbations (random when None).

    Reference: G. Boracchi and A. Foi, "Modeling the performance of image restoration from
    motion blur", IEEE TIP 21(8), 2012, doi:10.1109/TIP.2012.2192126.
    """
    anxiety = 0.1 * rng.random() if anxiety is None else float(anxiety)
    centripetal = 0.7 * rng.random()
    gaussian_term = 10.0 * rng.random()
    big_shake = 0.2 * rng.random()
    step = 1.0 / (n_samples - 1)
    angle = 2 * np.pi * rng.random()
    velocity = np.exp(1j * angle) * (anxiety if anxiety > 0 else step)
    positions = np.zeros(n_samples, dtype=np.complex128)
    for t in range(n_samples - 1):
        shake = 0.0
        if rng.random() < big_shake * anxiety:
            shake = 2 * velocity * np.exp(1j * (np.pi + rng.random() - 0.5))
        noise = gaussian_term * (rng.standard_normal() + 1j * rng.standard_normal())
        velocity = velocity + shake + anxiety * (noise - centripetal * positions[t]) * step
        velocity = velocity / max(abs(velocity), 1e-12) * step
        positions[t + 1] = positions[t] + velocity
    return positions


def motion_kernel(
    size: int, *, seed: int | np.random.Generator | None = None, extent: float | None = None
) -> np.ndarray:
    """Camera-shake kernel: a random trajectory rasterised with sub-pixel (bilinear) weights.

    Parameters
    ----------
    size : int
        Odd side of the kernel.
    seed : int or numpy.random.Generator, optional
        Seed of the trajectory.
    extent : float, optional
        Largest extent of the trajectory in pixels (default ``size - 2``, so it stays inside).
    """
    size = _check_size(size)
    rng = np.random.default_rng(seed)
    path = motion_trajectory(rng)
    extent = float(size - 2 if extent is None else extent)
    span = max(np.ptp(path.real), np.ptp(path.imag), 1e-12)
    path = (path - (path.real.min() + 1j * path.imag.min())) * (extent / span)
    path -= (np.ptp(path.real) + 1j * np.ptp(path.imag)) / 2  # centre the bounding box
    rows = path.imag + size // 2
    cols = path.real + size // 2
    kernel = np.zeros((size, size))
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    for dr, dc, weight in (
        (0, 0, (1 - fr) * (1 - fc)),
        (1, 0, fr * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 1, fr * fc),
    ):
        rr, cc = np.clip(r0 + dr, 0, size - 1), np.clip(c0 + dc, 0, size - 1)
        np.add.at(kernel, (rr, cc), weight)
    return kernel / kernel.sum()
