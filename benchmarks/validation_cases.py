"""Seeded cases of the validation benchmark (:mod:`benchmarks.validation`): scene, kernel, noise, size.

Three parts (validation v2, issue #37): ``tuning`` (settings are chosen on it), ``check``
(reported, never used to choose) and ``sealed`` (its own seed family and image pool, run once at
the end and reported as it comes out). Each case is generated from its seed alone (nothing but
this code is stored).

**Broad cases** ``0 .. 63`` (v1): case ``i`` has seed ``i``; even seeds are tuning, odd seeds
check. The factors cycle so that both halves hold every group:

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

**Regime cases** ``64 ..`` (:func:`make_regime_case`, seeds ``[i, 37]``, even tuning, odd
check): the regimes v1 lacked, where the default failed on held-out data: smooth, high-SNR
microscopy-like content (scikit-image's cell, retina, immunohistochemistry and moon, and
synthetic cells with smooth cytoplasm; Gaussian 0.001 / 0.0025, Poisson 3000 / 10000 photons:
input PSNR about 28-40 dB), kernels of 27-35 px, sides 128, 256 and (one in eight) 512.

**Sealed cases** (:func:`make_sealed_case`, seeds ``[j, 53]``): scenes no other part uses
(:data:`SEALED_SCENES`: clock, coffee, microaneurysms, the Shepp-Logan phantom, colorwheel,
synthetic dense beads, smooth cells of another generator, and galaxies), every kernel family,
the v1 noise groups and the high-SNR ones, sides 128 / 256 (one in twelve 512).

Optical kernels (Zernike and defocus families) keep their pupil sampling: ``nominal`` is the
aberration-free PSF of the same optics, the baseline a user with known optics would use.

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
#: High-SNR groups of the regime and sealed parts.
HIGH_SNR_GROUPS = (("gaussian", 0.001), ("poisson", 10000.0), ("gaussian", 0.0025), ("poisson", 3000.0))
#: Every noise group of the three parts, in table order.
ALL_NOISE_GROUPS = tuple(dict.fromkeys(sorted(NOISE_GROUPS + HIGH_SNR_GROUPS, key=lambda g: (g[0], g[1]))))
KERNEL_FAMILIES = ("zernike", "motion", "defocus", "gaussian")
#: Smooth, high-SNR scenes of the regime part (family, name).
REGIME_SCENES = (
    ("microscopy", "cell"), ("microscopy", "retina"), ("smooth_cells", "smooth_cells"),
    ("microscopy", "immunohistochemistry"), ("astro", "moon"), ("smooth_cells", "smooth_cells"),
)  # fmt: skip
#: Scenes of the sealed part, used by no other part.
SEALED_SCENES = (
    ("natural", "clock"), ("beads", "dense_beads"), ("natural", "coffee"), ("smooth_cells", "cytoplasm"),
    ("microscopy", "microaneurysms"), ("astro", "galaxies"), ("phantom", "shepp_logan_phantom"),
    ("natural", "colorwheel"),
)  # fmt: skip
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
    nominal: np.ndarray | None = field(default=None, repr=False)

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
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    image = img_as_float(getattr(data, name)())
    if image.ndim == 3 and image.shape[-1] == 4:
        image = rgba2rgb(image)
    image = rgb2gray(image) if image.ndim == 3 else image
    return (image - image.min()) / (image.max() - image.min())


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


def _beads(side: int, rng: np.random.Generator, *, per_bead: tuple[int, int] = (600, 250)) -> np.ndarray:
    """Fluorescent beads: Gaussian spots (sigma 0.7-2.5 px) of log-uniform brightness on a dark field.

    One bead per ``per_bead`` pixels (a range drawn from).
    """
    count = rng.integers(side * side // per_bead[0], side * side // per_bead[1])
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


def _smooth_cells(
    side: int, rng: np.random.Generator, *, soft: tuple[float, float] = (2.0, 5.0)
) -> np.ndarray:
    """Cells with smooth cytoplasm: overlapping elliptical domes with soft edges and gentle gradients.

    Mostly low spatial frequencies (the regime where sparse-gradient estimators fail): each cell
    is a smooth dome (edge width ``soft`` px) over a slowly varying background, with a brighter
    nucleus.
    """
    yy, xx = np.mgrid[:side, :side]
    background = gaussian_filter(rng.standard_normal((side, side)), side / 8)
    image = 0.05 + 0.03 * background / (np.abs(background).max() + 1e-12)
    for _ in range(rng.integers(side * side // 3000 + 3, side * side // 1200 + 5)):
        y, x = rng.uniform(0, side, 2)
        radius, ratio, angle = rng.uniform(10, 28), rng.uniform(0.55, 1.0), rng.uniform(0, np.pi)
        r = _elliptic_radius(yy - y, xx - x, ratio, angle)
        dome = expit((radius - r) / rng.uniform(*soft)) * (1 - 0.4 * (r / radius) ** 2).clip(0, 1)
        nucleus = expit((0.35 * radius - r) / 1.5)
        image = image + rng.uniform(0.2, 0.6) * dome + rng.uniform(0.1, 0.4) * nucleus
    return _normalise(np.clip(image, 0, None))


def _galaxies(side: int, rng: np.random.Generator) -> np.ndarray:
    """Galaxies: Sersic-like elliptical profiles of log-uniform brightness, and a few point stars."""
    yy, xx = np.mgrid[:side, :side]
    image = np.full((side, side), 0.01)
    for _ in range(rng.integers(4, 12)):
        y, x = rng.uniform(0, side, 2)
        scale, ratio, angle = rng.uniform(2, 12), rng.uniform(0.3, 1.0), rng.uniform(0, np.pi)
        n = rng.uniform(0.7, 3.0)
        r = _elliptic_radius(yy - y, xx - x, ratio, angle)
        image += 10 ** rng.uniform(-1.3, 0) * np.exp(-((r / scale) ** (1 / n)))
    stars = np.zeros((side, side))
    np.add.at(stars, tuple(rng.integers(0, side, (2, rng.integers(5, 20)))), rng.uniform(0.2, 1.0))
    return _normalise(image + gaussian_filter(stars, 0.6) * 6)


SYNTHETIC = {
    "beads": _beads, "filaments": _filaments, "membranes": _membranes, "nuclei": _nuclei, "stars": _stars,
    "smooth_cells": _smooth_cells, "galaxies": _galaxies,
    "dense_beads": lambda side, rng: _beads(side, rng, per_bead=(150, 60)),
    "cytoplasm": lambda side, rng: _smooth_cells(side, rng, soft=(3.0, 7.0)),
}  # fmt: skip


def scene(name: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """A ``side`` square of scene ``name`` in [0, 1] (synthetic: drawn; else a random crop)."""
    if name in SYNTHETIC:
        return SYNTHETIC[name](side, rng)
    return _crop(_bundled(name), side, rng)


# Kernels: odd (K, K), non-negative, unit sum.


def _zernike(
    size: int, coefficients: dict[int, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The PSF at a random pupil sampling that keeps >= 75 % of its energy inside K x K (else the
    finest), and the aberration-free PSF of the same sampling (the nominal optics)."""
    from napari_selfdiff.optics import zernike_psf

    start = rng.integers(len(ZERNIKE_PUPILS))
    for pupil in ZERNIKE_PUPILS[start:]:
        wide = zernike_psf(coefficients, 3 * size, pupil_pixels=pupil)
        if wide[size : 2 * size, size : 2 * size].sum() >= 0.75:
            break
    return zernike_psf(coefficients, size, pupil_pixels=pupil), zernike_psf({}, size, pupil_pixels=pupil)


