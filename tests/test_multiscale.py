"""Multiscale pipeline: PSF at reduced scale, image restored at full scale."""

import numpy as np
import pytest
import torch

from napari_selfdiff import DeblurConfig, InputError, deblur, resolve_scale
from napari_selfdiff.blind.selfdiff.multiscale import downscale, reduced_kernel_size, upscale_psf
from napari_selfdiff.metrics import aligned_scores, mnc
from napari_selfdiff.optics import blur, motion_kernel
from napari_selfdiff.plan import policy

from .conftest import piecewise_image

SMALL = (
    DeblurConfig.preset("tiny")
    .replace(method="selfdiff")
    .replace(
        **{
            "schedule.steps": 8,
            "schedule.inner_steps": 40,
            "image_net.widths": (8, 16),
            "kernel_net.hidden": 200,
        }
    )
)


def _gaussian(size, sigma):
    axis = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * sigma**2))
    return kernel / kernel.sum()


def test_downscale_averages_blocks_and_drops_the_remainder():
    planes = np.arange(2 * 5 * 7, dtype=float).reshape(1, 2, 5, 7)
    reduced = downscale(planes, 2)
    assert reduced.shape == (1, 2, 2, 3)
    assert reduced[0, 1, 1, 2] == planes[0, 1, 2:4, 4:6].mean()


@pytest.mark.parametrize(("size", "factor", "expected"), [(39, 2, 21), (35, 2, 19), (13, 3, 5), (5, 4, 3)])
def test_reduced_kernel_covers_the_full_kernel(size, factor, expected):
    assert reduced_kernel_size(size, factor) == expected


def test_upscaled_psf_keeps_centre_and_scale():
    fine = upscale_psf(_gaussian(11, 1.5), 2, 21)
    assert fine.shape == (21, 21) and fine.dtype == np.float32 and abs(fine.sum() - 1) < 1e-6
    axis = np.arange(21) - 10
    assert abs((fine.sum(1) * axis).sum()) < 1e-6 and abs((fine.sum(0) * axis).sum()) < 1e-6  # not shifted
    assert mnc(fine, _gaussian(21, 3.0)) > 0.99  # twice as wide on the fine grid
    spread = np.sqrt((fine.sum(0) * axis**2).sum())
    assert 2.8 < spread < 3.3


def test_psf_from_half_scale_restores_the_full_image():
    # The refit's settings as given (reference area 1): the default scales prior and edge share
    # up on windows under 255 x 255, chosen on natural images (Levin crops); on this cartoon of a
    # few rectangles on a ramp, the extra edges are noise: 1.6-1.8 dB lower over seeds 0-2 (+4.9).
    config = SMALL.replace(**{"psf_refit.reference_area": 1})
    sharp = piecewise_image(96, seed=3)
    psf = motion_kernel(13, seed=4)
    blurred = blur(sharp, psf, noise_sigma=0.01, seed=5)
    events = []
    result = deblur(
        blurred, 13, config, scale=2, psf_window=None, device="cpu", seed=0, progress=events.append
    )
    assert result.image.shape == blurred.shape and result.psf.shape == (13, 13)
    assert abs(float(result.psf.sum()) - 1) < 1e-5 and result.psf.min() >= 0
    info = result.multiscale
    assert info.kernel_size == 7 and np.asarray(info.psf).shape == (7, 7)
    assert info.window == (0, 0, 96, 96)  # top, left, height, width
    before = aligned_scores(blurred, sharp, max_shift=6).psnr
    after = aligned_scores(result.image, sharp, max_shift=6).psnr
    # Measured +4.3 to +8.5 dB and MNC 0.90 to 0.93 over seeds 0-2 and ATEN_CPU_CAPABILITY
    # default, avx2 and avx512: the floors leave a margin for other CPUs' rounding.
    assert after > before + 3.0, (before, after)
    assert mnc(result.psf, psf) > 0.8
    assert info.psf_refit is True
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {event.part for event in events} == {0, 1, 2}  # blind, trial restoration, restoration
    assert {event.stage for event in events} == {"estimate_psf", "refit_psf", "restore"}

    # The full-resolution PSF refit pays: without it +5.3 to +5.7 dB and MNC 0.83.
    no_refit = config.replace(**{"psf_refit.enabled": False})
    unrefined = deblur(blurred, 13, no_refit, scale=2, psf_window=None, device="cpu", seed=0)
    assert unrefined.multiscale.psf_refit is False
    assert np.array_equal(unrefined.multiscale.psf, info.psf)  # the same blind stage
    # Measured +0.8 to +2.1 dB and +0.04 to +0.07 MNC (same seeds and CPU capabilities).
    assert after > aligned_scores(unrefined.image, sharp, max_shift=6).psnr + 0.3
    assert mnc(result.psf, psf) > mnc(unrefined.psf, psf) + 0.01


