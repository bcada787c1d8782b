"""Blind self-diffusion solver: quality on a tiny case, API contract, cancellation, determinism."""

import threading

import numpy as np
import pytest
import torch

from napari_selfdiff import Cancelled, DeblurConfig, InputError, deblur, deconvolve, iter_deblur
from napari_selfdiff.blind.selfdiff.loop import kernel_feedback
from napari_selfdiff.metrics import aligned_scores, mnc
from napari_selfdiff.plan.policy import resolve_restore

#: Small but real: the fast preset's recipe scaled down to a 48 x 48 image (a few seconds).
#: The network's image (restore="network"): these tests are about the self-diffusion loop.
SMALL = DeblurConfig.preset("fast").replace(
    method="selfdiff",
    restore="network",
    **{"schedule.steps": 8, "schedule.inner_steps": 40, "image_net.widths": (8, 16)},
    **{"kernel_net.hidden": 200},
)
TINY = DeblurConfig.preset("tiny").replace(method="selfdiff")


@pytest.fixture(scope="module")
def small_result(small_case):
    sharp, blurred, psf = small_case
    return deblur(blurred, 7, SMALL, device="cpu", seed=0, ground_truth=sharp, true_psf=psf)


def test_blind_run_improves_psnr_and_recovers_kernel(small_case, small_result):
    sharp, blurred, psf = small_case
    before = aligned_scores(blurred, sharp, max_shift=3).psnr
    after = aligned_scores(small_result.image, sharp, max_shift=3).psnr
    assert after > before + 1.0, (before, after)
    assert mnc(small_result.psf, psf) > 0.5


def test_an_off_centre_kernel_estimate_is_registered_to_the_observation(small_case, monkeypatch):
    # A blind estimate is defined up to a translation. A generator that can only place its
    # kernels 3 pixels down and left of the centre (its output moved with zero fill) leaves
    # the unregistered estimate 3 pixels off the observation (measured: (-3, 3)); the result
    # must still overlay the blurred input, with a centred PSF.
    from napari_selfdiff.blind.selfdiff import loop as solver
    from napari_selfdiff.ops.fft import kernel_offset

    generate = solver.KernelGenerator.forward

    def off_centre(self, code):
        kernel = generate(self, code)
        moved = torch.zeros_like(kernel)
        moved[..., 3:, :-3] = kernel[..., :-3, 3:]
        return moved / moved.sum((-2, -1), keepdim=True)

    monkeypatch.setattr(solver.KernelGenerator, "forward", off_centre)
    sharp, blurred, psf = small_case
    result = deblur(blurred, 11, SMALL, device="cpu", seed=0)
    assert kernel_offset(torch.tensor(result.psf)) == (0, 0) and mnc(result.psf, psf) > 0.8
    # Registration to the integer pixel is ambiguous by one pixel for an asymmetric kernel, and
    # which way it rounds differs between CPUs; unregistered, the image would be 3 pixels off.
    shift = aligned_scores(result.image, blurred, max_shift=5).shift
    assert max(abs(shift[0]), abs(shift[1])) <= 1, shift
    assert (
        aligned_scores(result.image, sharp, max_shift=5).psnr
        > aligned_scores(blurred, sharp, max_shift=5).psnr + 1.0
    )


def test_result_contract(small_case, small_result):
    _, blurred, _ = small_case
    r = small_result
    assert r.image.shape == blurred.shape and r.image.dtype == np.float32
    assert r.psf.shape == (7, 7) and r.psf.dtype == np.float32
    assert r.psf.min() >= 0 and abs(float(r.psf.sum()) - 1) < 1e-5
    assert [h.step for h in r.history] == list(range(1, 9))
    assert all(h.psnr is not None and h.mnc is not None for h in r.history)
    assert r.config == SMALL.to_dict() and r.seed == 0 and r.device.startswith("cpu")
    sigmas = [h.sigma for h in r.history]
    assert sigmas == sorted(sigmas, reverse=True)  # largest noise first


def test_loss_decreases_within_the_run(small_result):
    losses = [h.loss for h in small_result.history]
    assert losses[-1] < losses[0]


