"""CUDA-only checks of the optimised execution path (skipped where PyTorch sees no GPU).

CI has no GPU; these run on the lent H100 with ``python -m pytest tests/test_gpu.py``.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.config import ComputeConfig
from napari_selfdiff.samples.camera import make_demo_case

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _config(**compute: object) -> DeblurConfig:
    # Short schedule that still crosses the kernel-freeze point (a second graph capture).
    return (
        DeblurConfig.preset("fast")
        .replace(method="selfdiff")
        .replace(
            compute=ComputeConfig(**{**ComputeConfig.reference().__dict__, **compute}),
            **{
                "schedule.steps": 3,
                "schedule.inner_steps": 12,
                "kernel_freeze_fraction": 0.34,
                "progress_every": 6,
            },
        )
    )


@pytest.fixture(scope="module")
def case():
    return make_demo_case(size=64, kernel_size=9)


def test_cuda_graph_replays_the_eager_iterations(case):
    # cuDNN's backward kernels are not bitwise deterministic, so two eager runs already
    # differ a little; the graph must stay within a small multiple of that floor.
    def run(**compute: object):
        config = _config(fused_optimizer=True, **compute)
        return deblur(case.blurred, 9, config, device="cuda", seed=3)

    eager = [run() for _ in range(2)]
    graph = run(cuda_graph=True)
    assert graph.compute["cuda_graph"] is True
    floor = np.abs(eager[1].image - eager[0].image).mean()
    assert np.abs(graph.image - eager[0].image).mean() <= 5 * floor + 1e-4
    assert np.abs(graph.psf - eager[0].psf).sum() <= 5 * np.abs(eager[1].psf - eager[0].psf).sum() + 1e-3


def test_bfloat16_path_is_finite_and_close(case):
    reference = deblur(case.blurred, 9, _config(), device="cuda", seed=1)
    fast = deblur(case.blurred, 9, _config(precision="bfloat16", cuda_graph=True), device="cuda", seed=1)
    assert np.isfinite(fast.image).all() and np.isfinite(fast.psf).all()
    assert abs(float(fast.psf.sum()) - 1.0) < 1e-4
    assert np.abs(fast.image - reference.image).mean() < 0.05


def test_repeated_runs_do_not_grow_cuda_memory(case):
    def run() -> None:
        deblur(case.blurred, 9, DeblurConfig.preset("tiny").replace(method="selfdiff"), device="cuda", seed=0)
        gc.collect()
        torch.cuda.synchronize()

    run()
    baseline = torch.cuda.memory_allocated()
    for _ in range(10):
        run()
    assert torch.cuda.memory_allocated() - baseline < 1 << 20


def test_batched_planes_under_cuda_graphs_match_plane_by_plane(case):
    stack = np.stack([np.roll(case.blurred, 2 * i, axis=1) for i in range(3)])
    config = _config(fused_optimizer=True, cuda_graph=True)
    one = deblur(stack, 9, config.replace(**{"compute.batch_planes": 1}), device="cuda", seed=4)
    together = deblur(stack, 9, config.replace(**{"compute.batch_planes": 3}), device="cuda", seed=4)
    assert np.isfinite(together.image).all() and together.psf.shape == (3, 9, 9)
    # On the CPU the two paths agree to 1e-5 (test_solver). On the GPU the batched path runs
    # other cuDNN kernels, whose rounding the 36 non-convex steps amplify: on the H100
    # (2026-11-23) one PSF pixel differed by 5.5 % of the peak, so a per-pixel bound failed.
    # The per-plane relative L2 error separates what matters (CPU, this config): one inner
    # step fewer per outer step gives 0.014-0.026, another seed 0.065-0.10, a stalled
    # plane (2 inner steps) 0.08-0.14.
    error = [np.linalg.norm(together.psf[p] - one.psf[p]) / np.linalg.norm(one.psf[p]) for p in range(3)]
    assert max(error) < 0.05
    assert np.abs(together.image - one.image).mean() < 0.02
