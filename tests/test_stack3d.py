"""Blind 3D deconvolution of z-stacks: forward model, kernel model, engine, API/CLI/batch contracts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_selfdiff.engine.forward3d import blur3d_same, blur3d_valid, blur3d_valid_adjoint, register3d
from napari_selfdiff.engine.psf3d import FreePsf3d, widefield_log_prior


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random(shape, seed, dtype=torch.float64):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_valid_blur_equals_direct_convolution():
    x, k = _random((2, 7, 11, 10), 0), _random((3, 5, 5), 1)
    direct = F.conv3d(x[:, None], torch.flip(k, dims=(0, 1, 2))[None, None])[:, 0]
    found = blur3d_valid(x, k)
    assert found.shape == (2, 5, 7, 6)
    torch.testing.assert_close(found.double(), direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_valid_blur_adjoint(dtype):
    x, k, y = _random((6, 12, 9), 2, dtype), _random((3, 5, 3), 3, dtype), _random((4, 8, 7), 4, dtype)
    left = float((blur3d_valid(x, k).double() * y.double()).sum())
    right = float((x.double() * blur3d_valid_adjoint(y, k).double()).sum())
    assert blur3d_valid_adjoint(y, k).shape == x.shape
    assert abs(left - right) <= 1e-5 * abs(left)


def test_same_blur_of_a_point_is_the_centred_kernel():
    k = _random((3, 5, 5), 5).float()
    point = torch.zeros(9, 15, 15)
    point[4, 7, 7] = 1
    torch.testing.assert_close(blur3d_same(point, k)[3:6, 5:10, 5:10], k, atol=1e-6, rtol=1e-5)


def test_register_centres_a_shifted_kernel():
    kernel = torch.zeros(5, 7, 7)
    kernel[3, 4, 2] = 1.0  # centre + (1, 1, -1)
    x = torch.arange(9 * 13 * 13, dtype=torch.float32).reshape(9, 13, 13)
    image, centred = register3d(x, kernel, (5, 7, 7))
    assert centred[2, 3, 3] == 1.0 and float(centred.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(image, x[1:6, 2:9, 4:11])


@pytest.mark.parametrize("shape", [(5, 9, 9), (3, 7, 7)])
def test_free_kernel_model_contract(shape):
    torch.manual_seed(0)
    model = FreePsf3d(shape, hidden=32, sigma=1.2, aspect=3.0, smoothness=1.0, focus=1.0)
    kernel = model(torch.randn(model.code_size))
    values = kernel.detach()
    assert kernel.shape == shape and model.code_size == np.prod(shape)
    assert float(values.min()) >= 0 and float(values.sum()) == pytest.approx(1.0, abs=1e-5)
    # The start is near the widefield prior: brightest, and narrowest, in the focal plane.
    peaks = values.amax(dim=(1, 2))
    assert int(peaks.argmax()) == shape[0] // 2
    code = model.feedback(kernel)
    assert code.shape == (model.code_size,) and float(code.max()) == pytest.approx(1.0)
    prior = model.prior(kernel)
    prior.backward()
    assert prior.ndim == 0 and float(prior.detach()) > 0
    assert all(p.grad is not None for p in model.parameters())


def test_kernel_prior_prefers_smooth_focused_kernels():
    model = FreePsf3d((5, 9, 9), hidden=8, aspect=2.0, smoothness=1.0, focus=1.0)
    smooth = torch.exp(widefield_log_prior((5, 9, 9), 1.5, 2.0))
    focused = torch.zeros(5, 9, 9)
    focused[2, 3:6, 3:6] = 1.0 / 9
    off_focus = torch.roll(focused, 2, dims=0)
    noisy = focused + 0.01 * _random((5, 9, 9), 6).float()
    assert float(model.prior(focused)) < float(model.prior(off_focus))
    assert float(model.prior(smooth / smooth.sum())) < float(model.prior(noisy / noisy.sum()))
