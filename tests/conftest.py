"""Shared fixtures: devices, seeded RNG and tiny synthetic blind-deblurring cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_selfdiff.optics import blur, motion_kernel

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def piecewise_image(size: int, seed: int = 0) -> np.ndarray:
    """A sharp synthetic scene in [0, 1]: rectangles and disks on a gradient."""
    generator = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    image = 0.2 + 0.2 * xx
    for _ in range(6):
        y0, x0 = generator.integers(0, size - size // 4, 2)
        h, w = generator.integers(size // 8, size // 3, 2)
        image[y0 : y0 + h, x0 : x0 + w] = generator.uniform(0.0, 1.0)
    for _ in range(3):
        cy, cx = generator.uniform(0.2, 0.8, 2)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < (size / 10 / size) ** 2] = generator.uniform(0.0, 1.0)
    return image


@pytest.fixture(scope="session")
def small_case():
    """48 x 48 sharp scene blurred by a seeded 7 x 7 camera-shake kernel, sigma 0.01."""
    sharp = piecewise_image(48, seed=3)
    psf = motion_kernel(7, seed=4)
    blurred = blur(sharp, psf, noise_sigma=0.01, seed=5)
    return sharp, blurred, psf
