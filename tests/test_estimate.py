"""The estimate before a run: it grows with the work; warnings name what to change (#29 item 4)."""

import numpy as np

from napari_selfdiff.cli.main import main
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
