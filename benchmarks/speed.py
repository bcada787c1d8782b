"""Speed of self-diffusion: the paper-faithful reference path against the optimised path, in one run.

Usage (from the repository root; ``PYTHONPATH=src`` where the package is not installed)::

    python -m benchmarks.speed --device cuda --out docs/benchmarks
    python -m benchmarks.speed --device cpu --sections batching cpu-fast --preset fast \
        --sizes 64 128 --quality-cases 3

Sections, run in the order flops, variants, profile, scaling, quality, stack, batching, cpu-fast,
within one process so every figure comes from one machine state:

``flops``
    The arithmetic of one inner iteration of the paper preset (forward and backward of both
    networks and the loss) at each scaling shape, counted by ``torch.utils.flop_counter``
    over the solver itself: a run of one outer step with two inner iterations minus one with
    one. With it, the scaling table reports the achieved TFLOP/s, so a time can be set
    against the device's peak (the arithmetic floor of a run is 6000 x FLOPs / peak).
``variants``
    The paper preset on a 256 x 256 case with each execution option added in turn
    (reference, TF32, bfloat16, + channels-last, + fused Adam and cuDNN autotuning,
    + torch.compile, + CUDA graphs). Each is timed over ``--probe-steps`` outer steps of
    ``--probe-inner`` iterations; the first outer step, which holds cuDNN autotuning and
    compilation, is reported as set-up and left out of the iteration rate. (torch.compile
    without CUDA graphs was measured in an earlier run and did not pay:
    ``raw/speed_cuda_first_run.md``; the compile variants here run under the graphs.)
    The optimised path of the next sections is the package's default ``ComputeConfig()``.
``quality``
    Full paper-preset runs (T = 30, S = 200) of the reference and the optimised path on the
    same fixed synthetic cases and seeds: seconds, iterations per second, peak memory,
    PSNR/SSIM (aligned as in the Levin protocol) and kernel MNC, and their differences.
``profile``
    A kernel-level CUDA profile (``torch.profiler``) of one outer step of ``--probe-inner``
    paper-preset iterations at 256 x 256, after an untimed first step, for the eager
    "tf32+fused+cudnn" path and the optimised path (``--optimised``): GPU kernel time per
    iteration against wall time per iteration (their gap is time the GPU waits for the host),
    time by kernel category (convolution, batch norm, elementwise, ...) and the most expensive kernels.
``scaling``
    Image sides 128, 256, 512, 1024 (one plane) and shared-PSF stacks of 1, 8, 32 planes of
    256 x 256, both paths, timed like ``variants``; the seconds of a full run are projected
    as set-up + 6000 x seconds per iteration and marked ``"projected": true`` (no PSNR).
``stack``
    Full optimised runs of a ``--stack-planes``-plane stack of ``--stack-size`` pixels (default
    32 planes of 256 x 256: the issue's target is under two minutes on one H100) in each of the
    shared-PSF ``--stack-modes`` ("shared-channels": the planes as channels of one image
    network; "shared": the planes as a batch through it), with PSNR, SSIM and kernel MNC.
``batching``
    A per-plane stack of ``--batch-planes`` planes at each ``--sizes`` side, solved plane by
    plane and all planes at once (``compute.batch_planes``), with ``--preset``, timed over a
    probe schedule.
``cpu-fast``
    The "fast" preset on the 128 x 128 demo-sized case, full run, on the CPU threads.
Outputs under ``--out``: ``speed_<protocol>.json`` (everything, with the environment),
``speed_<protocol>.md`` (tables) and ``speed_summary.json`` (``{"runs": [...]}``, one row per
measured or projected run, accumulated across devices). A ``--budget-s`` stops starting new
runs once exceeded, so a run on a leased machine ends with its files written.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.config import ComputeConfig

FULL_ITERATIONS = 30 * 200
#: The execution options a variant sets (the rest, e.g. ``batch_planes``, keep their defaults).
VARIANT_FIELDS = ("precision", "channels_last", "compile", "fused_optimizer", "cudnn_benchmark", "cuda_graph")
#: ``ComputeConfig.throughput()`` spelt out step by step, as the variants table names it.
THROUGHPUT = "bf16+channels_last+compile+fused+cudnn+graph"
VARIANTS: dict[str, dict[str, Any]] = {
    "reference": {
        "precision": "float32",
        "channels_last": False,
        "compile": "off",
        "fused_optimizer": False,
        "cudnn_benchmark": False,
        "cuda_graph": False,
    },
    "tf32": {"precision": "tf32"},
    "bf16": {"precision": "bfloat16"},
    "tf32+fused+cudnn": {"precision": "tf32", "fused_optimizer": True, "cudnn_benchmark": True},
    "tf32+fused+cudnn+graph": {
        "precision": "tf32",
        "fused_optimizer": True,
        "cudnn_benchmark": True,
        "cuda_graph": True,
    },
    "bf16+fused+cudnn+graph": {
        "precision": "bfloat16",
        "fused_optimizer": True,
        "cudnn_benchmark": True,
        "cuda_graph": True,
    },
    "bf16+channels_last+fused+cudnn+graph": {
        "precision": "bfloat16",
        "channels_last": True,
        "fused_optimizer": True,
        "cudnn_benchmark": True,
        "cuda_graph": True,
    },
    # torch.compile (Inductor fuses BatchNorm, ReLU and padding into few kernels) under the
    # solver's own CUDA-graph capture: the compiled U-Net is traced during the eager warm-up.
    "tf32+compile+fused+cudnn+graph": {
        "precision": "tf32",
        "compile": "default",
        "fused_optimizer": True,
        "cudnn_benchmark": True,
        "cuda_graph": True,
    },
    # The package's offered throughput option, taken from it so the two cannot drift apart.
    THROUGHPUT: {name: getattr(ComputeConfig.throughput(), name) for name in VARIANT_FIELDS},
}
#: Kernel-name patterns of the profile section's categories, tried in order (first match wins).
KERNEL_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("attention", r"flash|fmha|attention|softmax"),
    ("fft", r"fft"),
    ("batch norm", r"batch_norm|batchnorm|welford|bn_"),
    ("convolution", r"conv|fprop|dgrad|wgrad|implicit|xmma|cudnn|winograd"),
    ("matrix product", r"gemm|cublas|cutlass"),
    ("optimiser", r"adam|multi_tensor|foreach"),
    ("pooling, upsampling, padding", r"pool|upsample|interp|reflection|pad"),
    ("reduction", r"reduce"),
    ("elementwise", r"elementwise|vectorized|unrolled|triton"),
    ("copy, fill", r"copy|memcpy|memset|fill|cat"),
)
#: The optimised path: the package's default execution options (what users get).
OPTIMISED = "defaults"
CASES = ("camera", "astronaut", "coffee")


class Budget:
    """Wall-clock budget: runs are started only while time is left."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> bool:
        return time.perf_counter() < self.deadline