def kernel(family: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``family`` kernel of odd ``size`` drawn from ``rng``, and its nominal PSF (optical families)."""
    from napari_selfdiff.optics import motion_kernel, random_aberration

    if family == "zernike":  # Noll 4-15, 0.1-0.6 waves RMS in all
        coefficients = random_aberration(rng.uniform(0.1, 0.6), seed=rng, indices=range(4, 16))
        return _zernike(size, coefficients, rng)
    if family == "defocus":  # defocus 0.2-0.6 waves RMS plus 0.03-0.1 waves of the others
        coefficients = random_aberration(rng.uniform(0.03, 0.1), seed=rng, indices=range(5, 16))
        coefficients[4] = rng.choice([-1, 1]) * rng.uniform(0.2, 0.6)
        return _zernike(size, coefficients, rng)
    if family == "motion":
        return motion_kernel(size, seed=rng, extent=rng.uniform(0.5, 1.0) * (size - 2)), None
    if family == "gaussian":  # anisotropic: major sigma K/12-K/6, minor 0.4-1 of it, any angle
        major = rng.uniform(size / 12, size / 6)
        minor, angle = major * rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:size, :size] - size // 2
        u = yy * np.cos(angle) + xx * np.sin(angle)
        v = xx * np.cos(angle) - yy * np.sin(angle)
        psf = np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
        return psf / psf.sum(), None
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


def _build(
    index: int, seed: Any, part: str, entry: tuple[str, str], kernel_family: str,
    group: tuple[str, float], side: int, sizes: np.ndarray,
) -> Case:  # fmt: skip
    """A case from its draws: the scene, kernel and noise are drawn from ``seed`` in this order."""
    rng = np.random.default_rng(seed)
    scene_family, scene_name = entry
    size = int(rng.choice(sizes))
    psf, nominal = kernel(kernel_family, size, rng)
    extended = scene(scene_name, side + size - 1, rng)
    clean = fftconvolve(extended, psf, mode="valid")
    sharp = extended[size // 2 : size // 2 + side, size // 2 : size // 2 + side]
    sharp, blurred, counts, parameters = _noise(group, clean, sharp, rng)
    case = Case(
        index=index,
        seed=index,
        half=part,
        scene_family=scene_family,
        scene=scene_name,
        kernel_family=kernel_family,
        noise_group=f"{group[0]}{group[1]:g}",
        noise={"kind": group[0], **parameters},
        sharp=sharp,
        blurred=blurred,
        kernel=psf,
        counts=counts,
        nominal=nominal,
    )
    _verify(case, extended)
    return case


def make_case(index: int) -> Case:
    """Broad case ``index`` (seed ``index``, 0 .. 63), generated and checked."""
    pair = index // 2
    entry = SCENES[pair % len(SCENES)]
    if entry[0] == "levin" and not LEVIN.is_dir():
        entry = SCENES[(pair + 1) % len(SCENES)]  # never Levin: the next entry is not
    family = KERNEL_FAMILIES[(pair + pair // 4 + pair // 32) % len(KERNEL_FAMILIES)]
    group = NOISE_GROUPS[index % len(NOISE_GROUPS)]
    side = 256 if (index // 8) % 4 == 3 else 128
    part = "tuning" if index % 2 == 0 else "check"
    return _build(index, [index, 27], part, entry, family, group, side, np.arange(11, 36, 2))


#: First index of the regime cases (after the broad ones).
REGIME_START = 64
#: First index of the sealed cases.
SEALED_START = 1000


def make_regime_case(index: int) -> Case:
    """Regime case ``index`` (>= :data:`REGIME_START`): smooth high-SNR content, large kernels."""
    j = index - REGIME_START
    pair = j // 2
    entry = REGIME_SCENES[pair % len(REGIME_SCENES)]
    family = KERNEL_FAMILIES[(pair + pair // 4) % len(KERNEL_FAMILIES)]
    group = HIGH_SNR_GROUPS[j % len(HIGH_SNR_GROUPS)]
    side = 512 if j % 8 == 7 else (256 if (j // 2) % 2 else 128)
    part = "tuning" if j % 2 == 0 else "check"
    return _build(index, [index, 37], part, entry, family, group, side, np.arange(27, 36, 2))


def make_sealed_case(index: int) -> Case:
    """Sealed case ``index`` (>= :data:`SEALED_START`): its own seed family and scenes."""
    j = index - SEALED_START
    rng = np.random.default_rng([index, 53, 0])  # the factors; the case draws from [index, 53]
    entry = SEALED_SCENES[j % len(SEALED_SCENES)]
    family = KERNEL_FAMILIES[int(rng.integers(len(KERNEL_FAMILIES)))]
    groups = NOISE_GROUPS + HIGH_SNR_GROUPS
    group = groups[int(rng.integers(len(groups)))]
    side = 512 if j % 12 == 11 else (256 if rng.random() < 0.3 else 128)
    return _build(index, [index, 53], "sealed", entry, family, group, side, np.arange(11, 36, 2))


def _verify(case: Case, extended: np.ndarray) -> None:
    """Raise RuntimeError when a generated case breaks the benchmark's invariants."""
    k = case.kernel
    problems = [
        (k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0, f"kernel shape {k.shape}"),
        (not 11 <= k.shape[0] <= 35, f"kernel side {k.shape[0]} outside 11..35"),
        (case.nominal is not None and case.nominal.shape != k.shape, "nominal PSF shape"),
        (abs(k.sum() - 1) > 1e-9 or k.min() < 0, f"kernel sum {k.sum()}, min {k.min()}"),
        (case.sharp.shape != case.blurred.shape or case.sharp.shape != (case.size,) * 2, "image shapes"),
        (extended.min() < 0 or extended.max() > 1 + 1e-9, f"scene range {extended.min()}..{extended.max()}"),
        (not np.isfinite(case.blurred).all(), "non-finite observation"),
    ]
    failed = [message for bad, message in problems if bad]
    if failed:
        raise RuntimeError(f"case {case.name}: " + "; ".join(failed))


def make_cases(count: int = 64, half: str = "all", *, regime: int = 16, sealed: int = 24) -> list[Case]:
    """The cases of ``half``: "tuning" and "check" (broad cases ``0 .. count - 1`` and ``regime``
    regime cases, split by parity), "sealed" (``sealed`` sealed cases), or "all" (tuning and
    check; the sealed part only when asked by name)."""
    if half not in ("tuning", "check", "sealed", "all"):
        raise ValueError(f"`half` must be 'tuning', 'check', 'sealed' or 'all', got {half!r}")
    if half == "sealed":
        return [make_sealed_case(SEALED_START + j) for j in range(sealed)]
    cases = [make_case(i) for i in range(count)]
    cases += [make_regime_case(REGIME_START + j) for j in range(regime)]
    return [c for c in cases if half == "all" or c.half == half]


def describe(case: Case) -> dict[str, Any]:
    """The case's identity and true degradation parameters (JSON-ready)."""
    return {
        "case": case.name, "index": case.index, "seed": case.seed, "half": case.half, "size": case.size,
        "scene_family": case.scene_family, "scene": case.scene, "kernel_family": case.kernel_family,
        "kernel_size": int(case.kernel.shape[0]), "noise_group": case.noise_group, "noise": case.noise,
    }  # fmt: skip
