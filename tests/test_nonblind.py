"""Non-blind deconvolution with the true PSF: Richardson-Lucy, Wiener, self-diffusion."""

import threading

import numpy as np
import pytest
import torch

from napari_selfdiff import Cancelled, DeblurConfig, InputError, deconvolve
from napari_selfdiff.metrics import psnr
from napari_selfdiff.optics import blur, motion_kernel
from napari_selfdiff.restoration.classic import tv_curvature
from napari_selfdiff.restoration.nonblind import iter_deconvolve

from .conftest import piecewise_image


def _inner_psnr(estimate, sharp, border=6):
    return psnr(estimate[border:-border, border:-border], sharp[border:-border, border:-border])


@pytest.mark.parametrize(("method", "gain"), [("richardson_lucy", 2.0), ("wiener", 2.0)])
def test_classic_methods_gain_with_true_psf(small_case, method, gain):
    sharp, blurred, psf = small_case
    result = deconvolve(blurred, psf, method, device="cpu")
    assert result.image.shape == blurred.shape and result.method == method
    assert _inner_psnr(result.image, sharp) > _inner_psnr(blurred, sharp) + gain
    np.testing.assert_allclose(result.psf.sum(), 1.0, rtol=1e-5)


def test_selfdiff_with_known_psf_gains(small_case):
    sharp, blurred, psf = small_case
    config = (
        DeblurConfig.preset("fast")
        .replace(method="selfdiff")
        .replace(**{"schedule.steps": 6, "schedule.inner_steps": 40, "image_net.widths": (8, 16)})
    )
    result = deconvolve(blurred, psf, "selfdiff", config=config, device="cpu", ground_truth=sharp)
    assert _inner_psnr(result.image, sharp) > _inner_psnr(blurred, sharp) + 1.0
    assert len(result.history) == 6 and result.history[-1].psnr is not None


def test_curvature_vanishes_on_a_ramp_and_conserves_mass(rng):
    # div(grad x / |grad x|) is the curvature of the level lines: zero inside a plane ramp
    # (straight level lines), and, as minus the adjoint of a gradient that vanishes across the
    # last row and column, it sums to zero over the image.
    rows, cols = np.mgrid[0:20, 0:24]
    ramp = torch.as_tensor(0.01 * rows + 0.02 * cols, dtype=torch.float64)
    assert torch.allclose(tv_curvature(ramp)[1:-1, 1:-1], torch.zeros(18, 22, dtype=torch.float64), atol=1e-9)
    noise = torch.as_tensor(rng.random((2, 20, 24)))
    assert tv_curvature(noise).sum(dim=(-2, -1)).abs().max() < 1e-9
    spike = torch.zeros(9, 9, dtype=torch.float64)
    spike[4, 4] = 1.0
    assert tv_curvature(spike)[4, 4] < -1.9  # an isolated peak is pulled down


def test_total_variation_damps_the_noise_richardson_lucy_amplifies():
    # Long Richardson-Lucy on a noisy observation fits the noise (it falls below 30 iterations);
    # the TV term keeps it out. Measured over seeds 0-3: plain 100 iterations 20.0-20.2 dB,
    # with weight 0.005 28.4-32.3 dB.
    sharp = piecewise_image(96, seed=1)
    psf = motion_kernel(9, seed=2)
    blurred = blur(sharp, psf, noise_sigma=0.02, seed=3)
    plain = deconvolve(blurred, psf, iterations=100, device="cpu")
    tv = deconvolve(blurred, psf, iterations=100, tv_weight=0.005, device="cpu")
    assert tv.config["tv_weight"] == 0.005 and plain.config["tv_weight"] == 0.0
    assert _inner_psnr(tv.image, sharp, 8) > _inner_psnr(plain.image, sharp, 8) + 4.0


@pytest.mark.parametrize("weight", [-0.001, 0.06, True, "0.01"])
def test_bad_tv_weight_is_named(small_case, weight):
    _, blurred, psf = small_case
    with pytest.raises(InputError, match=r"`tv_weight` must be a number in \[0, 0.05\]"):
        deconvolve(blurred, psf, tv_weight=weight, device="cpu")


def test_rl_stack_and_cancel(small_case):
    _, blurred, psf = small_case
    stack = np.stack([blurred, blurred[::-1]]).astype(np.float32)
    result = deconvolve(stack, psf, "richardson_lucy", iterations=5, device="cpu")
    assert result.image.shape == stack.shape
    event = threading.Event()
    run = iter_deconvolve(blurred, psf, "richardson_lucy", iterations=50, device="cpu", cancel=event)
    next(run)
    event.set()
    with pytest.raises(Cancelled):
        next(run)


@pytest.mark.parametrize(
    ("psf", "match"),
    [
        (-np.ones((3, 3)), "negative"),
        (np.zeros((3, 3)), "all zeros"),
        (np.full((3, 3), np.nan), "NaN"),
        (np.ones((4, 4)), "odd sides"),
        (np.ones((3, 3, 3)), "2D"),
        (np.ones((31, 31)), "too large"),
    ],
)
def test_bad_psfs(small_case, psf, match):
    _, blurred, _ = small_case
    with pytest.raises(InputError, match=match):
        deconvolve(blurred, psf, "wiener", device="cpu")


def test_bad_method(small_case):
    _, blurred, psf = small_case
    with pytest.raises(InputError, match="`method` must be one of"):
        deconvolve(blurred, psf, "magic", device="cpu")


def test_richardson_lucy_in_its_work_arrays_is_the_textbook_update(rng):
    """Two RL-TV steps in place (3D PSF, background) equal the update written out of place:
    x <- x * (k~ * (y / (k * x + b))) / (1 - lambda div(grad x / |grad x|))."""
    import torch.nn.functional as F

    from napari_selfdiff.ops.fft import apply_otf, psf_to_otf
    from napari_selfdiff.restoration.classic import TV_EPSILON, _crop, _pad, richardson_lucy
    from napari_selfdiff.results import drive

    y = torch.as_tensor(rng.random((6, 20, 24)) + 0.2, dtype=torch.float32)
    psf = torch.as_tensor(rng.random((3, 5, 5)), dtype=torch.float32)
    psf /= psf.sum()
    weight, background = 0.01, 0.05

    def curvature(x):
        gx = F.pad(torch.diff(x, dim=-1), (0, 1))
        gy = F.pad(torch.diff(x, dim=-2), (0, 0, 0, 1))
        norm = torch.sqrt(gx.square() + gy.square() + TV_EPSILON**2)
        nx, ny = gx / norm, gy / norm
        return nx - F.pad(nx[..., :-1], (1, 0)) + ny - F.pad(ny[..., :-1, :], (0, 0, 1, 0))

    padded = _pad(y, tuple(psf.shape)).clamp_min(0)
    otf = psf_to_otf(psf, tuple(padded.shape))
    x = torch.full_like(padded, float(padded.mean()) - background)
    for _ in range(2):
        ratio = padded / (apply_otf(x, otf) + background).clamp_min(1e-12)
        x = x * (apply_otf(ratio, otf, adjoint=True) / (1.0 - weight * curvature(x)))
    found = drive(richardson_lucy(y, psf, 2, tv_weight=weight, background=background))
    torch.testing.assert_close(found, _crop(x, tuple(psf.shape)), rtol=1e-5, atol=1e-6)
    assert torch.equal(tv_curvature(x), curvature(x))  # the same operations in the same order