def test_seeded_runs_are_deterministic(small_case):
    _, blurred, _ = small_case
    a = deblur(blurred, 5, TINY, device="cpu", seed=7)
    b = deblur(blurred, 5, TINY, device="cpu", seed=7)
    c = deblur(blurred, 5, TINY, device="cpu", seed=8)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.psf, b.psf)
    assert not np.array_equal(a.image, c.image)


def test_sparsity_term_changes_the_kernel(small_case):
    _, blurred, _ = small_case
    plain = deblur(blurred, 7, TINY.replace(kernel_sparsity=0.0), device="cpu", seed=1)
    sparse = deblur(blurred, 7, TINY.replace(kernel_sparsity=50.0), device="cpu", seed=1)

    def quasi_norm(k):
        return float(np.sum(np.sqrt(k)))

    assert quasi_norm(sparse.psf) < quasi_norm(plain.psf) - 0.05
    assert np.abs(sparse.psf - plain.psf).max() > 1e-3


def test_kernel_feedback_scale_and_no_collapse(small_result):
    import torch

    k = torch.softmax(torch.randn(49), 0).reshape(7, 7)
    z = kernel_feedback(k)
    assert float(z.max()) == pytest.approx(1.0) and float(z.min()) >= 0
    # After a whole run the kernel is still spread over several pixels, not a single dot.
    psf = small_result.psf
    assert psf.max() < 0.5 and np.count_nonzero(psf > 0.02) >= 4


@pytest.mark.parametrize("mode", ["diffusion", "standard"])
def test_kernel_modes_and_depths(small_case, mode):
    _, blurred, _ = small_case
    config = TINY.replace(**{"kernel_net.mode": mode, "kernel_net.depth": 3})
    r = deblur(blurred, 5, config, device="cpu")
    assert r.psf.shape == (5, 5) and abs(float(r.psf.sum()) - 1) < 1e-5


def test_layouts_rgb_and_stacks(small_case):
    _, blurred, _ = small_case
    rgb = np.stack([blurred, blurred * 0.8, blurred * 0.6], axis=-1)
    r = deblur(rgb, 5, TINY, device="cpu")
    assert r.image.shape == rgb.shape and r.psf.shape == (5, 5)
    stack = np.stack([blurred, blurred.T])
    per_plane = deblur(stack, 5, TINY, device="cpu")
    assert per_plane.image.shape == stack.shape and per_plane.psf.shape == (2, 5, 5)
    assert {h.plane for h in per_plane.history} == {0, 1}
    shared = deblur(stack, 5, TINY.replace(stack_mode="shared"), device="cpu")
    assert shared.image.shape == stack.shape and shared.psf.shape == (5, 5)


def test_restore_by_richardson_lucy_deconvolves_the_input_with_the_estimated_psf(small_case):
    # The same blind run, then each plane restored with its own PSF: exactly the non-blind
    # Richardson-Lucy of that plane, so a wrong PSF, plane or intensity mapping shows here.
    _, blurred, _ = small_case
    stack = np.stack([blurred, blurred.T]) * 300 + 20
    rl = TINY.replace(restore="richardson_lucy", restore_iterations=12)
    network = deblur(stack, 5, TINY, device="cpu", seed=3)
    restored = deblur(stack, 5, rl, device="cpu", seed=3, keep_dtype=True)
    np.testing.assert_array_equal(restored.psf, network.psf)
    assert [h.loss for h in restored.history] == [h.loss for h in network.history]
    for plane in range(2):
        expected = deconvolve(
            stack[plane], network.psf[plane], iterations=12, tv_weight=rl.restore_tv_weight, device="cpu"
        ).image
        # Two float32 paths through 12 multiplicative updates: rounding differs by CPU kernel
        # (1.6e-5 relative under AVX2); a wrong PSF, plane or mapping differs by percents.
        np.testing.assert_allclose(restored.image[plane], expected, rtol=1e-4, atol=1e-3)
    assert restored.image.dtype == stack.dtype and restored.config["restore"] == "richardson_lucy"
    assert not np.allclose(restored.image, network.image)


