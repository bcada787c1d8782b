"""Adversarial inputs: every bad input gets a clear error; every good one a finite result."""

import gc
import itertools
import os
import resource
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_selfdiff import DeblurConfig, InputError, deblur, deconvolve
from napari_selfdiff.blind.selfdiff import planes as solver_module
from napari_selfdiff.blind.selfdiff.memory import OutOfMemory, estimate_bytes
from napari_selfdiff.blind.selfdiff.tiling import blend_tiles, tile_slices, tile_starts
from napari_selfdiff.plan import policy
from napari_selfdiff.resources import free_memory

TINY = DeblurConfig.preset("tiny").replace(
    method="selfdiff", **{"schedule.steps": 2, "schedule.inner_steps": 2}
)
HYPOTHESIS_EXAMPLES = 30


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (np.full((32, 32), np.nan), InputError, "NaN or infinite"),
        (np.where(np.eye(32) > 0, np.inf, 1.0), InputError, "32 NaN or infinite pixel"),
        (np.zeros((32, 32)), InputError, "constant"),
        (np.full((32, 32), 7.0), InputError, "constant"),
        (np.zeros((32, 32), dtype=complex), TypeError, "complex"),
        (np.zeros((32, 32), dtype=bool), TypeError, "boolean"),
        (np.array([["a"] * 32] * 32, dtype=object), TypeError, "numeric dtype"),
        (np.zeros((0, 32)), InputError, "empty"),
        (np.ones((2, 3, 32, 32)), InputError, "4D image .* is ambiguous"),
        (np.ones((2, 2, 3, 32, 32)), InputError, "5D image"),
        (np.ones((32, 32, 4)), InputError, "RGBA"),
        (np.ones(32), InputError, "2D, 3D"),
    ],
)
def test_bad_images_are_named(image, error, match):
    with pytest.raises(error, match=match):
        deblur(image, 5, TINY, device="cpu")


def test_nan_replacement_option(rng):
    image = rng.random((32, 32))
    image[3, 4] = np.nan
    result = deblur(image, 5, TINY, device="cpu", nan_policy="replace")
    assert np.isfinite(result.image).all()


def test_4d_with_explicit_axes_works(rng):
    image = rng.random((2, 24, 24, 3))
    result = deblur(image, 5, TINY, device="cpu", axes="ZYXC")
    assert result.image.shape == image.shape and result.psf.shape == (2, 5, 5)


PRECISIONS = ["float32", "bfloat16"]  # bfloat16 autocast runs on CPU too (the GPU path's numerics)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_extreme_intensity_ranges_stay_finite(rng, scale, precision):
    image = rng.random((32, 32)) * scale
    result = deblur(image, 5, TINY.replace(**{"compute.precision": precision}), device="cpu")
    assert result.compute["precision"] == precision
    assert np.isfinite(result.image).all() and np.isfinite(result.psf).all()
    assert abs(float(result.psf.sum()) - 1) < 1e-5
    assert abs(np.median(result.image) - np.median(image)) < 0.5 * scale


@pytest.mark.parametrize("precision", PRECISIONS)
def test_uint16_with_saturated_pixels(rng, precision):
    image = (rng.random((32, 32)) * 3000 + 100).astype(np.uint16)
    image[5, 5] = image[10, 20] = 65535
    config = TINY.replace(**{"compute.precision": precision})
    result = deblur(image, 5, config, device="cpu", keep_dtype=True)
    assert result.image.dtype == np.uint16
    assert np.percentile(result.image, 50) < 5000  # hot pixels do not compress the contrast


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(4, 40),
    width=st.integers(4, 40),
    dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64]),
    low=st.floats(-1e3, 1e3),
    span=st.floats(0, 1e4),
    kernel_size=st.integers(-2, 13),
    seed=st.integers(0, 2**16),
)
def test_property_deblur_returns_finite_or_raises_documented(
    height, width, dtype, low, span, kernel_size, seed
):
    rng = np.random.default_rng(seed)
    values = low + span * rng.random((height, width))
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    image = values.astype(dtype)
    try:
        result = deblur(image, kernel_size, TINY, device="cpu", seed=seed % 7)
    except (InputError, TypeError) as error:
        assert str(error)  # a message, naming the problem
        return
    assert result.image.shape == image.shape and np.isfinite(result.image).all()
    assert result.psf.min() >= 0 and abs(float(result.psf.sum()) - 1) < 1e-4


@settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None)
@given(
    size=st.integers(8, 40),
    psf_size=st.sampled_from([1, 2, 3, 5, 7, 9]),
    negative=st.booleans(),
    method=st.sampled_from(["richardson_lucy", "wiener"]),
    seed=st.integers(0, 2**16),
)
def test_property_deconvolve(size, psf_size, negative, method, seed):
    rng = np.random.default_rng(seed)
    image = rng.random((size, size))
    psf = rng.random((psf_size, psf_size)) - (0.6 if negative else 0.0)
    try:
        result = deconvolve(image, psf, method, device="cpu", iterations=3)
    except InputError as error:
        assert str(error)
        return
    assert result.image.shape == image.shape and np.isfinite(result.image).all()
    assert abs(float(result.psf.sum()) - 1) < 1e-5 and result.psf.min() >= 0