def make_case(name: str, size: int, planes: int = 1, kernel_size: int = 15, seed: int = 0):
    """A seeded synthetic case: a grey skimage picture at ``size``, camera shake, noise 0.01.

    Planes of a stack are shifted copies of the picture (a slowly moving specimen) blurred
    by one shared kernel.
    """
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    from napari_selfdiff.optics import blur, motion_kernel

    image = getattr(data, name)()
    image = rgb2gray(image) if image.ndim == 3 else image.astype(np.float64) / 255.0
    side = min(image.shape)
    image = image[:side, :side]
    if size != side:
        image = resize(image, (size, size), anti_aliasing=size < side)
    sharp = np.stack([np.roll(image, (2 * p, 3 * p), axis=(0, 1)) for p in range(planes)])
    kernel = motion_kernel(kernel_size, seed=seed + 1)
    blurred = blur(sharp, kernel, noise_sigma=0.01, seed=seed)
    if planes == 1:
        return sharp[0], blurred[0], kernel
    return sharp, blurred, kernel


def _compute(name: str) -> ComputeConfig:
    if name == OPTIMISED:
        return ComputeConfig()
    return ComputeConfig(**{**VARIANTS["reference"], **VARIANTS[name]})


def _preset(name: str):
    """A preset returning the network's image at every size: the blind solve is what is timed,
    and ``restore="auto"`` would add a Richardson-Lucy restoration to short probes only."""
    from napari_selfdiff import DeblurConfig

    return DeblurConfig.preset(name).replace(restore="network")


