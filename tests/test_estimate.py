"""The estimate before a run: it grows with the work; warnings name what to change (#29 item 4)."""

import numpy as np
import pytest

from napari_selfdiff.cli.app import main
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.inputs import make_problem
from napari_selfdiff.io.tiff import write_tiff
from napari_selfdiff.plan.estimate import SETUP_SECONDS, estimate_run
from napari_selfdiff.plan.policy import plan_run


def _estimate(shape, preset="fast", method="selfdiff", **options):
    problem = make_problem(np.random.default_rng(0).random(shape, dtype=np.float32), 9)
    plan = plan_run(problem, DeblurConfig.preset(preset).replace(method=method), device="cpu", **options)
    return estimate_run(plan, *problem.planes.shape[:2])


def test_estimate_grows_with_the_work():
    small, large = _estimate((64, 64), scale=1), _estimate((256, 256), scale=1)
    work = small.seconds - SETUP_SECONDS
    assert large.seconds - SETUP_SECONDS > 10 * work and large.peak_bytes > 8 * small.peak_bytes  # 16x pixels
    assert _estimate((128, 128), "paper", scale=1).seconds > 50 * _estimate((128, 128), scale=1).seconds
    stack = _estimate((8, 64, 64), scale=1)
    assert stack.seconds - SETUP_SECONDS > 6 * work  # eight planes cost about eight planes
    cascade = _estimate((128, 128), method="classic+selfdiff")
    assert (
        cascade.seconds < 10 and cascade.seconds_if_flagged > 10
    )  # classic first, self-diffusion if flagged
    assert "if the guard calls self-diffusion" in cascade.describe()


def test_long_runs_and_memory_are_warned_with_what_to_change(monkeypatch):
    from napari_selfdiff.plan import estimate

    paper = _estimate((256, 256), "paper", scale=1)
    assert any(w.startswith("long run:") and "PSF scale 2" in w for w in paper.warnings)
    monkeypatch.setattr(estimate, "free_memory", lambda device: 1024**2)  # 1 MiB free
    tight = _estimate((128, 128), scale=1)
    assert any(w.startswith("near the memory limit: a crop of the image") for w in tight.warnings)
    assert "warning: near the memory limit" in tight.describe()


def test_cli_prints_the_estimate_and_stages(tmp_path, capsys):
    source = tmp_path / "in.tif"
    write_tiff(source, np.random.default_rng(0).random((48, 48), dtype=np.float32))
    args = ["--preset", "tiny", "--method", "selfdiff", "--device", "cpu", "-o", str(tmp_path / "out.tif")]
    assert main(["deblur", str(source), "-k", "5", *args]) == 0
    err = capsys.readouterr().err
    assert "\nestimate: ~" in err and "peak memory" in err
    assert "step 3/3" in err and "left" in err


def test_the_3d_mode_is_estimated_from_its_own_network():
    rng = np.random.default_rng(0)
    config = DeblurConfig.preset("fast").replace(stack_mode="3d")
    small, deep = (
        estimate_run(plan_run(make_problem(rng.random(shape), (7, 9, 9)), config, device="cpu", z_step=0.3))
        for shape in ((12, 64, 64), (12, 128, 128))
    )
    # 32 x 128 x 128 with a 9 x 15 x 15 PSF took 190 s of CPU (docs/benchmarks/stacks_full.md).
    full = estimate_run(plan_run(make_problem(rng.random((32, 128, 128)), (9, 15, 15)), config, device="cpu"))
    assert 95 < full.seconds < 380
    assert deep.seconds - SETUP_SECONDS > 3 * (small.seconds - SETUP_SECONDS)  # about 4x the pixels
    assert deep.peak_bytes > small.peak_bytes > 0