def test_auto_restore_is_the_noise_aware_tv_of_the_same_blind_run(small_case):
    # restore="auto" keeps the self-diffusion run (same PSF, same losses) and returns the
    # noise-aware TV deconvolution of the input with that PSF; an explicit choice stands.
    _, blurred, _ = small_case
    network = deblur(blurred, 5, TINY, device="cpu", seed=1)
    auto = deblur(blurred, 5, TINY.replace(restore="auto"), device="cpu", seed=1)
    assert network.restore == "network" and auto.restore == "tv"
    np.testing.assert_array_equal(auto.psf, network.psf)
    assert [h.loss for h in auto.history] == [h.loss for h in network.history]
    assert auto.reliability is not None and auto.noise is not None and network.reliability is None
    assert not np.allclose(auto.image, network.image)
    assert resolve_restore(TINY, 10_000, 10_000) == "network"
    assert resolve_restore(TINY.replace(restore="richardson_lucy"), 3, 3) == "richardson_lucy"


def test_shared_channels_stack_is_one_network_over_the_planes_as_channels(small_case):
    # The planes become the channels of one input: exactly the computation of a multichannel
    # image with one shared PSF, so a wrong reshape (planes and pixels mixed) would show here.
    _, blurred, _ = small_case
    stack = np.stack([blurred, blurred.T, np.flipud(blurred)])
    joint = deblur(stack, 5, TINY.replace(stack_mode="shared-channels"), device="cpu", seed=2)
    channels = deblur(np.moveaxis(stack, 0, -1), 5, TINY, device="cpu", seed=2, axes="YXC")
    assert joint.image.shape == stack.shape and joint.psf.shape == (5, 5)
    np.testing.assert_allclose(joint.image, np.moveaxis(channels.image, -1, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(joint.psf, channels.psf, rtol=1e-5, atol=1e-7)
    assert {h.plane for h in joint.history} == {0}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.int16])
def test_dtype_and_intensity_round_trip(small_case, dtype):
    _, blurred, _ = small_case
    scale = {np.uint8: 200, np.uint16: 3000, np.int16: 1000}.get(dtype, 1.0)
    offset = 50 if dtype in (np.uint16, np.int16) else 0
    image = (blurred * scale + offset).astype(dtype)
    r = deblur(image, 5, TINY, device="cpu")
    assert r.image.dtype == np.float32
    lo, hi = float(image.min()), float(image.max())
    span = hi - lo
    # Mapped back to the input's units: same range up to the sharpening overshoot.
    assert lo - 0.5 * span < r.image.mean() < hi + 0.5 * span
    assert abs(float(np.median(r.image)) - float(np.median(image))) < 0.35 * span
    kept = deblur(image, 5, TINY, device="cpu", keep_dtype=True)
    assert kept.image.dtype == np.dtype(dtype)


def test_cancellation_by_event_and_by_callback(small_case):
    _, blurred, _ = small_case
    event = threading.Event()
    run = iter_deblur(blurred, 5, TINY.replace(**{"schedule.steps": 20}), device="cpu", cancel=event)
    next(run)
    event.set()
    with pytest.raises(Cancelled):
        next(run)
    calls = []

    def stop_after_two(progress):
        calls.append(progress)
        return len(calls) < 2

    with pytest.raises(Cancelled):
        deblur(blurred, 5, TINY, device="cpu", progress=stop_after_two)
    assert len(calls) == 2


def test_progress_events_carry_previews(small_case):
    _, blurred, _ = small_case
    events = []
    deblur(blurred, 5, TINY, device="cpu", progress=events.append)
    ends = [e for e in events if e.psf is not None]
    assert len(ends) == TINY.schedule.steps
    assert ends[-1].image.shape == blurred.shape and ends[-1].psf.shape == (5, 5)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kernel_size", "match"),
    [
        (8, "odd integer >= 3, got 8"),
        (1, "odd integer >= 3"),
        (-3, "odd"),
        (0, "odd"),
        (31, "at least twice the kernel size"),
        (5.0, "odd integer"),
    ],
)
def test_bad_kernel_sizes(small_case, kernel_size, match):
    _, blurred, _ = small_case
    with pytest.raises(InputError, match=match):
        deblur(blurred, kernel_size, TINY, device="cpu")


def test_every_outer_step_runs_all_inner_iterations(small_case):
    _, blurred, _ = small_case
    config = TINY.replace(**{"schedule.inner_steps": 12, "progress_every": 5})
    full = deblur(blurred, 5, config, device="cpu", seed=0)
    assert [h.iterations for h in full.history] == [12] * config.schedule.steps