def _config(preset: str, variant: str, planes: int = 1, **schedule: int):
    config = _preset(preset).replace(compute=_compute(variant))
    if planes > 1:
        config = config.replace(stack_mode="shared")
    if schedule:
        config = config.replace(**{f"schedule.{key}": value for key, value in schedule.items()})
    return config


def _synchronise(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_mib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def full_run(case: tuple, config, device: str, seed: int) -> dict[str, Any]:
    """One complete solve with its time, memory and scores."""
    from napari_selfdiff import deblur
    from napari_selfdiff.metrics import aligned_scores, mnc

    sharp, blurred, kernel = case
    _reset_peak(device)
    _synchronise(device)
    start = time.perf_counter()
    result = deblur(blurred, kernel.shape[0], config, scale=1, device=device, seed=seed)
    _synchronise(device)
    seconds = time.perf_counter() - start
    half = kernel.shape[0] // 2
    pairs = zip(result.image, sharp, strict=True) if sharp.ndim == 3 else [(result.image, sharp)]
    scores = [aligned_scores(e, s, max_shift=half, border=half) for e, s in pairs]
    iterations = config.schedule.steps * config.schedule.inner_steps
    return {
        "seconds": seconds,
        "iterations_per_s": iterations / seconds,
        "peak_mib": _peak_mib(device),
        "psnr": float(np.mean([s.psnr for s in scores])),
        "ssim": float(np.mean([s.ssim for s in scores])),
        "mnc": mnc(result.psf, kernel),
        "compute": result.compute,
    }


def probe_run(case: tuple, config, device: str, seed: int) -> dict[str, Any]:
    """Time a short schedule; the first outer step (autotuning, compilation) is set-up."""
    from napari_selfdiff import iter_deblur

    _, blurred, kernel = case
    _reset_peak(device)
    _synchronise(device)
    run = iter_deblur(blurred, kernel.shape[0], config, scale=1, device=device, seed=seed)
    step_ends: list[float] = []
    start = time.perf_counter()
    while True:
        try:
            event = next(run)
        except StopIteration:
            break
        if event.inner == event.n_inner:  # end of an outer step: the loss was synchronised
            step_ends.append(time.perf_counter() - start)
    inner = config.schedule.inner_steps
    per_iteration = (step_ends[-1] - step_ends[0]) / (inner * (len(step_ends) - 1))
    setup = step_ends[0] - inner * per_iteration
    return {
        "probe_iterations": inner * len(step_ends),
        "seconds_per_iteration": per_iteration,
        "iterations_per_s": 1.0 / per_iteration,
        "setup_seconds": setup,
        "projected_full_seconds": setup + FULL_ITERATIONS * per_iteration,
        "peak_mib": _peak_mib(device),
    }


def _warm_up(case: tuple, configs: list, args) -> None:
    """Untimed short runs before the timed ones.

    The first run in a process pays for thread pools, allocations and cuDNN's autotuning of
    each shape (about 20 s on the H100), which would otherwise count against one path.
    """
    for config in configs:
        full_run(case, config, args.device, 0)


def _guarded(rows: list[dict[str, Any]], row: dict[str, Any], work) -> None:
    """Run ``work`` into ``row``; a failure is recorded, not fatal (one variant may not compile)."""
    try:
        row.update(work())
    except Exception as error:  # noqa: BLE001 - the benchmark reports every failure and goes on
        row["error"] = f"{type(error).__name__}: {error}"[:500]
    rows.append(row)
    print(json.dumps(row), flush=True)


def run_variants(args, report, budget) -> None:
    case = make_case("camera", 256)
    rows = report.setdefault("variants", [])
    for name in VARIANTS:
        if not budget.left():
            break
        config = _config("paper", name, steps=args.probe_steps, inner_steps=args.probe_inner)
        _guarded(rows, {"variant": name, "size": 256}, lambda c=config: probe_run(case, c, args.device, 0))
    timed = [r for r in rows if "error" not in r]
    reference = next((r for r in timed if r["variant"] == "reference"), None)
    for row in timed:
        if reference is not None:
            row["speedup"] = reference["seconds_per_iteration"] / row["seconds_per_iteration"]


def run_quality(args, report, budget, optimised: str) -> None:
    rows = report.setdefault("quality", [])
    for index, name in enumerate(CASES[: args.quality_cases]):
        case = make_case(name, 256, seed=index)
        if index == 0:
            _warm_up(
                case, [_config("paper", v, steps=1, inner_steps=5) for v in ("reference", optimised)], args
            )
        for path, variant in (("reference", "reference"), ("optimised", optimised)):
            if not budget.left():
                return
            row = {
                "case": name,
                "path": path,
                "variant": variant,
                "size": 256,
                "planes": 1,
                "preset": "paper",
            }
            _guarded(
                rows, row, lambda v=variant, c=case, i=index: full_run(c, _config("paper", v), args.device, i)
            )


def _scaling_shapes(args) -> list[tuple[int, int]]:
    """(side, planes): each ``--sizes`` side with one plane, then 256 x 256 stacks of ``--planes``."""
    return [(size, 1) for size in args.sizes] + [(256, planes) for planes in args.planes if planes > 1]


def run_scaling(args, report, budget, optimised: str) -> None:
    rows = report.setdefault("scaling", [])
    for size, planes in _scaling_shapes(args):
        case = make_case("camera", size, planes)
        for path, variant in (("optimised", optimised), ("reference", "reference")):
            if not budget.left():
                return
            config = _config("paper", variant, planes, steps=args.probe_steps, inner_steps=args.probe_inner)
            row = {"path": path, "variant": variant, "size": size, "planes": planes, "preset": "paper"}
            _guarded(rows, row, lambda c=case, cfg=config: probe_run(c, cfg, args.device, 0))


def iteration_flops(case: tuple, config, device: str) -> int:
    """FLOPs of one inner iteration of ``config`` on ``case``: the solver's own step, counted.

    Two eager float32 runs of one outer step, with two and with one inner iteration; their
    difference is one forward and backward pass (the optimiser's elementwise update is not
    counted). Precision and execution options change the speed, not the arithmetic.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from napari_selfdiff import deblur

    totals = []
    for inner in (1, 2):
        counted = config.replace(
            compute=_compute("reference"), **{"schedule.steps": 1, "schedule.inner_steps": inner}
        )
        counter = FlopCounterMode(display=False)
        with counter:
            deblur(case[1], case[2].shape[0], counted, scale=1, device=device, seed=0)
        totals.append(counter.get_total_flops())
    return totals[1] - totals[0]


def run_flops(args, report, budget) -> None:
    rows = report.setdefault("flops", [])
    for size, planes in _scaling_shapes(args):
        if not budget.left():
            return
        case = make_case("camera", size, planes)
        config = _config("paper", "reference", planes)
        row = {"size": size, "planes": planes, "preset": "paper"}
        _guarded(rows, row, lambda c=case, cfg=config: {"gflop": iteration_flops(c, cfg, args.device) / 1e9})


def _tflops(report: dict[str, Any], row: dict[str, Any]) -> float | None:
    """Achieved TFLOP/s of a timed probe row, when the flops section counted its shape."""
    counted = [
        r["gflop"]
        for r in report.get("flops", [])
        if "error" not in r and (r["size"], r["planes"]) == (row["size"], row["planes"])
    ]
    return counted[0] / 1000 / row["seconds_per_iteration"] if counted else None


def kernel_category(name: str) -> str:
    """The :data:`KERNEL_CATEGORIES` entry whose pattern matches a CUDA kernel's name."""
    lowered = name.lower()
    return next((label for label, pattern in KERNEL_CATEGORIES if re.search(pattern, lowered)), "other")


def profile_run(case: tuple, config, device: str, top: int = 12) -> dict[str, Any]:
    """Profile the second outer step of ``config`` (the first holds autotuning and capture).

    Kernel times are summed per name from the CUDA activity of the profiler, replays of a
    captured graph included; ``kernel_ms_per_iteration`` below ``wall_ms_per_iteration``
    means the GPU idled while the host prepared work.
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    from napari_selfdiff import iter_deblur

    _, blurred, kernel = case
    run = iter_deblur(blurred, kernel.shape[0], config, scale=1, device=device, seed=0)
    inner = config.schedule.inner_steps
    for event in run:  # the first outer step, untimed
        if event.inner == event.n_inner:
            break
    _synchronise(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as profiler:
        start = time.perf_counter()
        for event in run:
            if event.inner == event.n_inner:
                break
        _synchronise(device)
        wall = time.perf_counter() - start
    run.close()
    per_name: dict[str, list[float]] = {}
    for event in profiler.events():
        # User annotations (e.g. "Optimizer.step#Adam.step") span kernels on the GPU timeline.
        if event.device_type == torch.autograd.DeviceType.CUDA and not event.is_user_annotation:
            entry = per_name.setdefault(event.name, [0.0, 0])
            entry[0] += event.time_range.elapsed_us() / 1000
            entry[1] += 1
    categories: dict[str, float] = {}
    for name, (ms, _) in per_name.items():
        label = kernel_category(name)
        categories[label] = categories.get(label, 0.0) + ms / inner
    ranked = sorted(per_name.items(), key=lambda item: -item[1][0])[:top]
    return {
        "iterations": inner,
        "wall_ms_per_iteration": 1000 * wall / inner,
        "kernel_ms_per_iteration": sum(ms for ms, _ in per_name.values()) / inner,
        "kernels_per_iteration": sum(count for _, count in per_name.values()) / inner,
        "categories_ms_per_iteration": dict(sorted(categories.items(), key=lambda item: -item[1])),
        "top_kernels": [
            {"name": name[:120], "ms_per_iteration": ms / inner, "calls_per_iteration": count / inner}
            for name, (ms, count) in ranked
        ],
    }


def run_profile(args, report, budget) -> None:
    rows = report.setdefault("profile", [])
    case = make_case("camera", 256)
    for variant in ("tf32+fused+cudnn", args.optimised):
        if not budget.left():
            return
        config = _config("paper", variant, steps=2, inner_steps=args.probe_inner)
        row = {"variant": variant, "size": 256, "planes": 1, "preset": "paper"}
        _guarded(rows, row, lambda c=config: profile_run(case, c, args.device))


def run_stack(args, report, budget, optimised: str) -> None:
    from napari_selfdiff.metrics import aligned_scores

    rows = report.setdefault("stack", [])
    size, planes = args.stack_size, args.stack_planes
    case = make_case("camera", size, planes)
    half = case[2].shape[0] // 2
    blurred = [
        aligned_scores(b, s, max_shift=half, border=half).psnr for b, s in zip(case[1], case[0], strict=True)
    ]
    for mode in args.stack_modes:
        if not budget.left():
            return
        config = _config("paper", optimised, planes).replace(stack_mode=mode)
        row = {
            "path": "optimised", "variant": optimised, "size": size, "planes": planes, "preset": "paper",
            "stack_mode": mode, "blurred_psnr": float(np.mean(blurred)),
        }  # fmt: skip
        _guarded(rows, row, lambda c=config: full_run(case, c, args.device, 0))


def run_batching(args, report, budget, optimised: str) -> None:
    """A per-plane stack solved plane by plane and ``--batch-planes`` planes at a time."""
    from napari_selfdiff import deblur

    rows = report.setdefault("batching", [])
    for size in args.sizes:
        case = make_case("camera", size, args.batch_planes)
        for together in (1, args.batch_planes):
            if not budget.left():
                return
            config = _preset(args.preset).replace(
                **{
                    "schedule.steps": args.probe_steps,
                    "schedule.inner_steps": args.probe_inner,
                    "compute.batch_planes": together,
                }
            )

            def work(config=config, case=case) -> dict[str, Any]:
                _synchronise(args.device)
                start = time.perf_counter()
                deblur(case[1], case[2].shape[0], config, scale=1, device=args.device, seed=0)
                _synchronise(args.device)
                return {"seconds": time.perf_counter() - start}

            row = {"size": size, "planes": args.batch_planes, "batch_planes": together, "preset": args.preset}
            _guarded(rows, row, work)


def run_cpu_fast(args, report, budget) -> None:
    from napari_selfdiff.samples.camera import make_demo_case

    if not budget.left():
        return
    demo = make_demo_case()
    rows = report.setdefault("cpu_fast", [])
    row = {"path": "optimised", "variant": OPTIMISED, "size": 128, "planes": 1, "preset": "fast"}
    config = _preset("fast")

    def work() -> dict[str, Any]:
        from napari_selfdiff.metrics import aligned_scores

        scores = full_run((demo.sharp, demo.blurred, demo.psf), config, args.device, 0)
        blurred = aligned_scores(demo.blurred, demo.sharp, max_shift=7, border=7)
        return {**scores, "blurred_psnr": blurred.psnr, "blurred_ssim": blurred.ssim}

    _guarded(rows, row, work)


def summary_runs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``speed_summary.json`` rows: every measured full run and every projection."""
    device = report["environment"]["device"]
    protocol = report["protocol"]
    runs = []
    for section in ("quality", "stack", "cpu_fast"):
        for row in report.get(section, []):
            if "error" not in row:
                runs.append(
                    {
                        "device": device, "protocol": protocol, "path": row["path"],
                        "variant": row.get("variant"), "preset": row["preset"], "size": row["size"],
                        "planes": row["planes"], "seconds": row["seconds"],
                        "psnr": row["psnr"], "ssim": row["ssim"], "peak_mib": row["peak_mib"],
                        "projected": False, "case": row.get("case", "camera"),
                        "stack_mode": row.get("stack_mode"),
                    }
                )  # fmt: skip
    for row in report.get("scaling", []):
        if "error" not in row:
            runs.append(
                {
                    "device": device, "protocol": protocol, "path": row["path"],
                    "variant": row.get("variant"), "preset": row["preset"], "size": row["size"],
                    "planes": row["planes"], "seconds": row["projected_full_seconds"],
                    "psnr": None, "peak_mib": row["peak_mib"], "projected": True,
                    "iterations_per_s": row["iterations_per_s"],
                }
            )  # fmt: skip
    return runs


def merged_runs(out: Path, report: dict[str, Any]) -> list[dict[str, Any]]:
    """This run's summary rows plus the other rows already in ``speed_summary.json``.

    The summary accumulates one set of rows per device and protocol (a CPU run does not erase
    the GPU's, a GPU run of some sections under its own ``--protocol`` does not erase another's);
    a new run replaces the rows of its own device and protocol.
    """
    path = out / "speed_summary.json"
    own = (report["environment"]["device"], report["protocol"])
    earlier = json.loads(path.read_text())["runs"] if path.exists() else []
    return [row for row in earlier if (row["device"], row["protocol"]) != own] + summary_runs(report)


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _scores(row: dict[str, Any]) -> list[str]:
    """PSNR, SSIM and kernel MNC cells of a full run."""
    return [f"{row['psnr']:.2f}", f"{row['ssim']:.3f}", f"{row['mnc']:.3f}"]


def _table(title: str, columns: list[str], rows: list[dict[str, Any]], cells) -> list[str]:
    """A markdown section: one row per run, failed runs with their error (none: no section)."""
    if not rows:
        return []
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if "error" in row:
            lines.append(f"| failed: {row['error'][:100]} |" + " |" * (len(columns) - 1))
        else:
            lines.append("| " + " | ".join(cells(row)) + " |")
    return [*lines, ""]


def _profile_tables(rows: list[dict[str, Any]]) -> list[str]:
    """Kernel time by category (one column per profiled variant) and each variant's top kernels."""
    timed = [r for r in rows if "error" not in r]
    lines = _table(
        "CUDA profile, paper preset, 256 x 256 (per inner iteration)",
        ["variant", "wall ms", "GPU kernel ms", "kernels"],
        rows,
        lambda r: [
            r["variant"],
            f"{r['wall_ms_per_iteration']:.2f}",
            f"{r['kernel_ms_per_iteration']:.2f}",
            f"{r['kernels_per_iteration']:.0f}",
        ],
    )
    if not timed:
        return lines
    labels = list(dict.fromkeys(label for r in timed for label in r["categories_ms_per_iteration"]))
    lines += ["| kernel category | " + " | ".join(f"{r['variant']} ms" for r in timed) + " |"]
    lines += ["|" + "---|" * (len(timed) + 1)]
    for label in labels:
        cells = [_fmt(r["categories_ms_per_iteration"].get(label), ".3f") for r in timed]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for r in timed:
        lines += _table(
            f"Most expensive kernels, {r['variant']}",
            ["kernel", "category", "ms / iteration", "calls / iteration"],
            r["top_kernels"],
            lambda k: [
                f"`{k['name'][:80]}`",
                kernel_category(k["name"]),
                f"{k['ms_per_iteration']:.3f}",
                f"{k['calls_per_iteration']:.0f}",
            ],
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# Speed benchmark, protocol `{report['protocol']}`",
        "",
        f"Device: {env['device']}; torch {env['torch']}; command: `{report['command']}`.",
        "",
        "Peak memory includes the workspaces cuDNN tries while autotuning (`cudnn_benchmark`).",
        "",
    ]
    probe = report["probe"]
    lines += _table(
        f"Execution options (paper preset, 256 x 256, probe of {probe['steps']} x {probe['inner']} "
        "iterations)",
        ["variant", "ms / iteration", "speed-up", "set-up s", "projected full run s", "peak MiB"],
        report.get("variants", []),
        lambda r: [
            r["variant"],
            f"{1000 * r['seconds_per_iteration']:.2f}",
            _fmt(r.get("speedup"), ".2f"),
            f"{r['setup_seconds']:.1f}",
            f"{r['projected_full_seconds']:.1f}",
            _fmt(r["peak_mib"], ".0f"),
        ],
    )
    if report.get("variants"):
        lines += [f"Optimised path: `{report.get('optimised_variant')}`.", ""]
    lines += _profile_tables(report.get("profile", []))
    lines += _table(
        "Reference vs optimised, full paper preset (T = 30, S = 200), 256 x 256",
        ["case", "path", "s / image", "it / s", "peak MiB", "PSNR", "SSIM", "MNC"],
        report.get("quality", []),
        lambda r: [
            r["case"],
            r["path"],
            f"{r['seconds']:.1f}",
            f"{r['iterations_per_s']:.0f}",
            _fmt(r["peak_mib"], ".0f"),
            *_scores(r),
        ],
    )
    if report.get("quality_delta"):
        lines += [f"{key}: {value:.3f}  " for key, value in report["quality_delta"].items()] + [""]
    lines += _table(
        "Scaling (projected full paper-preset runs from timed probes)",
        ["size", "planes", "path", "ms / iteration", "TFLOP/s", "projected s", "peak MiB"],
        report.get("scaling", []),
        lambda r: [
            str(r["size"]),
            str(r["planes"]),
            r["path"],
            f"{1000 * r['seconds_per_iteration']:.2f}",
            _fmt(_tflops(report, r), ".1f"),
            f"{r['projected_full_seconds']:.1f}",
            _fmt(r["peak_mib"], ".0f"),
        ],
    )
    lines += _table(
        "Arithmetic of one inner iteration (paper preset, forward and backward, counted)",
        ["size", "planes", "GFLOP / iteration", f"TFLOP per full run ({FULL_ITERATIONS} iterations)"],
        report.get("flops", []),
        lambda r: [
            str(r["size"]),
            str(r["planes"]),
            f"{r['gflop']:.1f}",
            f"{r['gflop'] * FULL_ITERATIONS / 1000:.1f}",
        ],
    )
    lines += _table(
        f"Per-plane stacks, plane by plane vs batched (probe of {probe['steps']} x {probe['inner']} "
        "iterations per plane)",
        ["size", "planes", "preset", "planes per batch", "s"],
        report.get("batching", []),
        lambda r: [
            str(r["size"]),
            str(r["planes"]),
            r["preset"],
            str(r["batch_planes"]),
            f"{r['seconds']:.1f}",
        ],
    )
    lines += _table(
        "Full runs of stacks and of the CPU preset",
        ["size", "planes", "stack mode", "preset", "path", "s", "PSNR", "SSIM", "MNC", "blurred PSNR"],
        report.get("stack", []) + report.get("cpu_fast", []),
        lambda r: [
            str(r["size"]),
            str(r["planes"]),
            r.get("stack_mode", "-"),
            r["preset"],
            r["path"],
            f"{r['seconds']:.1f}",
            *_scores(r),
            _fmt(r.get("blurred_psnr"), ".2f"),
        ],
    )
    return "\n".join(lines)


def paired_delta(rows: list[dict[str, Any]], new: str, base: str, is_new, is_base) -> dict[str, float]:
    """Mean PSNR/SSIM of ``new`` rows minus ``base`` rows of the same case, and the time ratio."""
    rows = [r for r in rows if "error" not in r]
    pairs = [(a, b) for a in rows for b in rows if a["case"] == b["case"] and is_new(a) and is_base(b)]
    if not pairs:
        return {}
    return {
        f"psnr_difference_db ({new} - {base})": float(np.mean([a["psnr"] - b["psnr"] for a, b in pairs])),
        f"ssim_difference ({new} - {base})": float(np.mean([a["ssim"] - b["ssim"] for a, b in pairs])),
        f"speedup ({base} s / {new} s)": float(np.mean([b["seconds"] / a["seconds"] for a, b in pairs])),
    }


def environment(device: str) -> dict[str, Any]:
    import torch

    import napari_selfdiff
    from napari_selfdiff.resources import describe_device, resolve_device

    return {
        "device": describe_device(resolve_device(device)),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "napari_selfdiff": napari_selfdiff.__version__,
        "python": platform.python_version(),
        "cpu_count": __import__("os").cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default="docs/benchmarks")
    parser.add_argument(
        "--protocol", default=None, help="name of the output files (default: the device type)"
    )
    parser.add_argument(
        "--sections", nargs="*", default=["variants", "quality", "scaling", "stack"],
        choices=[
            "flops", "variants", "profile", "quality", "scaling", "stack", "batching", "cpu-fast",
        ],
    )  # fmt: skip
    parser.add_argument("--quality-cases", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="*", default=[128, 256, 512, 1024])
    parser.add_argument("--planes", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--probe-steps", type=int, default=3)
    parser.add_argument("--probe-inner", type=int, default=50)
    parser.add_argument("--preset", default="paper", help="preset of the batching section")
    parser.add_argument("--batch-planes", type=int, default=8, help="stack depth of the batching section")
    parser.add_argument("--stack-size", type=int, default=256, help="image side of the stack section")
    parser.add_argument("--stack-planes", type=int, default=32, help="stack depth of the stack section")
    parser.add_argument(
        "--stack-modes",
        nargs="*",
        default=["shared-channels", "shared"],
        choices=["shared-channels", "shared"],
    )
    parser.add_argument(
        "--optimised", default=OPTIMISED, choices=[OPTIMISED, *VARIANTS],
        help="execution options of the optimised path (default: the package's defaults)",
    )  # fmt: skip
    parser.add_argument("--budget-s", type=float, default=3600.0)
    args = parser.parse_args(argv)
    budget = Budget(args.budget_s)
    protocol = args.protocol or args.device.split(":")[0]
    report: dict[str, Any] = {
        "protocol": protocol,
        "command": "python -m benchmarks.speed " + " ".join(argv if argv is not None else sys.argv[1:]),
        "environment": environment(args.device),
        "probe": {"steps": args.probe_steps, "inner": args.probe_inner},
        "full_iterations": FULL_ITERATIONS,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        report["quality_delta"] = paired_delta(
            report.get("quality", []), "optimised", "reference",
            lambda r: r["path"] == "optimised", lambda r: r["path"] == "reference",
        )  # fmt: skip
        (out / f"speed_{protocol}.json").write_text(json.dumps(report, indent=1))
        (out / f"speed_{protocol}.md").write_text(markdown(report))
        (out / "speed_summary.json").write_text(json.dumps({"runs": merged_runs(out, report)}, indent=1))

    optimised = args.optimised
    report["optimised_variant"] = f"{optimised}: {_compute(optimised)}"
    if "flops" in args.sections:
        run_flops(args, report, budget)
        write()
    if "variants" in args.sections:
        run_variants(args, report, budget)
        write()
    if "profile" in args.sections:
        run_profile(args, report, budget)
        write()
    sections = (
        ("scaling", run_scaling),
        ("quality", run_quality),
        ("stack", run_stack),
        ("batching", run_batching),
    )
    for section, runner in sections:
        if section in args.sections:
            runner(args, report, budget, optimised)
            write()
    if "cpu-fast" in args.sections:
        run_cpu_fast(args, report, budget)
        write()
    print(markdown(report))


if __name__ == "__main__":
    main()
