"""Seeded synthetic z-stacks for the 3D benchmark (:mod:`benchmarks.stacks`): specimen, 3D PSF, noise.

Specimens (ground truth in [0, 1] on a faint background, voxels ``z_step x pixel x pixel`` um):
beads (sub-resolution points), filaments (smooth 3D curves), hollow shells (sphere surfaces)
and nuclei (textured ellipsoids). The PSF is a widefield through-focus Zernike PSF
(:func:`napari_selfdiff.optics.zernike_psf` with ``z=[...]``), the blurred stack its valid-free
"same" convolution of the specimen (the specimen is generated with a margin that is then
cropped), with Poisson noise of ``photons`` at the brightest voxel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from napari_selfdiff.optics import zernike_psf

SPECIMENS = ("beads", "filaments", "shells", "nuclei")
WAVELENGTH = 0.52
BACKGROUND = 0.02


@dataclass(frozen=True)
class StackCase:
    """One synthetic stack: its recipe and its arrays (truth, PSF, nominal PSF, blurred)."""

    name: str
    specimen: str
    na: float
    immersion: float
    pixel_um: float
    z_step_um: float
    aberrations: dict
    photons: float
    truth: np.ndarray = field(repr=False)
    psf: np.ndarray = field(repr=False)
    nominal_psf: np.ndarray = field(repr=False)
    blurred: np.ndarray = field(repr=False)


def _points(rng, shape, count):
    out = np.zeros(shape)
    idx = tuple(rng.integers(0, n, count) for n in shape)
    out[idx] = rng.uniform(0.4, 1.0, count)
    return out


def _grid(shape, aspect):
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    return z * aspect, y, x


def specimen(name: str, shape: tuple[int, int, int], aspect: float, rng: np.random.Generator) -> np.ndarray:
    """A (Z, H, W) specimen in [0, 1]; ``aspect`` = z step / pixel size (lengths in pixels)."""
    z, y, x = _grid(shape, aspect)
    out = np.zeros(shape)
    volume = shape[1] * shape[2] / (128 * 128)
    if name == "beads":
        out = _points(rng, shape, int(200 * volume * shape[0] / 32) + 8)
    elif name == "filaments":
        for _ in range(int(8 * volume) + 2):
            p = np.array(
                [rng.uniform(0, shape[0] * aspect), rng.uniform(0, shape[1]), rng.uniform(0, shape[2])]
            )
            d = rng.normal(size=3)
            d[0] *= 0.3
            for _ in range(4 * max(shape)):
                d = d / np.linalg.norm(d) + 0.15 * rng.normal(size=3) * np.array([0.3, 1, 1])
                p = p + d / np.linalg.norm(d)
                i = (round(p[0] / aspect), round(p[1]), round(p[2]))
                if all(0 <= a < n for a, n in zip(i, shape, strict=True)):
                    out[i] = 1.0
    elif name in ("shells", "nuclei"):
        for _ in range(int(5 * volume) + 2):
            c = [
                rng.uniform(0.3, 0.7) * shape[0] * aspect,
                rng.uniform(0, shape[1]),
                rng.uniform(0, shape[2]),
            ]
            r = rng.uniform(6, 14, size=3) * np.array([min(1.0, shape[0] * aspect / 40), 1, 1])
            d = np.sqrt(((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2)
            if name == "shells":
                out = np.maximum(out, np.exp(-(((d - 1) * min(r)) ** 2) / 0.5))
            else:
                texture = 0.6 + 0.4 * gaussian_filter(rng.random(shape), 1.5) / 0.6
                out = np.maximum(out, (d < 1) * np.clip(texture, 0, 1))
    return np.clip(out, 0, 1)


def widefield_psf(kernel: tuple[int, int, int], na: float, immersion: float, pixel_um: float,
                  z_step_um: float, aberrations: dict) -> np.ndarray:  # fmt: skip
    """(Kz, K, K) through-focus PSF, unit sum over the whole box."""
    kz, k, _ = kernel
    zs = [(w - kz // 2) * z_step_um for w in range(kz)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stack = zernike_psf(aberrations, k, wavelength=WAVELENGTH, na=na, pixel_size=pixel_um,
                            immersion_index=immersion, z=zs, oversample=3)  # fmt: skip
    return stack / stack.sum()


def make_case(
    index: int, shape: tuple[int, int, int], kernel: tuple[int, int, int], seed: int = 0
) -> StackCase:
    """Case ``index``: specimen cycles over :data:`SPECIMENS`, optics and noise drawn from the seed."""
    rng = np.random.default_rng([seed, index])
    name = SPECIMENS[index % len(SPECIMENS)]
    na = float(rng.choice([0.8, 1.0, 1.2, 1.4]))
    immersion = 1.0 if na < 1.0 else (1.33 if na < 1.3 else 1.518)
    pixel_um = round(WAVELENGTH / (4.4 * na), 4)
    z_step_um = float(rng.choice([0.2, 0.3, 0.4, 0.5])) if na < 1.3 else float(rng.choice([0.2, 0.3]))
    aberrations = {11: round(float(rng.uniform(0.1, 0.3)), 3), 7: round(float(rng.uniform(-0.1, 0.1)), 3)}
    photons = float(rng.choice([100, 300, 1000, 3000]))
    psf = widefield_psf(kernel, na, immersion, pixel_um, z_step_um, aberrations)
    nominal = widefield_psf(kernel, na, immersion, pixel_um, z_step_um, {})
    margin = tuple(n for n in kernel)
    big = tuple(n + 2 * m for n, m in zip(shape, margin, strict=True))
    truth_big = BACKGROUND + (1 - BACKGROUND) * specimen(name, big, z_step_um / pixel_um, rng)
    blurred_big = fftconvolve(truth_big, psf, mode="same")
    crop = tuple(slice(m, m + n) for m, n in zip(margin, shape, strict=True))
    truth, clean = truth_big[crop], np.clip(blurred_big[crop], 0, None)
    scale = photons / clean.max()
    blurred = rng.poisson(clean * scale) / scale
    return StackCase(
        f"{index:02d}-{name}", name, na, immersion, pixel_um, z_step_um, aberrations, photons,
        *(array.astype(np.float32) for array in (truth, psf, nominal, blurred)),
    )  # fmt: skip
