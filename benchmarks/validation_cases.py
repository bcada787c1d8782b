"""Seeded cases of the validation benchmark (:mod:`benchmarks.validation`): scene, kernel, noise, size.

Case ``i`` has seed ``i`` and is generated from it alone (nothing but this code is stored).
Even seeds form the ``tuning`` half, odd seeds the ``check`` half. The factors cycle so that
both halves hold every group:

- noise group ``i % 9`` (9 groups, an odd number, so each group alternates between halves:
  7 or 8 cases per group in 64);
- scene ``SCENES[(i // 2) % 32]``, the same scene entry for cases 2m (tuning) and 2m + 1 (check),
  with its own crop, placement and noise draw;
- kernel family ``(m + m // 4 + m // 32) % 4`` with ``m = i // 2`` (Zernike, camera shake,
  defocus, Gaussian), again shared by the pair 2m, 2m + 1, and turning against the scene list so
  a scene family meets several kernel families; the kernel itself is drawn from the case's seed;
- side 256 for cases with ``(i // 8) % 4 == 3`` (a quarter), else 128; the kernel side is an odd
  number in 11..35 drawn from the seed.

Scenes (:data:`SCENES`, intensities in [0, 1]): scikit-image samples bundled with the package
(no download; colour ones in gray), the Levin sharp images read from :data:`LEVIN` (where that
folder is absent a Levin entry gives way to the next entry), and synthetic fluorescence beads,
filaments, cell membranes, textured nuclei and star fields drawn from the seed. Kernels
(:func:`kernel`): random Zernike PSFs (Noll 4-15, 0.1-0.6 waves RMS), defocus-dominant Zernike
PSFs, camera shake and anisotropic Gaussians.

The sharp scene is made on a domain ``K - 1`` pixels larger than the image and blurred with a
'valid' convolution, so the blurred image has no artificial boundary; the sharp reference is
the matching centre crop. Gaussian groups add white noise of standard deviation ``sigma``.
Poisson groups draw photons at ``peak`` photons for intensity 1 on top of a uniform background
of ``background`` (2-10 % of ``peak``) and add Gaussian read noise of ``read_sigma`` (1-2) photons;
``counts`` holds them as a camera image (photons + ``offset``, float) and ``blurred`` in units of
``peak``: ``(counts - offset) / peak``, whose variance is ``a I + b`` with ``a = 1 / peak`` and
``b = read_sigma^2 / peak^2`` for a noise-free value ``I``. There the sharp reference includes
the background (a uniform level the blur leaves unchanged).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve
from scipy.special import expit

LEVIN = Path("/work/shared/data/levin/gt")
#: Noise groups: ("gaussian", sigma) on [0, 1] intensities, ("poisson", peak photons).
NOISE_GROUPS = (
    ("gaussian", 0.0025),
    ("poisson", 30.0),
    ("gaussian", 0.01),
    ("poisson", 100.0),
    ("gaussian", 0.03),
    ("poisson", 300.0),
    ("gaussian", 0.05),
    ("poisson", 1000.0),
    ("poisson", 3000.0),
)
KERNEL_FAMILIES = ("zernike", "motion", "defocus", "gaussian")
#: Scene entries (family, name), 32 of them: one per pair of cases in 64.
SCENES = (
    ("natural", "camera"), ("beads", "beads"), ("text", "text"), ("filaments", "filaments"),
    ("texture", "brick"), ("stars", "stars"), ("astro", "moon"), ("membranes", "membranes"),
    ("levin", "im1"), ("nuclei", "nuclei"), ("natural", "astronaut"), ("microscopy", "cell"),
    ("texture", "grass"), ("beads", "beads"), ("astro", "hubble_deep_field"), ("filaments", "filaments"),
    ("levin", "im2"), ("natural", "coins"), ("text", "page"), ("membranes", "membranes"),
    ("texture", "gravel"), ("nuclei", "nuclei"), ("microscopy", "immunohistochemistry"), ("stars", "stars"),
    ("levin", "im3"), ("natural", "chelsea"), ("beads", "beads"), ("filaments", "filaments"),
    ("levin", "im4"), ("natural", "rocket"), ("membranes", "membranes"), ("nuclei", "nuclei"),
)  # fmt: skip
LEVIN_IMAGES = ("im1", "im2", "im3", "im4")
ZERNIKE_PUPILS = (16.0, 24.0, 32.0, 48.0, 64.0)  # pupil radius in pixels of the 256 FFT grid


@dataclass(frozen=True)
class Case:
    """One validation case: the sharp reference, the observation and the true degradation."""

    index: int
    seed: int
    half: str
    scene_family: str
    scene: str
    kernel_family: str
    noise_group: str
    noise: dict[str, float] = field(repr=False)
    sharp: np.ndarray = field(repr=False)
    blurred: np.ndarray = field(repr=False)
    kernel: np.ndarray = field(repr=False)
    counts: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"c{self.index:03d}_{self.scene}_{self.kernel_family}_{self.noise_group}"

    @property
    def size(self) -> int:
        return self.sharp.shape[0]

    def fingerprint(self) -> str:
        """A hash of the observation and the kernel: a cached result is reused only for these."""
        digest = hashlib.sha1(np.ascontiguousarray(self.blurred).tobytes())
        digest.update(np.ascontiguousarray(self.kernel).tobytes())
        return digest.hexdigest()[:16]


# Scenes: (E, E) arrays in [0, 1] made from the case's generator.


@functools.cache
def _bundled(name: str) -> np.ndarray:
    """A scikit-image sample (bundled with the package, no download) or a Levin image, gray [0, 1]."""
    if name in LEVIN_IMAGES:
        from skimage.io import imread

        return imread(LEVIN / f"{name}.png").astype(np.float64) / 255.0
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.util import img_as_float

    image = img_as_float(getattr(data, name)())
    return rgb2gray(image) if image.ndim == 3 else image


def _crop(image: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``side`` square of ``image``, upscaled (bicubic) first if it is smaller."""
    if min(image.shape) < side:
        from skimage.transform import rescale

        image = np.clip(rescale(image, side / min(image.shape) + 1e-6, order=3), 0, 1)
    top = rng.integers(0, image.shape[0] - side + 1)
    left = rng.integers(0, image.shape[1] - side + 1)
    return image[top : top + side, left : left + side]