@pytest.mark.parametrize(
    "failure",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory"),
    ],
)
def test_allocation_failure_during_the_run_becomes_a_clear_message(monkeypatch, rng, failure):
    def exhausted(*args, **kwargs):
        raise failure
        yield  # pragma: no cover - makes this a generator like the real run_loop

    monkeypatch.setattr(solver_module, "run_loop", exhausted)
    with pytest.raises(OutOfMemory, match=r"needs about .* GiB.*'fast' preset") as caught:
        deblur(rng.random((32, 32)), 5, TINY, device="cpu")
    assert "device='cpu'" not in str(caught.value)  # no advice to move to where it already is


def test_other_runtime_errors_are_not_taken_for_out_of_memory(monkeypatch, rng):
    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
        yield  # pragma: no cover

    monkeypatch.setattr(solver_module, "run_loop", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        deblur(rng.random((32, 32)), 5, TINY, device="cpu")


def test_cpu_run_beyond_free_host_memory_is_refused_before_work_then_tiled(monkeypatch, rng):
    # On the host, as on CUDA, a run that cannot fit is refused from the estimate before
    # any work (a real overshoot meets the OOM killer, not an exception), and tiling
    # picks tiles that fit half the free memory.
    image = rng.random((72, 72))
    free = estimate_bytes(1, 1, 72, 72, 5, TINY) - 1
    monkeypatch.setattr(solver_module, "free_memory", lambda device: free)
    monkeypatch.setattr(policy, "free_memory", lambda device: free)
    with pytest.raises(OutOfMemory, match=r"needs about .* GiB, .* GiB free"):
        deblur(image, 5, TINY, device="cpu")
    result = deblur(image, 5, TINY, device="cpu", on_out_of_memory="tile")
    tile = result.tiling.tile
    assert tile < 72 and estimate_bytes(1, 1, tile, tile, 5, TINY) <= 0.5 * free
    assert result.image.shape == image.shape and np.isfinite(result.image).all()


def test_free_host_memory_is_read_on_linux():
    free = free_memory(torch.device("cpu"))
    if not Path("/proc/meminfo").exists():
        pytest.skip("no /proc/meminfo")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert free is not None and 0 < free <= total


def test_memory_estimate_grows_with_size_and_network():
    paper, fast = DeblurConfig.preset("paper"), DeblurConfig.preset("fast")
    assert estimate_bytes(1, 1, 512, 512, 15, paper) > 2 * estimate_bytes(1, 1, 256, 256, 15, paper)
    assert estimate_bytes(4, 1, 256, 256, 15, paper) > 2 * estimate_bytes(1, 1, 256, 256, 15, paper)
    assert estimate_bytes(1, 1, 256, 256, 15, paper) > 10 * estimate_bytes(1, 1, 256, 256, 15, fast)


def test_repeated_runs_do_not_grow_memory(rng):
    image = rng.random((32, 32))
    for _ in range(3):
        deblur(image, 5, TINY, device="cpu")
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(20):
        deblur(image, 5, TINY, device="cpu")
    gc.collect()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 50_000  # kB: peak RSS grows by less than 50 MB over 20 runs


@pytest.mark.parametrize(
    ("shape", "tile", "overlap"), [((70, 90), 32, 10), ((64, 64), 64, 8), ((50, 33), 24, 12)]
)
def test_tiles_cover_and_blend_back_exactly(rng, shape, tile, overlap):
    image = rng.random((2, *shape))
    slices = list(tile_slices(shape, tile, overlap))
    covered = np.zeros(shape, dtype=int)
    for rows, cols in slices:
        covered[rows, cols] += 1
    assert covered.min() >= 1
    starts = tile_starts(shape[1], tile, overlap)
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))
    blended = blend_tiles(image.shape, [((r, c), image[..., r, c]) for r, c in slices], overlap)
    np.testing.assert_allclose(blended, image, atol=1e-12)


def test_out_of_memory_retries_in_tiles_when_asked(monkeypatch, rng):
    def small_device(shape, kernel_size, config, device):
        if shape[-1] > 40:
            raise OutOfMemory("not enough memory on cpu: this run needs about 9.0 GiB")

    monkeypatch.setattr(solver_module, "check_memory", small_device)
    image = rng.random((72, 72))
    with pytest.raises(OutOfMemory, match="needs about"):
        deblur(image, 5, TINY, device="cpu")
    events = []
    result = deblur(image, 5, TINY, device="cpu", on_out_of_memory="tile", progress=events.append)
    assert result.tiling.tile <= 40 and result.tiling.overlap == 10
    assert result.image.shape == image.shape and np.isfinite(result.image).all()
    assert result.psf.shape == (5, 5) and abs(float(result.psf.sum()) - 1) < 1e-5
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] == 1.0


@pytest.mark.parametrize(
    ("stack_mode", "expected"),
    [("per-plane", (1, 1, 24, 24)), ("shared", (3, 1, 24, 24)), ("shared-channels", (1, 3, 24, 24))],
)
def test_memory_check_sees_the_stack_as_the_network_does(monkeypatch, rng, stack_mode, expected):
    # The planes of a shared-channels stack are channels of one input, not a batch: the
    # memory check (and the tile size chosen from it) must estimate that layout.
    shapes = []
    monkeypatch.setattr(solver_module, "check_memory", lambda shape, *rest: shapes.append(shape))
    steps = {"schedule.steps": 1, "schedule.inner_steps": 1, "compute.batch_planes": 1}
    config = TINY.replace(stack_mode=stack_mode, **steps)
    deblur(rng.random((3, 24, 24)), 5, config, device="cpu")
    assert set(shapes) == {expected}
