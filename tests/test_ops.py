"""The one FFT operator module: the same operators for NumPy and torch, in 2D and 3D."""

import numpy as np
import pytest
import torch

from napari_selfdiff.ops.fft import (
    apply_otf,
    blur_same,
    blur_valid,
    blur_valid_adjoint,
    kernel_offset,
    psf_to_otf,
    register,
)


def _random(shape, seed):
    return np.random.default_rng(seed).random(shape)


@pytest.mark.parametrize(("image", "kernel"), [((2, 20, 17), (5, 3)), ((2, 9, 16, 13), (3, 5, 3))])
def test_numpy_and_torch_give_the_same_convolutions(image, kernel):
    x, k = _random(image, 0), _random(kernel, 1)
    size = tuple(s - n + 1 for s, n in zip(image[-len(kernel) :], kernel, strict=True))
    y = _random((*image[: -len(kernel)], *size), 2)
    pairs = [
        (blur_same(x, k), blur_same(torch.tensor(x), torch.tensor(k))),
        (blur_valid(x, k, "fft"), blur_valid(torch.tensor(x), torch.tensor(k), "fft")),
        (blur_valid_adjoint(y, k), blur_valid_adjoint(torch.tensor(y), torch.tensor(k))),
    ]
    for numpy_result, torch_result in pairs:
        np.testing.assert_allclose(numpy_result, torch_result.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("image", "kernel"), [((21, 18), (7, 5)), ((8, 14, 12), (3, 5, 5))])
def test_valid_convolution_is_adjoint_in_numpy(image, kernel):
    x, k = _random(image, 3), _random(kernel, 4)
    y = _random(tuple(s - n + 1 for s, n in zip(image, kernel, strict=True)), 5)
    left = float((blur_valid(x, k, "fft") * y).sum())
    right = float((x * blur_valid_adjoint(y, k)).sum())
    assert abs(left - right) <= 1e-5 * abs(left)


def test_a_centred_delta_has_a_flat_otf_and_a_same_blur_places_the_kernel_at_a_point():
    delta = np.zeros((5, 5))
    delta[2, 2] = 1
    np.testing.assert_allclose(psf_to_otf(delta, (16, 16)), np.ones((16, 9)), atol=1e-12)
    k = _random((5, 7), 6)
    point = np.zeros((15, 15))
    point[7, 7] = 1
    np.testing.assert_allclose(blur_same(point, k)[5:10, 4:11], k, atol=1e-12)
    # The adjoint of a same blur is the correlation: the flipped kernel around the point.
    otf = psf_to_otf(k, (15, 15))
    np.testing.assert_allclose(apply_otf(point, otf, adjoint=True)[5:10, 4:11], k[::-1, ::-1], atol=1e-12)


def test_register_centres_a_kernel_in_numpy_and_torch_alike():
    kernel = np.zeros((5, 7, 7))
    kernel[3, 4, 2] = 1.0
    x = np.arange(9 * 13 * 13, dtype=float).reshape(9, 13, 13)
    assert kernel_offset(kernel) == kernel_offset(torch.tensor(kernel)) == (1, 1, -1)
    image, centred = register(x, kernel, (5, 7, 7))
    image_t, centred_t = register(torch.tensor(x), torch.tensor(kernel), (5, 7, 7))
    np.testing.assert_array_equal(image, image_t.numpy())
    np.testing.assert_array_equal(centred, centred_t.numpy())
    assert centred[2, 3, 3] == 1.0