def test_batched_networks_match_separate_networks_on_one_step():
    # Batched planes evaluate P networks in one vmapped call (grouped kernels): their outputs and
    # gradients must equal P separate evaluations up to float32 rounding. Compared on one
    # forward/backward, not after many Adam steps: Adam amplifies rounding, and how much it
    # differs between CPUs (AVX2, AVX-512) is not what this test is about. A mix-up of
    # parameters, inputs or gradients between planes differs at order one.
    from napari_selfdiff.blind.selfdiff.ensemble import Ensemble
    from napari_selfdiff.blind.selfdiff.loop import _build_networks

    built = [_build_networks(TINY, 1, 5, seed, torch.device("cpu"), blind=True) for seed in (0, 1, 2)]
    inputs = torch.randn((3, 1, 1, 20, 20), generator=torch.Generator().manual_seed(0))
    codes = torch.randn((3, 25), generator=torch.Generator().manual_seed(1))
    for index, (make, data) in enumerate(((lambda b: b[0], inputs), (lambda b: b[1], codes))):
        modules = [make(b) for b in built]
        together = Ensemble(modules)
        out = together(data)
        (out * torch.arange(1.0, out[0].numel() + 1).reshape(out.shape[1:])).sum().backward()
        for p, module in enumerate(modules):
            single = module(data[p])
            np.testing.assert_allclose(out[p].detach(), single.detach(), rtol=1e-4, atol=1e-5)
            (single * torch.arange(1.0, single.numel() + 1).reshape(single.shape)).sum().backward()
            stacked = [g.grad[p] for g in together.parameters]
            separate = [param.grad for param in module.parameters()]
            assert len(stacked) == len(separate), index
            # Relative to the network's largest gradient: a bias followed by a normalisation has
            # a gradient that is zero up to rounding, which no relative tolerance can compare.
            scale = max(float(b.abs().max()) for b in separate)
            for a, b in zip(stacked, separate, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * scale)


def test_batched_planes_run_keeps_each_plane_its_own_problem(small_case):
    # The whole path (seeds, noise streams, records) with planes batched 2 at a time against
    # one at a time, on a short run: the estimates agree far closer than a plane mix-up could
    # (planes differ by ~0.1 in intensity and ~0.05 in PSF entries); exact agreement is not
    # expected across kernels (grouped convolutions round differently).
    sharp, _, psf = small_case
    from napari_selfdiff.optics import blur

    stack = np.stack([blur(np.roll(sharp, 3 * i, axis=1), psf, noise_sigma=0.01, seed=i) for i in range(3)])
    config = TINY.replace(**{"schedule.steps": 2, "schedule.inner_steps": 2, "progress_every": 1})
    one = deblur(stack, 5, config.replace(**{"compute.batch_planes": 1}), device="cpu", seed=2)
    together = deblur(stack, 5, config.replace(**{"compute.batch_planes": 2}), device="cpu", seed=2)
    assert together.psf.shape == one.psf.shape == (3, 5, 5)
    np.testing.assert_allclose(together.psf, one.psf, atol=1e-3)
    np.testing.assert_allclose(together.image, one.image, atol=1e-3)
    assert np.abs(one.image[0] - one.image[1]).max() > 0.05  # the planes are distinguishable
    assert [h.plane for h in together.history] == [h.plane for h in one.history]
    assert [h.step for h in together.history] == [h.step for h in one.history]
    assert (one.compute["batch_planes"], together.compute["batch_planes"]) == (1, 2)


def test_batch_planes_auto_batches_on_cpu_only():
    # Batching paid on the CPU and cost on an H100 (ComputeConfig's docstring); "auto" follows
    # the measurements. An explicit precision keeps plan_execution off the CUDA runtime here.
    from napari_selfdiff.blind.selfdiff.compute import plan_execution
    from napari_selfdiff.config import ComputeConfig

    auto, three = ComputeConfig(precision="float32"), ComputeConfig(precision="float32", batch_planes=3)
    assert plan_execution(auto, torch.device("cpu")).batch_planes == 8
    assert plan_execution(auto, torch.device("cuda")).batch_planes == 1
    assert plan_execution(three, torch.device("cuda")).batch_planes == 3
