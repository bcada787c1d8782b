"""Probe of the noise-aware classic pipeline (issue #27): PSNR gains per noise group.

For each noise group and seeded case (a scikit-image scene, a camera-shake, Gaussian or
aberrated-pupil PSF from the project's optics, noise from :func:`napari_selfdiff.optics.blur`)
it reports the PSNR gain over the blurred input of

* ``blind``: :func:`~napari_selfdiff.blind.l0.estimate_psf_classic` with the
  estimated noise, then :func:`~napari_selfdiff.restoration.noise_aware.restore_tv`;
* ``true``: the true PSF, then the same restoration;

plus the MNC of the blind PSF. Even seeds are the tuning half (``--tune`` grid-searches the
TV weight constants on them with the true PSF), odd seeds the check half.

Usage::

    python -m benchmarks.noise_pipeline_probe --seeds 0 2 4 6 8 10 12 14
    python -m benchmarks.noise_pipeline_probe --tune --seeds 0 2 4 6 8 10
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from skimage import data, transform

from napari_selfdiff.blind.l0 import estimate_psf_classic
from napari_selfdiff.metrics import mnc, psnr
from napari_selfdiff.noise import estimate_noise
from napari_selfdiff.optics import blur, gaussian_kernel, motion_kernel, random_aberration, zernike_psf
from napari_selfdiff.restoration.noise_aware import restore_tv, tv_weight

SCENES = ("camera", "coins", "cell", "moon", "astronaut", "brick", "grass", "gravel")
GROUPS = {
    "gauss0.01": (0.01, None),
    "gauss0.03": (0.03, None),
    "gauss0.05": (0.05, None),
    "poisson100": (0.0, 100.0),
    "poisson30": (0.0, 30.0),
}
KERNEL = 15


def scene(name: str, size: int) -> np.ndarray:
    image = getattr(data, name)()
    image = image.mean(axis=-1) if image.ndim == 3 else image
    image = transform.resize(image.astype(float), (size, size), anti_aliasing=True)
    return 0.1 + 0.8 * (image - image.min()) / np.ptp(image)


def psf_for(seed: int) -> np.ndarray:
    kind = seed % 3
    if kind == 0:
        return motion_kernel(KERNEL, seed=seed)
    if kind == 1:
        return gaussian_kernel(KERNEL, 1.2 + 0.2 * (seed % 5))
    # A 0.6-wave aberrated pupil whose first dark ring lies near 2.5 px.
    return zernike_psf(random_aberration(0.6, seed=seed), KERNEL, pupil_pixels=64.0)


def case(seed: int, group: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sharp = scene(SCENES[(seed // 2) % len(SCENES)], size)
    psf = psf_for(seed)
    sigma, photons = GROUPS[group]
    return sharp, psf, blur(sharp, psf, noise_sigma=sigma, poisson_photons=photons, seed=1000 + seed)


def gain(estimate: np.ndarray, blurred: np.ndarray, sharp: np.ndarray) -> float:
    inner = (slice(KERNEL, -KERNEL),) * 2  # same border for both: boundary effects excluded
    return psnr(estimate[inner], sharp[inner]) - psnr(blurred[inner], sharp[inner])


def tune(seeds: list[int], size: int) -> None:
    grid = list(itertools.product((1.0, 1.5, 2.0), (0.1, 0.3, 1.0, 3.0)))
    gains: dict[tuple[float, float], list[float]] = {key: [] for key in grid}
    for seed, group in itertools.product(seeds, GROUPS):
        sharp, psf, blurred = case(seed, group, size)
        noise = estimate_noise(blurred)
        for power, c in grid:
            # c is relative to the power's natural scale at sigma 0.03, so the grids are comparable.
            scale = c * 0.03 ** (1.5 - power)
            restored = restore_tv(
                blurred, psf, noise, weight=tv_weight(noise, blurred, scale, power), iterations=100
            )
            gains[(power, c)].append(gain(restored, blurred, sharp))
    for (power, c), values in gains.items():
        per_group = np.reshape(values, (len(seeds), len(GROUPS))).mean(axis=0)
        print(
            f"p={power} scale={c * 0.03 ** (1.5 - power):.3g} "
            f"mean {np.mean(values):+.2f} min {np.min(values):+.2f} "
            + " ".join(f"{g}:{v:+.2f}" for g, v in zip(GROUPS, per_group, strict=True))
        )


def probe(seeds: list[int], size: int) -> None:
    for group in GROUPS:
        rows = []
        start = time.perf_counter()
        for seed in seeds:
            sharp, psf, blurred = case(seed, group, size)
            noise = estimate_noise(blurred)
            estimate = estimate_psf_classic(blurred, KERNEL, noise)
            blind = restore_tv(blurred, estimate, noise)
            true = restore_tv(blurred, psf, noise)
            rows.append((gain(blind, blurred, sharp), gain(true, blurred, sharp), mnc(estimate, psf)))
        values = np.array(rows)
        print(
            f"{group:11s} blind {values[:, 0].mean():+.2f} (min {values[:, 0].min():+.2f})  "
            f"true-PSF {values[:, 1].mean():+.2f} (min {values[:, 1].min():+.2f})  "
            f"MNC {values[:, 2].mean():.2f}  [{time.perf_counter() - start:.0f} s]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 2, 4, 6, 8, 10, 12, 14])
    parser.add_argument("--size", type=int, default=128, help="side of the square scenes, pixels")
    parser.add_argument("--tune", action="store_true", help="grid-search the TV weight with the true PSF")
    args = parser.parse_args()
    (tune if args.tune else probe)(args.seeds, args.size)


if __name__ == "__main__":
    main()