def _normalise(image: np.ndarray) -> np.ndarray:
    return image / image.max()


def _beads(side: int, rng: np.random.Generator) -> np.ndarray:
    """Fluorescent beads: Gaussian spots (sigma 0.7-2.5 px) of log-uniform brightness on a dark field."""
    count = rng.integers(side * side // 600, side * side // 250)
    yy, xx = np.mgrid[:side, :side]
    image = np.full((side, side), 0.02)
    for y, x, s, b in zip(
        *rng.uniform(0, side, (2, count)), rng.uniform(0.7, 2.5, count), 10 ** rng.uniform(-1, 0, count),
        strict=True,
    ):  # fmt: skip
        box = (
            slice(max(0, int(y - 4 * s)), int(y + 4 * s) + 1),
            slice(max(0, int(x - 4 * s)), int(x + 4 * s) + 1),
        )
        image[box] += b * np.exp(-((yy[box] - y) ** 2 + (xx[box] - x) ** 2) / (2 * s * s))
    return _normalise(image)


def _filaments(side: int, rng: np.random.Generator) -> np.ndarray:
    """Thin bright filaments: smooth random curves (a drifting direction) splatted and smoothed."""
    image = np.zeros((side, side))
    for _ in range(rng.integers(8, 20)):
        steps = 4 * side
        angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.05, steps))
        y = rng.uniform(0, side) + np.cumsum(0.5 * np.sin(angle))
        x = rng.uniform(0, side) + np.cumsum(0.5 * np.cos(angle))
        inside = (y >= 0) & (y < side) & (x >= 0) & (x < side)
        np.add.at(image, (y[inside].astype(int), x[inside].astype(int)), rng.uniform(0.3, 1.0))
    return _normalise(gaussian_filter(image, rng.uniform(0.6, 1.2)) + 0.01 * image.max())


def _elliptic_radius(dy: np.ndarray, dx: np.ndarray, ratio: float, angle: float) -> np.ndarray:
    """Radius in an ellipse's frame: axes turned by ``angle``, the minor one scaled by ``ratio``."""
    u = dy * np.cos(angle) + dx * np.sin(angle)
    v = dx * np.cos(angle) - dy * np.sin(angle)
    return np.hypot(u, v / ratio)