def test_the_psf_is_estimated_on_the_informative_window(rng):
    image = np.full((128, 128), 0.5)
    image[70:110, 75:100] = 0.9  # the only edges: lower right
    image += 0.002 * rng.standard_normal(image.shape)
    result = deblur(
        image, 9, DeblurConfig.preset("tiny").replace(method="selfdiff"), scale=2, psf_window=32, device="cpu"
    )
    top, left, height, width = result.multiscale.window
    assert height == width == 64
    assert top + 64 > 70 and left + 64 > 75 and top > 10 and left > 10


def test_bad_arguments_are_named(rng):
    image = rng.random((64, 64))
    tiny = DeblurConfig.preset("tiny").replace(method="selfdiff")
    with pytest.raises(InputError, match="`psf_window` must be an integer >= 20"):
        deblur(image, 9, tiny, scale=2, psf_window=16, device="cpu")
    with pytest.raises(InputError, match="at 1/4 scale the 31 px PSF is 9 px, too large for the 16 x 16"):
        deblur(image, 31, tiny, scale=4, device="cpu")
    with pytest.raises(InputError, match="one PSF"):
        deblur(rng.random((2, 64, 64)), 9, tiny, scale=2, device="cpu")
    with pytest.raises(InputError, match=r"`scale` must be 'auto' or an integer >= 1, got 1\.5"):
        deblur(image, 9, tiny, scale=1.5, device="cpu")


def test_auto_scale_halves_long_blurs_everywhere_and_measured_ones_on_the_cpu(rng, monkeypatch):
    image, stack = rng.random((128, 128)), rng.random((3, 128, 128))
    selfdiff = DeblurConfig(method="selfdiff")  # the scale is self-diffusion's (classic: always 1)
    assert resolve_scale("auto", image, 31, DeblurConfig(), device="cpu") == 1
    cpu = {"device": "cpu", "config": selfdiff}
    # On the CPU from 13 px (the Levin evidence), on any device from 31 px (the real photos').
    assert [resolve_scale("auto", image, k, **cpu) for k in (11, 13, 31)] == [1, 2, 2]
    assert resolve_scale("auto", rng.random((128, 128, 3)), 15, axes="YXC", **cpu) == 2
    # One PSF only: a stack with a PSF per plane stays at full scale, a shared one is halved.
    per_plane, shared = selfdiff.replace(stack_mode="per-plane"), selfdiff.replace(stack_mode="shared")
    assert resolve_scale("auto", stack, 15, per_plane, device="cpu") == 1
    assert resolve_scale("auto", stack, 15, shared, device="cpu") == 2
    # The half-scale image must hold twice the reduced PSF (27 px -> 15 px needs 60 px).
    assert resolve_scale("auto", rng.random((58, 58)), 27, **cpu) == 1
    assert resolve_scale("auto", rng.random((60, 60)), 27, **cpu) == 2
    # An explicit factor is kept; the arguments are checked either way.
    assert resolve_scale(3, image, 15, **cpu) == 3
    with pytest.raises(InputError, match="`scale` must be 'auto' or an integer >= 1, got 0"):
        resolve_scale(0, image, 15, **cpu)
    with pytest.raises(InputError, match="`kernel_size`=65 is too large"):
        resolve_scale(1, image, 65, **cpu)
    # On a GPU, blurs shorter than LONG_BLUR keep the full-scale paper preset.
    monkeypatch.setattr(policy, "resolve_device", lambda device: torch.device("cuda"))
    assert [resolve_scale("auto", image, k, selfdiff) for k in (13, 29, 31)] == [1, 1, 2]


def test_deblur_takes_the_auto_scale_unless_tiling_needs_full_resolution(rng):
    image, tiny = rng.random((96, 96)), DeblurConfig.preset("tiny").replace(method="selfdiff")
    # On the CPU a 13 px PSF is estimated at half scale by default, as in the CLI and the widget.
    halved = deblur(image, 13, tiny, device="cpu")
    assert halved.method == "selfdiff" and halved.multiscale.factor == 2
    assert halved.restore == "richardson_lucy" and halved.plan.startswith("PSF at half scale")
    assert halved.image.shape == image.shape and halved.psf.shape == (13, 13)
    # Scoring against a ground truth observes the run and never changes it: the same plan and image.
    scored = deblur(image, 13, tiny, device="cpu", ground_truth=image, true_psf=halved.psf)
    assert scored.multiscale.factor == 2 and scored.plan == halved.plan
    np.testing.assert_array_equal(scored.image, halved.image)
    assert scored.scores["mnc"] == pytest.approx(1.0) and scored.scores["psnr"] > 0
    # Tiling needs the full-resolution run: "auto" keeps it, an explicit factor is refused.
    assert deblur(image, 13, tiny, device="cpu", on_out_of_memory="tile").multiscale is None
    with pytest.raises(InputError, match="tiling on out-of-memory, which needs the full-resolution run"):
        deblur(image, 13, tiny, scale=3, device="cpu", on_out_of_memory="tile")
