"""Seeded z-stacks for the 3D validation (:mod:`benchmarks.zstacks`): three parts, model and measured PSFs.

Each case: a specimen in [0, 1] on a faint floor, blurred by a widefield through-focus PSF,
photons at the brightest voxel, a background, Poisson noise, Gaussian read noise and a camera
offset (ADU), clipped at 0 as a camera does. Parts:

* ``tuning`` (seeds ``[i, 38]``) and ``check`` (``[i, 39]``): beads, filaments, hollow shells
  (smooth cells) and nuclei (:func:`benchmarks.stacks_cases.specimen`);
* ``sealed`` (``[i, 97]``): its own specimens, made only here (vesicles: small hollow spheres and
  puncta; networks: filaments through textured nuclei), run once at the end.

PSFs: the project's scalar pupil model (:func:`benchmarks.stacks_cases.widefield_psf`) at NA
0.8-1.4 (air, water, oil), 0-0.3 waves RMS of spherical aberration, astigmatism and coma; or,
for every fourth case, a **measured** widefield bead PSF (pyotf's fixture
``psf_wl520nm_z300nm_x130nm_na0.85_n1.0.tif``: NA 0.85, air, 520 nm, 130 nm pixels, 300 nm
z; Apache-2.0), which no method's model contains exactly (vectorial effects, pixel
integration, the real pupil's apodisation and aberrations). Get it with::

    git clone https://github.com/david-hoffman/pyotf && \\
      cp pyotf/fixtures/psf_wl520nm_z300nm_x130nm_na0.85_n1.0.tif /tmp/psfs/pyotf_bead.tif

and pass its path (``--measured-psf``); without it those cases are skipped and the tables say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

from benchmarks.stacks_cases import specimen, widefield_psf

WAVELENGTH = 0.52
PARTS = {"tuning": 38, "check": 39, "sealed": 97}
SPECIMENS = {"tuning": ("beads", "filaments", "shells", "nuclei"), "sealed": ("vesicles", "network")}
SPECIMENS["check"] = SPECIMENS["tuning"]
MEASURED = {"na": 0.85, "immersion": 1.0, "pixel_um": 0.13, "z_step_um": 0.3}
FLOOR = 0.02


@dataclass(frozen=True)
class ZCase:
    """One stack: recipe, truth, true PSF and the recorded counts (ADU)."""

    name: str
    part: str
    specimen: str
    psf_source: str  # "model" or "measured"
    na: float
    immersion: float
    pixel_um: float
    z_step_um: float
    aberrations: dict
    photons: float
    truth: np.ndarray = field(repr=False)
    psf: np.ndarray = field(repr=False)
    blurred: np.ndarray = field(repr=False)


def _sealed_specimen(name: str, shape: tuple[int, int, int], aspect: float, rng) -> np.ndarray:
    """Specimens of the sealed part only (not seen while tuning)."""
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij")
    z = z * aspect
    out = np.zeros(shape)
    area = shape[1] * shape[2] / (96 * 96)
    if name == "vesicles":
        for _ in range(int(30 * area)):
            c = (rng.uniform(0, shape[0] * aspect), rng.uniform(0, shape[1]), rng.uniform(0, shape[2]))
            r = rng.uniform(1.5, 4.0)
            d = np.sqrt((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2)
            out = np.maximum(out, rng.uniform(0.4, 1.0) * np.exp(-((d - r) ** 2) / 0.8))
        idx = tuple(rng.integers(0, n, int(60 * area)) for n in shape)
        out[idx] = np.maximum(out[idx], rng.uniform(0.3, 1.0, len(idx[0])))
    else:  # network: filaments through textured nuclei
        out = 0.5 * specimen("nuclei", shape, aspect, rng) + specimen("filaments", shape, aspect, rng)
        out = gaussian_filter(out, 0.5)
    return np.clip(out / max(out.max(), 1e-9), 0, 1)


def measured_psf(path: Path, kernel: tuple[int, int, int]) -> np.ndarray:
    """The measured bead stack cropped to ``kernel`` around its peak, background removed, unit sum."""
    import tifffile

    stack = tifffile.imread(path).astype(np.float64)
    edge = np.concatenate([stack[:, :8].ravel(), stack[:, -8:].ravel()])
    stack = np.clip(stack - np.median(edge), 0, None)
    peak = np.unravel_index(int(np.argmax(gaussian_filter(stack, 1.0))), stack.shape)
    box = tuple(slice(p - k // 2, p + k // 2 + 1) for p, k in zip(peak, kernel, strict=True))
    psf = stack[box]
    return psf / psf.sum()


def _aberrations(rng) -> dict:
    """0-0.3 waves RMS: spherical, and in two of three cases astigmatism or coma too."""
    found = {11: round(float(rng.uniform(-0.1, 0.25)), 3)}
    extra = rng.integers(0, 3)
    if extra == 1:
        found[int(rng.choice([5, 6]))] = round(float(rng.uniform(-0.12, 0.12)), 3)
    elif extra == 2:
        found[int(rng.choice([7, 8]))] = round(float(rng.uniform(-0.12, 0.12)), 3)
    return found


def make_case(
    part: str, index: int, shape: tuple[int, int, int], kernel: tuple[int, int, int],
    measured: Path | None = None,
) -> ZCase | None:  # fmt: skip
    """Case ``index`` of ``part``; None for a measured-PSF case without ``measured``."""
    rng = np.random.default_rng([index, PARTS[part]])
    pool = SPECIMENS[part]
    name = pool[index % len(pool)]
    use_measured = index % 4 == 3
    if use_measured:
        if measured is None:
            return None
        na, immersion, pixel_um, z_step_um = (
            MEASURED[k] for k in ("na", "immersion", "pixel_um", "z_step_um")
        )
        aberrations: dict = {}
        psf = measured_psf(measured, kernel)
    else:
        na = float(rng.choice([0.8, 1.0, 1.2, 1.4]))
        immersion = 1.0 if na < 1.0 else (1.33 if na < 1.3 else 1.518)
        pixel_um = round(WAVELENGTH / (4.4 * na), 4)
        z_step_um = float(rng.choice([0.2, 0.3, 0.4])) if na < 1.3 else float(rng.choice([0.2, 0.3]))
        aberrations = _aberrations(rng)
        psf = widefield_psf(kernel, na, immersion, pixel_um, z_step_um, aberrations)
    photons = float(rng.choice([100, 300, 1000, 3000]))
    aspect = z_step_um / pixel_um
    big = tuple(n + 2 * k for n, k in zip(shape, kernel, strict=True))
    make = _sealed_specimen if part == "sealed" else specimen
    truth_big = FLOOR + (1 - FLOOR) * make(name, big, aspect, rng)
    clean_big = np.clip(fftconvolve(truth_big, psf, mode="same"), 0, None)
    crop = tuple(slice(k, k + n) for k, n in zip(kernel, shape, strict=True))
    truth, clean = truth_big[crop], clean_big[crop]
    scale = photons / clean.max()
    background, read, offset = float(rng.choice([1.0, 5.0])), float(rng.choice([1.0, 2.0])), 100.0
    counts = rng.poisson(clean * scale + background) + rng.normal(0, read, clean.shape) + offset
    blurred = np.clip(np.round(counts), 0, None)
    source = "measured" if use_measured else "model"
    return ZCase(
        f"{part}-{index:02d}-{name}-{source}", part, name, source, na, immersion, pixel_um, z_step_um,
        aberrations, photons, truth.astype(np.float32), psf.astype(np.float32), blurred.astype(np.float32),
    )  # fmt: skip