def _membranes(side: int, rng: np.random.Generator) -> np.ndarray:
    """Cell outlines: elliptical rings 1-1.5 px thick around a dim cytoplasm."""
    yy, xx = np.mgrid[:side, :side]
    image = np.full((side, side), 0.02)
    for _ in range(rng.integers(side * side // 2500 + 2, side * side // 900 + 4)):
        y, x = rng.uniform(0, side, 2)
        radius, ratio, angle = rng.uniform(8, 30), rng.uniform(0.6, 1.0), rng.uniform(0, np.pi)
        r = _elliptic_radius(yy - y, xx - x, ratio, angle)
        ring = rng.uniform(0.4, 1.0) * np.exp(-((r - radius) ** 2) / (2 * rng.uniform(0.8, 1.5) ** 2))
        image = np.maximum(image, ring + 0.08 * (r < radius))
    return _normalise(image)


def _nuclei(side: int, rng: np.random.Generator) -> np.ndarray:
    """Nuclei: smooth-edged elliptical blobs with a speckled chromatin texture."""
    yy, xx = np.mgrid[:side, :side]
    texture = gaussian_filter(rng.standard_normal((side, side)), 1.5)
    texture = 0.7 + 0.3 * texture / np.abs(texture).max()
    image = np.full((side, side), 0.02)
    for _ in range(rng.integers(side * side // 2000 + 2, side * side // 700 + 4)):
        y, x = rng.uniform(0, side, 2)
        radius, ratio, angle = rng.uniform(6, 18), rng.uniform(0.6, 1.0), rng.uniform(0, np.pi)
        inside = expit((radius - _elliptic_radius(yy - y, xx - x, ratio, angle)) / 0.7)
        image = np.maximum(image, rng.uniform(0.3, 1.0) * inside * texture)
    return _normalise(image)


def _stars(side: int, rng: np.random.Generator) -> np.ndarray:
    """Star field: near-point sources (sigma 0.5 px) of power-law (Pareto 1.5) flux on a dark sky."""
    count = rng.integers(side * side // 300, side * side // 120)
    image = np.zeros((side, side))
    flux = np.minimum((1 - rng.random(count)) ** (-1 / 1.5), 100.0)  # a 1:100 range
    np.add.at(image, tuple(rng.integers(0, side, (2, count))), flux)
    image = gaussian_filter(image, 0.5)
    return 0.99 * image / image.max() + 0.01


SYNTHETIC = {
    "beads": _beads, "filaments": _filaments, "membranes": _membranes, "nuclei": _nuclei, "stars": _stars,
}  # fmt: skip


def scene(name: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """A ``side`` square of scene ``name`` in [0, 1] (synthetic: drawn; else a random crop)."""
    if name in SYNTHETIC:
        return SYNTHETIC[name](side, rng)
    return _crop(_bundled(name), side, rng)


# Kernels: odd (K, K), non-negative, unit sum.


def _zernike(size: int, coefficients: dict[int, float], rng: np.random.Generator) -> np.ndarray:
    """The PSF at a random pupil sampling that keeps >= 75 % of its energy inside K x K (else the finest)."""
    from napari_selfdiff.optics import zernike_psf

    start = rng.integers(len(ZERNIKE_PUPILS))
    for pupil in ZERNIKE_PUPILS[start:]:
        wide = zernike_psf(coefficients, 3 * size, pupil_pixels=pupil)
        if wide[size : 2 * size, size : 2 * size].sum() >= 0.75:
            break
    return zernike_psf(coefficients, size, pupil_pixels=pupil)


def kernel(family: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``family`` kernel of odd ``size`` drawn from ``rng``."""
    from napari_selfdiff.optics import motion_kernel, random_aberration

    if family == "zernike":  # Noll 4-15, 0.1-0.6 waves RMS in all
        coefficients = random_aberration(rng.uniform(0.1, 0.6), seed=rng, indices=range(4, 16))
        return _zernike(size, coefficients, rng)
    if family == "defocus":  # defocus 0.2-0.6 waves RMS plus 0.03-0.1 waves of the others
        coefficients = random_aberration(rng.uniform(0.03, 0.1), seed=rng, indices=range(5, 16))
        coefficients[4] = rng.choice([-1, 1]) * rng.uniform(0.2, 0.6)
        return _zernike(size, coefficients, rng)
    if family == "motion":
        return motion_kernel(size, seed=rng, extent=rng.uniform(0.5, 1.0) * (size - 2))
    if family == "gaussian":  # anisotropic: major sigma K/12-K/6, minor 0.4-1 of it, any angle
        major = rng.uniform(size / 12, size / 6)
        minor, angle = major * rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:size, :size] - size // 2
        u = yy * np.cos(angle) + xx * np.sin(angle)
        v = xx * np.cos(angle) - yy * np.sin(angle)
        psf = np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
        return psf / psf.sum()
    raise ValueError(f"unknown kernel family {family!r}; expected one of {KERNEL_FAMILIES}")


def _noise(group: tuple[str, float], clean: np.ndarray, sharp: np.ndarray, rng: np.random.Generator):
    """``(sharp, blurred, counts, parameters)`` of a noise group applied to the noise-free ``clean``."""
    kind, level = group
    if kind == "gaussian":
        blurred = clean + level * rng.standard_normal(clean.shape)
        return sharp, blurred, None, {"sigma": level, "a": 0.0, "b": level**2}
    peak, offset = level, 100.0
    background = rng.uniform(0.02, 0.10)
    read_sigma = rng.uniform(1.0, 2.0)
    photons = rng.poisson(peak * (np.clip(clean, 0, None) + background)) + read_sigma * rng.standard_normal(
        clean.shape
    )
    counts = photons + offset
    parameters = {
        "peak": peak, "background": background, "read_sigma": read_sigma, "offset": offset,
        "a": 1 / peak, "b": read_sigma**2 / peak**2,
    }  # fmt: skip
    return sharp + background, (counts - offset) / peak, counts, parameters


def make_case(index: int) -> Case:
    """Case ``index`` (seed ``index``), generated and checked."""
    rng = np.random.default_rng([index, 27])
    pair = index // 2
    scene_family, scene_name = SCENES[pair % len(SCENES)]
    if scene_family == "levin" and not LEVIN.is_dir():
        scene_family, scene_name = SCENES[(pair + 1) % len(SCENES)]  # never Levin: the next entry is not
    kernel_family = KERNEL_FAMILIES[(pair + pair // 4 + pair // 32) % len(KERNEL_FAMILIES)]
    group = NOISE_GROUPS[index % len(NOISE_GROUPS)]
    side = 256 if (index // 8) % 4 == 3 else 128
    size = int(rng.choice(np.arange(11, 36, 2)))
    psf = kernel(kernel_family, size, rng)
    extended = scene(scene_name, side + size - 1, rng)
    clean = fftconvolve(extended, psf, mode="valid")
    sharp = extended[size // 2 : size // 2 + side, size // 2 : size // 2 + side]
    sharp, blurred, counts, parameters = _noise(group, clean, sharp, rng)
    case = Case(
        index=index,
        seed=index,
        half="tuning" if index % 2 == 0 else "check",
        scene_family=scene_family,
        scene=scene_name,
        kernel_family=kernel_family,
        noise_group=f"{group[0]}{group[1]:g}",
        noise={"kind": group[0], **parameters},
        sharp=sharp,
        blurred=blurred,
        kernel=psf,
        counts=counts,
    )
    _verify(case, extended)
    return case


def _verify(case: Case, extended: np.ndarray) -> None:
    """Raise RuntimeError when a generated case breaks the benchmark's invariants."""
    k = case.kernel
    problems = [
        (k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0, f"kernel shape {k.shape}"),
        (not 11 <= k.shape[0] <= 35, f"kernel side {k.shape[0]} outside 11..35"),
        (abs(k.sum() - 1) > 1e-9 or k.min() < 0, f"kernel sum {k.sum()}, min {k.min()}"),
        (case.sharp.shape != case.blurred.shape or case.sharp.shape != (case.size,) * 2, "image shapes"),
        (extended.min() < 0 or extended.max() > 1 + 1e-9, f"scene range {extended.min()}..{extended.max()}"),
        (not np.isfinite(case.blurred).all(), "non-finite observation"),
    ]
    failed = [message for bad, message in problems if bad]
    if failed:
        raise RuntimeError(f"case {case.name}: " + "; ".join(failed))


def make_cases(count: int = 64, half: str = "all") -> list[Case]:
    """Cases ``0 .. count - 1`` of ``half`` ("tuning": even seeds, "check": odd, "all")."""
    if half not in ("tuning", "check", "all"):
        raise ValueError(f"`half` must be 'tuning', 'check' or 'all', got {half!r}")
    return [make_case(i) for i in range(count) if half == "all" or (i % 2 == 0) == (half == "tuning")]


def describe(case: Case) -> dict[str, Any]:
    """The case's identity and true degradation parameters (JSON-ready)."""
    return {
        "case": case.name, "index": case.index, "seed": case.seed, "half": case.half, "size": case.size,
        "scene_family": case.scene_family, "scene": case.scene, "kernel_family": case.kernel_family,
        "kernel_size": int(case.kernel.shape[0]), "noise_group": case.noise_group, "noise": case.noise,
    }  # fmt: skip
