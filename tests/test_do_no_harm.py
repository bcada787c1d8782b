"""Do no harm: the noise-aware pipeline's plan, guard, cascade and records (issue #27)."""

import numpy as np
import pytest

from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.inputs import make_problem
from napari_selfdiff.metrics import aligned_scores, mnc
from napari_selfdiff.noise import NoiseModel
from napari_selfdiff.optics import blur, motion_kernel
from napari_selfdiff.plan.policy import plan_run, resolve_method, resolve_restore

from .conftest import piecewise_image

TINY = DeblurConfig.preset("tiny")


@pytest.fixture(scope="module")
def noisy_case():
    sharp = piecewise_image(96, seed=3)
    psf = motion_kernel(9, seed=4)
    return sharp, blur(sharp, psf, noise_sigma=0.03, seed=5), psf


def test_the_plan_resolves_method_and_restore_once():
    assert resolve_method(TINY) == "classic"  # self-diffusion is explicit
    assert resolve_method(TINY.replace(method="classic+selfdiff")) == "classic+selfdiff"
    assert resolve_method(TINY.replace(method="selfdiff")) == "selfdiff"
    assert resolve_restore(TINY.replace(restore="auto"), 64, 64) == "tv"
    # A classic PSF has no network image: the paper's "network" becomes the noise-aware TV.
    assert resolve_restore(TINY, 64, 64, "classic") == "tv"
    assert resolve_restore(TINY, 64, 64, "selfdiff") == "network"
    plan = plan_run(make_problem(np.random.default_rng(0).random((64, 64)), 9), TINY, device="cpu")
    assert plan.factor == 1 and plan.restore == "tv"
    assert "classic" in plan.describe() and "do-no-harm guard" in plan.describe()


def test_default_deblurs_a_noisy_image_and_records_the_noise(noisy_case):
    sharp, blurred, psf = noisy_case
    events = []
    result = deblur(blurred, 9, TINY, device="cpu", progress=events.append)
    before = aligned_scores(blurred, sharp, max_shift=4).psnr
    after = aligned_scores(result.image, sharp, max_shift=4).psnr
    assert after > before + 3.0, (before, after)  # measured +5.6 dB
    assert mnc(result.psf, psf) > 0.7  # measured 0.81
    assert result.method == "classic" and result.restore == "tv" and result.deconvolved
    assert result.reliability > TINY.classic.reliable_from  # measured 0.97
    assert result.reliability_measure == "agreement" and result.psf_kind == "2d"
    # A NumPy-only run records the settings it used, not self-diffusion's.
    assert "classic" in result.config and "schedule" not in result.config and result.compute is None
    sigma = np.sqrt(result.noise["read_variance"])
    assert 0.02 < sigma < 0.04 and result.noise["gain"] < 0.01  # the true sigma is 0.03
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert result.metadata()["reliability"] == round(result.reliability, 4)


def test_the_guard_denoises_instead_of_deconvolving_an_unreliable_psf(noisy_case):
    _, blurred, _ = noisy_case
    classic = TINY.replace(method="classic")
    trusted = deblur(blurred, 9, classic, device="cpu")
    guarded = deblur(blurred, 9, classic.replace(**{"classic.reliable_from": 1.0}), device="cpu")
    assert trusted.deconvolved and not guarded.deconvolved
    assert guarded.reliability == pytest.approx(trusted.reliability)
    np.testing.assert_array_equal(guarded.psf, trusted.psf)
    # Denoised only: closer to the blurred input than the deconvolution, and less noisy.
    assert np.abs(guarded.image - blurred).mean() < np.abs(trusted.image - blurred).mean()
    assert np.abs(np.diff(guarded.image, axis=1)).mean() < np.abs(np.diff(blurred, axis=1)).mean()
    forced = deblur(blurred, 9, classic.replace(guard=False), device="cpu")
    assert forced.deconvolved and np.allclose(forced.image, trusted.image)


def test_the_cascade_hands_an_unreliable_classic_psf_to_self_diffusion(noisy_case):
    _, blurred, _ = noisy_case
    events = []
    doubtful = TINY.replace(method="classic+selfdiff", **{"classic.reliable_from": 1.0})  # none trusted
    result = deblur(blurred, 9, doubtful, device="cpu", progress=events.append)
    assert result.method == "classic+selfdiff" and result.deconvolved
    assert len(result.history) == TINY.schedule.steps  # the self-diffusion run's steps
    assert {event.stage for event in events} >= {"estimate_psf", "restore"}
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_a_given_noise_model_is_used_and_recorded(noisy_case):
    _, blurred, _ = noisy_case
    counts = blurred * 200 + 100  # a camera image: 200 ADU per unit, offset 100 ADU
    noise = NoiseModel.from_camera(2.0, 100, 1.5)
    result = deblur(counts, 9, TINY.replace(method="classic"), device="cpu", noise=noise)
    assert result.noise == noise.to_dict()
    weak = deblur(counts, 9, TINY.replace(method="classic"), device="cpu", noise=NoiseModel.gaussian(1e-3))
    # A lower stated noise means a weaker TV term: a rougher image.
    assert np.abs(np.diff(weak.image, axis=1)).mean() > np.abs(np.diff(result.image, axis=1)).mean()


def test_stacks_and_colour_get_a_verdict_per_group(noisy_case):
    _, blurred, _ = noisy_case
    stack = deblur(np.stack([blurred, blurred.T]), 9, TINY.replace(method="classic"), device="cpu")
    assert stack.image.shape == (2, 96, 96) and stack.psf.shape == (2, 9, 9)
    rgb = deblur(np.stack([blurred] * 3, -1), 9, TINY.replace(method="classic"), device="cpu")
    assert rgb.image.shape == (96, 96, 3) and rgb.psf.shape == (9, 9) and rgb.deconvolved is not None


def test_no_negative_pixel_from_a_non_negative_input():
    """Fluorescence-like beads on a dark field: the restoration stays >= 0 (no dark halos)."""
    from scipy.ndimage import gaussian_filter

    from napari_selfdiff.optics import gaussian_kernel

    rng = np.random.default_rng(7)
    sharp = np.zeros((96, 96))
    sharp[tuple(rng.integers(8, 88, (2, 30)))] = rng.uniform(0.5, 1.0, 30)
    sharp = gaussian_filter(sharp, 1.0)
    blurred = np.clip(blur(sharp / sharp.max(), gaussian_kernel(11, 2.0), noise_sigma=0.01, seed=8), 0, None)
    result = deblur(blurred, 11, TINY.replace(method="classic"), device="cpu")
    assert result.deconvolved and float(result.image.min()) >= 0.0
    # Unconstrained, the same restoration rings below zero around the beads.
    from napari_selfdiff.restoration.noise_aware import restore_tv

    free = restore_tv(blurred, result.psf, NoiseModel.gaussian(0.01))
    assert (free < 0).mean() > 0.002  # measured 0.8 % of the pixels
