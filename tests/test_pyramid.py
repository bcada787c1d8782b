"""Coarse-to-fine start: the half-resolution problem is the fine one, downsampled."""

import numpy as np
import pytest
import torch

from napari_selfdiff.engine.forward import blur_valid
from napari_selfdiff.engine.pyramid import (
    coarse_kernel_size,
    coarse_level,
    coarse_offset,
    prolongation,
    restriction,
)


def _smooth_field(shape, seed):
    """A random image with only low frequencies (the regime a downsampled problem keeps)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    spectrum *= np.exp(-(fy**2 + fx**2) / (2 * 0.04**2))
    field = np.fft.irfft2(spectrum, s=shape)
    return torch.as_tensor((field - field.min()) / np.ptp(field), dtype=torch.float32)


def _asymmetric_kernel(size):
    """A kernel whose mass sits off-centre in one corner: a wrong offset shows at once."""
    kernel = torch.zeros(size, size)
    c = size // 2
    kernel[c, c] = 1.0
    kernel[c - 2 : c + 1, c + 1 : c + 4] = 0.5
    return kernel / kernel.sum()


@pytest.mark.parametrize(
    ("kernel_size", "expected"), [(3, 3), (5, 3), (7, 5), (9, 5), (15, 9), (17, 9), (21, 11)]
)
def test_coarse_kernel_size_covers_the_fine_kernel_at_half_resolution(kernel_size, expected):
    assert coarse_kernel_size(kernel_size) == expected


@pytest.mark.parametrize("kernel_size", [3, 7, 9, 15, 17])
def test_coarse_problem_is_the_downsampled_fine_problem(kernel_size):
    # y = x (*) k at full resolution; restricting x with the documented offset and k with
    # the kernel map must reproduce the restricted observation. A wrong offset or a kernel
    # map that moves mass shifts the coarse prediction by a pixel: errors of 6 % or more.
    height, width = 40, 36
    pad = kernel_size - 1
    x = _smooth_field((height + pad, width + pad), seed=kernel_size)
    kernel = _asymmetric_kernel(kernel_size)
    y = blur_valid(x[None, None], kernel)[None]
    level = coarse_level(y, kernel_size)
    coarse_kernel = level.kernel(kernel)
    assert coarse_kernel.shape == (level.kernel_size,) * 2
    assert abs(float(coarse_kernel.sum()) - 1) < 1e-6
    offset = coarse_offset(kernel_size)
    ext_h, ext_w = level.extended_shape
    rows = restriction(height + pad, ext_h, offset, reflect=True)
    cols = restriction(width + pad, ext_w, offset, reflect=True)
    x_coarse = rows @ x @ cols.T
    predicted = blur_valid(x_coarse[None, None], coarse_kernel)
    error = (predicted - level.y[0]).norm() / level.y.norm()
    assert error < 0.025, float(error)
    assert level.weight == pytest.approx(height * width / (20 * 18))


def test_prolongation_inverts_restriction_on_smooth_images():
    fine, offset = 48, 1
    coarse = 25
    x = _smooth_field((fine, fine), seed=3)
    down = restriction(fine, coarse, offset, reflect=True)
    up = prolongation(coarse, fine, offset)
    back = up @ down @ x @ down.T @ up.T
    assert float((back - x).abs().mean()) < 0.01
    # Interpolation reproduces constants exactly (rows sum to one).
    np.testing.assert_allclose(up.sum(1).numpy(), 1.0, atol=1e-6)


def test_tent_restriction_weights():
    image = restriction(6, 3, 0, reflect=True)
    np.testing.assert_allclose(image.sum(1).numpy(), 1.0, atol=1e-7)
    np.testing.assert_allclose(image[0].numpy(), [0.5, 0.5, 0, 0, 0, 0])  # tap -1 reflected onto 1
    kernel = restriction(5, 3, 0, reflect=False)
    np.testing.assert_allclose(kernel.sum(0).numpy(), 1.0, atol=1e-7)  # each fine tap lands once
