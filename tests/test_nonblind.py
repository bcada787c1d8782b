"""Non-blind deconvolution with the true PSF: Richardson-Lucy, Wiener, self-diffusion."""

import threading

import numpy as np
import pytest

from napari_selfdiff import Cancelled, DeblurConfig, InputError, deconvolve
from napari_selfdiff.engine.nonblind import iter_deconvolve
from napari_selfdiff.metrics import psnr


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
    config = DeblurConfig.preset("fast").replace(
        **{"schedule.steps": 6, "schedule.inner_steps": 40, "image_net.widths": (8, 16)}
    )
    result = deconvolve(blurred, psf, "selfdiff", config=config, device="cpu", ground_truth=sharp)
    assert _inner_psnr(result.image, sharp) > _inner_psnr(blurred, sharp) + 1.0
    assert len(result.history) == 6 and result.history[-1].psnr is not None


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
