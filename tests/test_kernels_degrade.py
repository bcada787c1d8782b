"""Blur kernels and synthetic degradation."""

import numpy as np
import pytest
from scipy.signal import convolve2d

from napari_selfdiff.optics import blur, disk_kernel, gaussian_kernel, motion_kernel


@pytest.mark.parametrize(
    "make",
    [
        lambda: motion_kernel(15, seed=2),
        lambda: gaussian_kernel(11, 1.5),
        lambda: disk_kernel(13, 4.5),
    ],
)
def test_kernels_are_normalised_and_centred(make):
    k = make()
    assert k.min() >= 0 and abs(k.sum() - 1) < 1e-12
    yy, xx = np.indices(k.shape)
    centre = k.shape[0] // 2
    assert abs((k * yy).sum() - centre) < 2.5 and abs((k * xx).sum() - centre) < 2.5


def test_motion_kernel_is_a_thin_seeded_trajectory():
    k = motion_kernel(21, seed=5)
    np.testing.assert_array_equal(k, motion_kernel(21, seed=5))
    assert not np.array_equal(k, motion_kernel(21, seed=6))
    support = np.count_nonzero(k > 1e-3 * k.max())
    assert 10 < support < 0.5 * k.size  # a curve, not a blob
    rows, cols = np.nonzero(k)
    assert rows.min() >= 0 and rows.max() <= 20 and max(np.ptp(rows), np.ptp(cols)) >= 15


def test_blur_matches_scipy_away_from_border_and_keeps_dtype():
    rng = np.random.default_rng(0)
    image = rng.random((40, 50))
    k = motion_kernel(9, seed=1)
    out = blur(image, k)
    assert out.shape == image.shape and out.dtype == image.dtype
    reference = convolve2d(image, k, mode="same")
    np.testing.assert_allclose(out[6:-6, 6:-6], reference[6:-6, 6:-6], atol=1e-12)


def test_blur_orientation_is_a_true_convolution():
    image = np.zeros((21, 21))
    image[10, 10] = 1.0
    k = np.zeros((5, 5))
    k[0, 1] = 1.0  # asymmetric
    out = blur(image, k)
    np.testing.assert_allclose(out[8:13, 8:13], k, atol=1e-12)  # impulse response == PSF


def test_blur_stack_uint8_and_noise():
    rng = np.random.default_rng(0)
    stack = (rng.random((3, 32, 32)) * 200).astype(np.uint8)
    clean = blur(stack, gaussian_kernel(5, 1.0))
    noisy = blur(stack, gaussian_kernel(5, 1.0), noise_sigma=0.02, seed=1)
    assert noisy.dtype == np.uint8 and noisy.shape == stack.shape
    diff = noisy.astype(float) - clean.astype(float)
    assert 3.5 < diff.std() < 6.5  # 0.02 of full scale 255 ~ 5.1 grey levels
    shot = blur(stack.astype(np.float32), gaussian_kernel(5, 1.0), poisson_photons=50, seed=1)
    assert shot.dtype == np.float32 and np.all(shot >= 0)
    np.testing.assert_array_equal(
        shot, blur(stack.astype(np.float32), gaussian_kernel(5, 1.0), poisson_photons=50, seed=1)
    )


def test_blur_rejects_bad_psf():
    with pytest.raises(ValueError, match="negative"):
        blur(np.ones((20, 20)), -np.ones((3, 3)))
    with pytest.raises(ValueError, match="all zeros"):
        blur(np.ones((20, 20)), np.zeros((3, 3)))