@pytest.mark.timing
def test_the_estimate_is_calibrated_on_this_machine_and_scales_to_a_region():
    """#39: the plan's own kernels timed on the data; a region's preview estimated from the same probe."""
    import time

    from napari_selfdiff.api import iter_deblur
    from napari_selfdiff.plan.estimate import cached_calibration, calibrate
    from napari_selfdiff.results import drive

    stack = np.random.default_rng(0).random((6, 40, 40), dtype=np.float32)
    problem = make_problem(stack, 5, "ZYX")
    plan = plan_run(problem, device="cpu")
    assert "not yet measured here" in estimate_run(plan, 6).describe()
    calibration = calibrate(problem, plan)
    estimate = estimate_run(plan, 6, calibration=calibration)
    assert estimate.calibrated and "measured on this machine" in estimate.describe()
    assert len(estimate.parts) == 2 and estimate.seconds == pytest.approx(sum(estimate.parts))
    start = time.perf_counter()
    drive(iter_deblur(problem, 5, plan=plan))
    measured = time.perf_counter() - start
    assert measured / 2.5 < estimate.seconds < 2.5 * measured  # 1.5x in docs/benchmarks/estimate.md
    region = make_problem(stack[2:4, :24, :24], 5, "ZYX")
    region_plan = plan_run(region, device="cpu")
    assert cached_calibration(region_plan) is calibration  # sizes aside, the same kind of run
    smaller = estimate_run(region_plan, 2, calibration=calibration)
    assert 0 < smaller.seconds < estimate.seconds / 3  # a third of the planes, a third of the pixels


def test_a_3d_calibration_counts_the_psf_warm_up_and_the_restoration():
    from napari_selfdiff.plan.estimate import Calibration

    config = DeblurConfig.preset("fast").replace(stack_mode="3d")
    stack = np.random.default_rng(0).random((8, 32, 32))
    plan = plan_run(make_problem(stack, (5, 7, 7)), config, device="cpu", z_step=0.3)
    voxels = 8 * 32 * 32
    slow = Calibration("cpu", network=(2.0, 0.1), network_pixels=voxels, rl_iteration=(0.5, 0.01))
    held = Calibration(
        "cpu", network=(2.0, 0.1), network_pixels=voxels, frozen_iteration=0.02, rl_iteration=(0.5, 0.01)
    )
    steps, inner = config.schedule.steps, config.schedule.inner_steps
    estimate = estimate_run(plan, 8, calibration=slow)
    assert estimate.parts[0] == pytest.approx(2.0 + 0.1 * steps * inner)
    assert estimate.after == pytest.approx(0.5 + 0.01 * config.restore_iterations)  # drained, no events
    # The PSF is held during the warm-up and the last steps (kernel_freeze_fraction): cheaper.
    held_steps = round(config.stack3d.kernel_warmup_fraction * steps) + round(
        config.kernel_freeze_fraction * steps
    )
    assert 0 < held_steps < steps
    assert estimate_run(plan, 8, calibration=held).parts[0] == pytest.approx(
        2.0 + inner * (0.1 * (steps - held_steps) + 0.02 * held_steps)
    )


@pytest.mark.timing
def test_the_rl_probe_times_a_small_stacks_iteration():
    """A small stack's RL-TV iteration takes milliseconds: the probe still measures it.

    Timed at 1 and 3 iterations it read 0 s, which estimated a 5 s pupil-3d run at 0.1 s.
    """
    import time

    from napari_selfdiff.blind.selfdiff.volume_run import restore_3d
    from napari_selfdiff.plan.estimate import _probe_rl

    stack = np.random.default_rng(0).random((8, 48, 48)).astype(np.float32)
    plan = plan_run(make_problem(stack, (5, 7, 7)), DeblurConfig(stack_mode="3d"), device="cpu", z_step=0.3)
    overhead, per_iteration = _probe_rl(stack, plan, None)
    psf = np.zeros((5, 7, 7), np.float32)
    psf[2, 3, 3] = 1.0
    timings = []
    for iterations in (1, 101):
        begin = time.perf_counter()
        restore_3d(stack, psf, plan.config.replace(restore_iterations=iterations), plan.device, guard=False)
        timings.append(time.perf_counter() - begin)
    truth = (timings[1] - timings[0]) / 100
    assert truth / 2.5 < per_iteration < 2.5 * truth and overhead >= 0
