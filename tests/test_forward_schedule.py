"""Forward model (orientation, adjointness, FFT path) and the noise schedule."""

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from napari_selfdiff.blind.selfdiff.schedule import alpha_bars, betas, reverse_sigmas, sigmas
from napari_selfdiff.metrics import mnc
from napari_selfdiff.ops.fft import (
    blur_valid,
    blur_valid_adjoint,
    crop_center,
    kernel_offset,
    register,
)


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("size", [3, 9, 15])
def test_valid_convolution_matches_scipy(method, size, rng):
    x = rng.random((30, 34))
    k = rng.random((size, size))
    k /= k.sum()
    ours = blur_valid(torch.tensor(x)[None, None], torch.tensor(k), method)[0, 0].numpy()
    np.testing.assert_allclose(ours, convolve2d(x, k, mode="valid"), atol=1e-5)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_orientation_is_not_a_correlation(method):
    # The impulse response of a true convolution is the kernel itself; a correlation
    # (torch's conv2d without the flip) returns it rotated by 180 degrees, which still
    # scores MNC ~0.66 against the truth, so check the pixels, not MNC.
    k = np.zeros((5, 5))
    k[0, 0], k[1, 3], k[2, 2] = 0.5, 0.3, 0.2
    x = np.zeros((9, 9))
    x[4, 4] = 1.0
    out = blur_valid(torch.tensor(x)[None, None], torch.tensor(k), method)[0, 0].numpy()
    np.testing.assert_allclose(out, k, atol=1e-6)
    assert not np.allclose(out, k[::-1, ::-1])
    assert mnc(k, k[::-1, ::-1]) < 0.99


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adjointness(dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 26, 27, generator=gen, dtype=dtype)
    y = torch.randn(2, 3, 20, 21, generator=gen, dtype=dtype)
    k = torch.rand(7, 7, generator=gen, dtype=dtype)
    lhs = (blur_valid(x, k, "direct") * y).sum()
    rhs = (x * blur_valid_adjoint(y, k)).sum()
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert abs(float(lhs - rhs)) <= tol * float(lhs.abs())


def test_crop_center():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert crop_center(x, (2, 2)).flatten().tolist() == [14.0, 15.0, 20.0, 21.0]


@pytest.mark.parametrize("offset", [(0, 0), (2, -3), (-3, 1)])
def test_register_aligns_the_crop_with_the_observation_and_centres_the_kernel(offset, rng):
    # An asymmetric 3 x 3 blob placed `offset` off the centre of a 9 x 9 box. Registered, the
    # kernel is the blob at the centre and the crop is the image whose centred ('same')
    # blur is the observation; the centre crop is that only for offset (0, 0).
    dr, dc = offset
    blob = np.array([[0.0, 0.1, 0.0], [0.2, 0.4, 0.1], [0.0, 0.2, 0.0]])
    kernel, centred_truth = np.zeros((9, 9)), np.zeros((9, 9))
    kernel[3 + dr : 6 + dr, 3 + dc : 6 + dc] = blob
    centred_truth[3:6, 3:6] = blob
    x = rng.random((40 + 8, 36 + 8))
    y = convolve2d(x, kernel, mode="valid")
    assert kernel_offset(torch.tensor(kernel)) == offset
    image, centred = (t.numpy() for t in register(torch.tensor(x), torch.tensor(kernel), (40, 36)))
    np.testing.assert_allclose(centred, centred_truth, atol=1e-12)
    reblurred = convolve2d(image, centred, mode="same")
    np.testing.assert_allclose(reblurred[4:-4, 4:-4], y[4:-4, 4:-4], atol=1e-12)
    centre_crop = crop_center(torch.tensor(x), (40, 36)).numpy()
    assert np.array_equal(image, centre_crop) == (offset == (0, 0))


def test_kernel_offset_follows_the_centre_of_mass_within_the_support():
    # Two taps, 0.8 at column 6 and 0.2 at column 4 of a 9-wide box: the centre of mass (5.6)
    # is 2 right of the centre. A line over the whole width, heavy at its left end, has its
    # centre of mass 2.2 left of the centre, but moving it right by more than 1 would push
    # more than its last 5 % (the default mass of 0.9 leaves 5 % per side) out of the box.
    taps = np.zeros((9, 9))
    taps[4, 6], taps[4, 4] = 0.8, 0.2
    line = np.zeros((9, 9))
    line[4, :] = [0.6] + [0.05] * 8
    assert kernel_offset(torch.tensor(taps)) == (0, 2)
    assert kernel_offset(torch.tensor(line)) == (0, -1)
    assert kernel_offset(torch.tensor(line), mass=0.98) == (0, 0)


def test_schedule_formulas():
    b = betas(30)
    assert b[0] == pytest.approx(1e-4) and b[-1] == pytest.approx(2e-2)
    np.testing.assert_allclose(np.diff(b), np.diff(b)[0])
    ab = alpha_bars(30)
    np.testing.assert_allclose(ab, np.cumprod(1 - b))
    s = sigmas(30)
    np.testing.assert_allclose(s, np.sqrt(1 - ab))
    assert s[0] == pytest.approx(np.sqrt(1e-4))
    r = reverse_sigmas(30)
    assert r[0] == s[-1] and r[-1] == s[0] and np.all(np.diff(r) < 0)  # largest sigma first
