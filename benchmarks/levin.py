"""Levin et al. benchmark (motion and optical aberration) for every method in one run.

Usage (from the repository root)::

    python -m benchmarks.levin tables --data ../shared/data/levin --protocol cpu-fast --out docs/benchmarks
    python -m benchmarks.levin tables --data ../shared/data/levin --protocol gpu-full --device cuda --jobs 4
    python -m benchmarks.levin evolution --data ../shared/data/levin --out docs/benchmarks
    python -m benchmarks.levin kernel-sizes --data ../shared/data/levin --out docs/benchmarks

Evaluation (the field's convention, see the data README): PSNR/SSIM on [0, 1] intensities at
the best integer shift within half the kernel size, ignoring a border of half the kernel
size; kernel MNC against the true kernel in its convolution orientation (for Levin kernels
1, 2, 3, 5, 6, 7 the stored kernel rotated by 180 degrees, for 4 and 8 the stored kernel).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Levin kernels whose blurred images are a true convolution with the stored kernel rotated by 180
#: degrees (measured, see the data README); the others are a true convolution with it as stored.
ROTATED_KERNELS = {1, 2, 3, 5, 6, 7}
OPTICAL = {
    "kernel_size": 21,
    "pupil_pixels": 40.0,
    "rms_waves": 0.3,
    "indices": list(range(4, 16)),
    "noise_sigma": 0.01,
    "seeds": list(range(8)),
}


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    blurred: np.ndarray
    sharp: np.ndarray
    kernel: np.ndarray


def _read(path: Path) -> np.ndarray:
    from skimage.io import imread

    return imread(path).astype(np.float64) / 255.0


def _crop(image: np.ndarray, size: int | None, place: str = "centre") -> np.ndarray:
    """A ``size`` square of ``image`` at its centre or (``place="end"``) its bottom-right corner."""
    if size is None or size >= min(image.shape):
        return image
    top, left = image.shape[0] - size, image.shape[1] - size
    if place == "centre":
        top, left = top // 2, left // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def motion_cases(root: Path, crop: int | None) -> list[Case]:
    """The 32 blurred Levin images with their sharp image and convolution-oriented kernel."""
    cases = []
    for i in range(1, 5):
        sharp = _read(root / "gt" / f"im{i}.png")
        for j in range(1, 9):
            kernel = _read(root / "gt" / f"kernel{j}.png")
            kernel = kernel / kernel.sum()
            if j in ROTATED_KERNELS:
                kernel = kernel[::-1, ::-1].copy()
            blurred = _read(root / f"im{i}_kernel{j}_img.png")
            cases.append(Case(f"im{i}_kernel{j}", "motion", _crop(blurred, crop), _crop(sharp, crop), kernel))
    return cases


def optical_cases(root: Path, crop: int | None) -> list[Case]:
    """The 4 sharp Levin images blurred by 8 seeded random Zernike PSFs (Noll 4..15) + noise."""
    from napari_selfdiff.optics import blur, random_aberration, zernike_psf

    cases = []
    for i in range(1, 5):
        sharp = _read(root / "gt" / f"im{i}.png")
        for seed in OPTICAL["seeds"]:
            coefficients = random_aberration(OPTICAL["rms_waves"], seed=seed, indices=OPTICAL["indices"])
            psf = zernike_psf(coefficients, OPTICAL["kernel_size"], pupil_pixels=OPTICAL["pupil_pixels"])
            blurred = blur(sharp, psf, noise_sigma=OPTICAL["noise_sigma"], seed=1000 * i + seed)
            cases.append(
                Case(f"im{i}_zernike{seed}", "optical", _crop(blurred, crop), _crop(sharp, crop), psf)
            )
    return cases


Method = Callable[[Case, dict[str, Any]], tuple[np.ndarray, np.ndarray | None]]


def _selfdiff(preset: str, **changes: Any) -> Method:
    """Blind self-diffusion at full scale with a preset and ``changes``. The returned image is
    the network's (the paper's output) unless ``changes`` say otherwise, so a method means the
    same at every image size: the fast preset's ``restore="auto"`` is ``selfdiff-fast``'s
    image below its size threshold and ``selfdiff-fast-rl``'s above it."""
    changes = {"restore": "network", **changes}

    def run(case: Case, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        from napari_selfdiff import DeblurConfig, deblur

        config = DeblurConfig.preset(preset).replace(**changes)
        result = deblur(
            case.blurred, case.kernel.shape[0], config,
            scale=1, device=options["device"], seed=options["seed"],
        )  # fmt: skip
        return result.image, result.psf

    return run


def _multiscale(preset: str, factor: int) -> Method:
    """Ours, for long blurs in large photos: the PSF blind at ``1 / factor`` scale on the whole
    reduced image, scaled back, the image restored by Richardson-Lucy (``deblur(scale=factor)``)."""

    def run(case: Case, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        from napari_selfdiff import DeblurConfig, deblur

        result = deblur(
            case.blurred, case.kernel.shape[0], DeblurConfig.preset(preset), scale=factor, psf_window=None,
            device=options["device"], seed=options["seed"],
        )  # fmt: skip
        return result.image, result.psf

    return run


def _nonblind(method: str) -> Method:
    def run(case: Case, options: dict[str, Any]) -> tuple[np.ndarray, None]:
        from napari_selfdiff import deconvolve

        return deconvolve(case.blurred, case.kernel, method, device=options["device"]).image, None

    return run


def _classic(case: Case, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    from .baselines import classic_blind_rl

    return classic_blind_rl(case.blurred, case.kernel.shape[0], device=options["device"])


def _selfdeblur(preset: str) -> Method:
    """SelfDeblur-style baseline on the image network of a preset (the schedule's effect isolated)."""

    def run(case: Case, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        from napari_selfdiff import DeblurConfig

        from .baselines import selfdeblur

        net = DeblurConfig.preset(preset).image_net
        return selfdeblur(
            case.blurred,
            case.kernel.shape[0],
            widths=net.widths,
            attention_levels=net.attention_levels,
            device=options["device"],
            seed=options["seed"],
        )

    return run


def _ablations(preset: str, other_steps: int) -> dict[str, Method]:
    """The paper's ablation on a preset: the "standard" kernel generator (fixed random code,
    no kernel diffusion), k-diff depths 2, 3 and 5 (the preset has 1) and another number of
    outer steps T (the paper compares T = 10 with its 30; the fast preset has 10, so 30)."""
    return {
        f"selfdiff-{preset}-standard": _selfdiff(preset, **{"kernel_net.mode": "standard"}),
        **{f"selfdiff-{preset}-kdiff{d}": _selfdiff(preset, **{"kernel_net.depth": d}) for d in (2, 3, 5)},
        f"selfdiff-{preset}-T{other_steps}": _selfdiff(preset, **{"schedule.steps": other_steps}),
    }


def _splits(preset: str, splits: tuple[tuple[int, int], ...]) -> dict[str, Method]:
    """Other splits of a preset's iteration budget T x S between outer steps T and inner steps
    S at about the same cost (ours, not the paper's ablation, which changes T alone): does the
    budget buy more as more noise levels or as longer fits at each?"""
    return {
        f"selfdiff-{preset}-T{t}S{s}": _selfdiff(preset, **{"schedule.steps": t, "schedule.inner_steps": s})
        for t, s in splits
    }


def _pipeline(case: Case, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The product's default: ``deblur(blurred, K)`` with the device's preset and every "auto"."""
    from napari_selfdiff import deblur

    result = deblur(case.blurred, case.kernel.shape[0], device=options["device"], seed=options["seed"])
    return result.image, result.psf


METHODS: dict[str, Method] = {
    "blurred": lambda case, options: (case.blurred, None),
    "pipeline": _pipeline,
    "rl-true-kernel": _nonblind("richardson_lucy"),
    "wiener-true-kernel": _nonblind("wiener"),
    "classic-blind": _classic,
    "selfdiff-fast": _selfdiff("fast"),
    "selfdiff-paper": _selfdiff("paper"),
    # The same blind runs, the image restored by Richardson-Lucy with their PSF (config.restore).
    "selfdiff-fast-rl": _selfdiff("fast", restore="richardson_lucy"),
    "selfdiff-paper-rl": _selfdiff("paper", restore="richardson_lucy"),
    **_ablations("paper", other_steps=10),
    **_ablations("fast", other_steps=30),
    **_splits("paper", ((15, 400), (60, 100))),
    **_splits("fast", ((10, 100), (30, 33))),
    "selfdeblur": _selfdeblur("paper"),
    "selfdeblur-fast": _selfdeblur("fast"),
    "selfdiff-fast-multiscale2": _multiscale("fast", 2),
}
PROTOCOLS = {
    "cpu-fast": [
        "blurred",
        "rl-true-kernel",
        "wiener-true-kernel",
        "selfdiff-fast",
        "selfdiff-fast-rl",
        "classic-blind",
        "selfdeblur-fast",
        *_ablations("fast", other_steps=30),
        "selfdiff-fast-multiscale2",
    ],
    "gpu-full": list(METHODS),
}


def spread(cases: list[Case], count: int) -> list[Case]:
    """``count`` cases evenly spaced through the list (for 8 of the 32 Levin cases: every
    image and every kernel once), so a subset is not one image's or one kernel's."""
    if count >= len(cases):
        return cases
    return [cases[i] for i in np.round(np.linspace(0, len(cases) - 1, count)).astype(int)]


def score(case: Case, estimate: np.ndarray, kernel: np.ndarray | None) -> dict[str, Any]:
    """PSNR/SSIM at the best shift within K // 2 (border K // 2 ignored) and kernel MNC."""
    from napari_selfdiff.metrics import aligned_scores, mnc

    half = case.kernel.shape[0] // 2
    aligned = aligned_scores(estimate, case.sharp, max_shift=half, border=half)
    return {
        "psnr": aligned.psnr,
        "ssim": aligned.ssim,
        "shift": list(aligned.shift),
        "mnc": None if kernel is None else mnc(kernel, case.kernel),
    }


def _run_one(method: str, case: Case, options: dict[str, Any]) -> dict[str, Any] | None:
    """One method on one case with its scores, time and peak GPU memory (None: out of budget)."""
    import torch

    if time.time() > options["deadline"]:
        return None
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    cuda = options["device"].startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    estimate, kernel = METHODS[method](case, options)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return {
        "method": method,
        "case": case.name,
        "family": case.family,
        "seconds": seconds,
        "peak_gpu_mib": peak,
        **score(case, estimate, kernel),
    }


def _results(
    todo: list[tuple[str, Case]], options: dict[str, Any], jobs: int
) -> Iterator[tuple[str, Case, dict[str, Any] | None]]:
    """Run each (method, case), in this process or in ``jobs`` spawned worker processes.

    Spawned, not forked: CUDA cannot be used in a forked child. Several processes on one GPU
    fill the gaps each run leaves between its kernel launches.
    """
    if jobs <= 1:
        for method, case in todo:
            yield method, case, _run_one(method, case, options)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(_run_one, m, c, options): (m, c) for m, c in todo}
        for future in as_completed(futures):
            method, case = futures[future]
            yield method, case, future.result()


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    families: dict[str, dict[str, dict[str, Any]]] = {}
    for family in sorted({r["family"] for r in records}):
        families[family] = {}
        for method in dict.fromkeys(r["method"] for r in records):
            rows = [r for r in records if r["family"] == family and r["method"] == method]
            if not rows:
                continue
            mncs = [r["mnc"] for r in rows if r["mnc"] is not None]
            families[family][method] = {
                "psnr": float(np.mean([r["psnr"] for r in rows])),
                "ssim": float(np.mean([r["ssim"] for r in rows])),
                "mnc": float(np.mean(mncs)) if mncs else None,
                "seconds": float(np.mean([r["seconds"] for r in rows])),
                "n": len(rows),
            }
    return families


def markdown_table(summary: dict[str, dict[str, dict[str, Any]]], header: str) -> str:
    methods = list(dict.fromkeys(m for family in summary.values() for m in family))
    families = list(summary)
    lines = [
        header,
        "",
        "| method | " + " | ".join(f"{f} PSNR / SSIM / MNC (n)" for f in families) + " | s / image |",
        "|---|" + "---|" * (len(families) + 1),
    ]
    for method in methods:
        cells = []
        for family in families:
            entry = summary[family].get(method)
            if entry is None:
                cells.append("not run")
                continue
            mnc_text = f"{entry['mnc']:.3f}" if entry["mnc"] is not None else "-"
            cells.append(f"{entry['psnr']:.2f} / {entry['ssim']:.3f} / {mnc_text} ({entry['n']})")
        seconds = np.mean([summary[f][method]["seconds"] for f in families if method in summary[f]])
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    return "\n".join(lines) + "\n"


def _environment(device: str) -> dict[str, Any]:
    import torch

    import napari_selfdiff
    from napari_selfdiff.resources import describe_device, resolve_device

    return {
        "device": describe_device(resolve_device(device)),
        "torch": torch.__version__,
        "napari_selfdiff": napari_selfdiff.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": __import__("os").cpu_count(),
    }


def cmd_tables(args: argparse.Namespace) -> None:
    root = Path(args.data)
    crop = args.crop if args.crop > 0 else None
    cases = []
    if "motion" in args.families:
        cases += motion_cases(root, crop)
    if "optical" in args.families:
        cases += optical_cases(root, crop)
    if args.limit:
        cases = [
            c
            for family in args.families
            for c in spread([c for c in cases if c.family == family], args.limit)
        ]
    if args.cases:
        unknown = sorted(set(args.cases) - {c.name for c in cases})
        if unknown:
            raise SystemExit(f"--cases: no such case in the selected families: {', '.join(unknown)}")
        by_name = {c.name: c for c in cases}
        cases = [by_name[name] for name in dict.fromkeys(args.cases)]  # run in the order given
    methods = args.methods or PROTOCOLS[args.protocol]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"levin_{args.protocol}"
    log = out / f"{stem}_records.jsonl"
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if (args.resume or args.summarise_only) and log.exists():
        for line in log.read_text().splitlines():
            record = json.loads(line)
            done[(record["method"], record["case"])] = record
    deadline = time.time() + args.budget_s
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else 0
    options = {"device": args.device, "seed": args.seed, "deadline": deadline, "threads": threads}
    todo = [(m, c) for m in methods for c in cases if (m, c.name) not in done]
    if args.summarise_only:
        todo = []
        methods = [m for m in methods if any((m, c.name) in done for c in cases)]
    print(
        f"{len(cases)} cases x {len(methods)} methods: {len(todo)} runs to do, {len(done)} resumed",
        flush=True,
    )
    with log.open("a") as handle:
        for index, (method, case, record) in enumerate(_results(todo, options, args.jobs), 1):
            if record is None:
                continue
            done[(method, case.name)] = record
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            mnc_text = f"{record['mnc']:.3f}" if record["mnc"] is not None else "-"
            print(
                f"[{index}/{len(todo)}] {method:22s} {case.name:18s} PSNR {record['psnr']:6.2f} "
                f"SSIM {record['ssim']:.3f} MNC {mnc_text} {record['seconds']:6.1f} s",
                flush=True,
            )
    records = [done[(m, c.name)] for m in methods for c in cases if (m, c.name) in done]
    summary = summarise(records)
    earlier = out / f"{stem}.json"
    if args.summarise_only and earlier.exists():  # the tables of records measured elsewhere keep their device
        environment = json.loads(earlier.read_text())["environment"]
    else:
        environment = _environment(args.device)
    header = (
        f"Levin benchmark, protocol `{args.protocol}`"
        f"{f', {crop} x {crop} centre crops' if crop else ', full 255 x 255 images'}, device "
        f"{environment['device']}, seed {args.seed}. Mean over cases."
    )
    result = {
        "protocol": args.protocol,
        "crop": crop,
        "environment": environment,
        "optical_generation": OPTICAL,
        "command": args.command_line,
        "summary": summary,
        "records": records,
    }
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    (out / f"{stem}.md").write_text(markdown_table(summary, header))
    if not args.name:  # a named side table (an ablation subset) leaves the summary alone
        (out / "levin_summary.json").write_text(
            json.dumps(
                {"device": environment["device"], "protocol": args.protocol, "families": summary}, indent=1
            )
        )
    print(markdown_table(summary, header))


def cmd_evolution(args: argparse.Namespace) -> None:
    """PSNR/SSIM of the estimate over outer steps with the image and kernel at chosen steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_selfdiff import DeblurConfig, iter_deblur

    case = next(c for c in motion_cases(Path(args.data), args.crop or None) if c.name == args.case)
    config = DeblurConfig.preset(args.preset)
    snapshots: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    run = iter_deblur(
        case.blurred,
        case.kernel.shape[0],
        config,
        device=args.device,
        seed=args.seed,
        ground_truth=case.sharp,
        true_psf=case.kernel,
    )
    while True:
        try:
            event = next(run)
        except StopIteration as stop:
            result = stop.value
            break
        if event.psf is not None:
            snapshots[event.step] = (event.image, event.psf)
    steps = [h.step for h in result.history]
    wanted = [s for s in args.steps if s in snapshots] or steps[-1:]
    fig = plt.figure(figsize=(3 * len(wanted), 6.5))
    grid = fig.add_gridspec(3, len(wanted), height_ratios=[1.4, 1, 0.6], hspace=0.5)
    axis = fig.add_subplot(grid[0, :])
    axis.plot(steps, [h.psnr for h in result.history], "o-", color="tab:red", label="PSNR (dB)")
    twin = axis.twinx()
    twin.plot(steps, [h.ssim for h in result.history], "s-", color="tab:blue", label="SSIM")
    twin.plot(steps, [h.mnc for h in result.history], "^-", color="tab:green", label="kernel MNC")
    axis.set_xlabel("outer step t (T first)")
    axis.set_ylabel("PSNR (dB)")
    twin.set_ylabel("SSIM, MNC")
    fig.legend(loc="upper left", fontsize=8)
    for column, step in enumerate(wanted):
        image, psf = snapshots[step]
        top = fig.add_subplot(grid[1, column])
        top.imshow(image, cmap="gray", vmin=0, vmax=1)
        top.set_title(f"step {step}", fontsize=9)
        bottom = fig.add_subplot(grid[2, column])
        bottom.imshow(psf, cmap="magma")
        top.axis("off")
        bottom.axis("off")
    fig.suptitle(f"{case.name}, preset {args.preset}, {result.device}", fontsize=10)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"evolution_{args.preset}.png", dpi=100)
    (out / f"evolution_{args.preset}.json").write_text(
        json.dumps(
            {
                "case": case.name,
                "command": args.command_line,
                "history": [h.__dict__ for h in result.history],
            },
            indent=1,
        )
    )
    print(out / f"evolution_{args.preset}.png")


def cmd_kernel_sizes(args: argparse.Namespace) -> None:
    """Robustness to the assumed kernel size on one image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_selfdiff import DeblurConfig, deblur

    case = next(c for c in motion_cases(Path(args.data), args.crop or None) if c.name == args.case)
    rows = []
    for size in args.sizes:
        result = deblur(
            case.blurred, size, DeblurConfig.preset(args.preset), scale=1, device=args.device, seed=args.seed
        )
        rows.append({"kernel_size": size, **score(case, result.image, result.psf), "seconds": result.seconds})
        print(rows[-1], flush=True)
    fig, axis = plt.subplots(figsize=(5, 3.2))
    axis.plot([r["kernel_size"] for r in rows], [r["psnr"] for r in rows], "o-", color="tab:red")
    axis.axvline(case.kernel.shape[0], color="gray", linestyle="--", label="true size")
    axis.set_xlabel("assumed kernel size")
    axis.set_ylabel("PSNR (dB)")
    axis.set_title(f"{case.name}, preset {args.preset}", fontsize=9)
    axis.legend(fontsize=8)
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"kernel_sizes_{args.preset}.png", dpi=100)
    (out / f"kernel_sizes_{args.preset}.json").write_text(
        json.dumps({"case": case.name, "command": args.command_line, "rows": rows}, indent=1)
    )


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(prog="python -m benchmarks.levin", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", required=True, help="folder of the Levin set (never copied into the repo)")
    common.add_argument("--out", default="docs/benchmarks")
    common.add_argument("--device", default="cpu")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--crop", type=int, default=128, help="centre crop side (0: full images)")
    tables = commands.add_parser("tables", parents=[common])
    tables.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cpu-fast")
    tables.add_argument("--methods", nargs="*", choices=sorted(METHODS))
    tables.add_argument("--families", nargs="*", default=["motion", "optical"])
    tables.add_argument(
        "--limit", type=int, default=0, help="this many evenly spread cases per family (0: all)"
    )
    tables.add_argument(
        "--cases", nargs="*", help="only these cases, in this order (e.g. im1_kernel1 im2_zernike3)"
    )
    tables.add_argument(
        "--jobs", type=int, default=1, help="cases run concurrently in worker processes (GPU: 4-8)"
    )
    tables.add_argument(
        "--budget-s",
        type=float,
        default=float("inf"),
        help="start no run after this many seconds (finish the table later with --resume)",
    )
    tables.add_argument("--resume", action="store_true", help="reuse finished runs from the records file")
    tables.add_argument(
        "--name",
        help="stem of the output files (default: levin_<protocol>, which also writes levin_summary.json)",
    )
    tables.add_argument(
        "--summarise-only",
        action="store_true",
        help="write the tables from the records file without running anything (partial runs)",
    )
    evolution = commands.add_parser("evolution", parents=[common])
    evolution.add_argument("--case", default="im1_kernel2")
    evolution.add_argument("--preset", default="fast")
    evolution.add_argument("--steps", type=int, nargs="*", default=[5, 10, 15, 20, 30])
    sizes = commands.add_parser("kernel-sizes", parents=[common])
    sizes.add_argument("--case", default="im1_kernel2")
    sizes.add_argument("--preset", default="fast")
    sizes.add_argument("--sizes", type=int, nargs="*", default=[15, 21, 27, 33])
    args = parser.parse_args(argv)
    args.command_line = "python -m benchmarks.levin " + " ".join(argv if argv is not None else sys.argv[1:])
    {"tables": cmd_tables, "evolution": cmd_evolution, "kernel-sizes": cmd_kernel_sizes}[args.command](args)


if __name__ == "__main__":
    main()
