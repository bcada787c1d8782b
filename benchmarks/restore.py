"""The returned image at full scale, the network's or RL-TV's, by image size (Levin set).

Usage (from the repository root)::

    python -m benchmarks.restore --data ../shared/data/levin --crops 128 152 176 0 --limit 8 \
        --short-blurs --cache ~/.cache/napari-selfdiff/restore --out docs/benchmarks

For ``--limit`` evenly spread cases of each family (:func:`benchmarks.levin.spread`; 8 + 8
covers every image and kernel once) and every side in ``--crops`` (a centre square; 0: the
whole 255 x 255 image), one blind run of ``--preset`` at full scale with
``restore="network"`` gives the image network's output ``D_theta(x_1)`` and the PSF; both are
cached per case in ``--cache`` (the slow part: about 30 s per 128 x 128 crop and 80 s per
whole image on 2 CPU cores). The same PSF then restores the blurred input by RL-TV
(:func:`napari_selfdiff.restoration.classic.restore_planes`, the config's ``restore_iterations`` and
``restore_tv_weight``), which is what ``restore="richardson_lucy"`` returns. Scores as in
:mod:`benchmarks.levin`. ``--short-blurs`` adds the whole images under 9 and 11 px camera shake
(:func:`short_blur_cases`), the blurs ``scale="auto"`` keeps at full scale on the CPU.

The question is where the preset's fixed iteration budget T x S stops being enough for the
network to fit the image: the table gives, per side, the pixels per iteration, both images'
mean PSNR / SSIM, and RL-TV's mean gain over the network with its worst and best case and the
number of cases better. It is the evidence for ``restore="auto"``
(:func:`napari_selfdiff.plan.policy.resolve_restore`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from .levin import Case, _read, _selfdiff, motion_cases, optical_cases, score, spread
from .paired import add_arguments, cached, gain_cells, write_report

FULL_SIDE = 255
#: Blurs under 13 px, which ``scale="auto"`` keeps at full scale on the CPU: seeded camera shake
#: on the 4 whole sharp Levin images (:func:`short_blur_cases`).
SHORT_BLURS = {"family": "short motion", "sizes": [9, 11], "noise_sigma": 0.01}


def short_blur_cases(root: Path) -> list[Case]:
    """The 4 sharp Levin images, each blurred by a 9 and an 11 px camera-shake kernel
    (``motion_kernel(K, seed=10 i + K)``, reflect-padded, Gaussian noise 0.01 seeded
    ``1000 i + K``): 8 cases of family ``"short motion"``."""
    from napari_selfdiff.optics import blur, motion_kernel

    cases = []
    for i in range(1, 5):
        sharp = _read(root / "gt" / f"im{i}.png")
        for size in SHORT_BLURS["sizes"]:
            kernel = motion_kernel(size, seed=10 * i + size)
            blurred = blur(sharp, kernel, noise_sigma=SHORT_BLURS["noise_sigma"], seed=1000 * i + size)
            cases.append(Case(f"im{i}_short{size}", SHORT_BLURS["family"], blurred, sharp, kernel))
    return cases


def blind_run(case: Case, preset: str, device: str, seed: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """The network's image and the PSF of one blind full-scale run (the Levin benchmark's
    ``selfdiff-<preset>`` method, which returns the network's image), cached."""

    def run() -> dict[str, np.ndarray]:
        image, psf = _selfdiff(preset)(case, {"device": device, "seed": seed})
        return {"image": image, "psf": psf}

    arrays = cached(cache / f"{case.name}.npz", case.blurred, run)
    return arrays["image"], arrays["psf"]


def rl_tv(case: Case, psf: np.ndarray, preset: str, device: str) -> np.ndarray:
    """The blurred input restored by RL-TV with ``psf``, as ``restore="richardson_lucy"`` does."""
    import torch

    from napari_selfdiff import DeblurConfig
    from napari_selfdiff.restoration.classic import restore_planes
    from napari_selfdiff.results import drive

    planes = case.blurred[None, None]
    return drive(restore_planes(planes, psf, DeblurConfig.preset(preset), torch.device(device)))[0, 0]


def table(records: list[dict[str, Any]], iterations: int, header: str) -> str:
    lines = [
        header,
        "",
        "| side | pixels / iteration | family | network PSNR / SSIM | RL-TV PSNR / SSIM "
        "| RL-TV gain: mean (worst, best) | RL-TV better |",
        "|---|---|---|---|---|---|---|",
    ]
    for side in sorted({r["side"] for r in records}):
        for family in ("motion", "optical", SHORT_BLURS["family"]):
            rows = [r for r in records if r["side"] == side and r["family"] == family]
            if not rows:
                continue
            mean = {
                (name, metric): np.mean([r[name][metric] for r in rows])
                for name in ("network", "rl_tv")
                for metric in ("psnr", "ssim")
            }
            gain = [r["rl_tv"]["psnr"] - r["network"]["psnr"] for r in rows]
            lines.append(
                f"| {side} | {side * side / iterations:.0f} | {family} | "
                f"{mean['network', 'psnr']:.2f} / {mean['network', 'ssim']:.3f} | "
                f"{mean['rl_tv', 'psnr']:.2f} / {mean['rl_tv', 'ssim']:.3f} | {gain_cells(gain)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from napari_selfdiff import DeblurConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, cache_help="folder for the blind runs' images and PSFs")
    parser.add_argument(
        "--crops", type=int, nargs="+", default=[128, 152, 176, 0], help="sides; 0: the whole image"
    )
    parser.add_argument("--limit", type=int, default=8, help="evenly spread cases per family")
    parser.add_argument(
        "--short-blurs",
        action="store_true",
        help=f"also the whole images blurred by {' and '.join(map(str, SHORT_BLURS['sizes']))} px "
        "camera shake (short_blur_cases)",
    )
    parser.add_argument("--name", default="restore_by_size")
    args = parser.parse_args(argv)

    root = Path(args.data)
    schedule = DeblurConfig.preset(args.preset).schedule
    iterations = schedule.steps * schedule.inner_steps
    case_sets = [
        (
            crop or FULL_SIDE,
            "",
            [
                case
                for family in (motion_cases(root, crop or None), optical_cases(root, crop or None))
                for case in spread(family, args.limit)
            ],
        )
        for crop in args.crops
    ]
    if args.short_blurs:
        case_sets.append((FULL_SIDE, "_short", short_blur_cases(root)))
    records = []
    for side, kind, cases in case_sets:
        cache = Path(args.cache).expanduser() / f"{args.preset}_{side}{kind}_seed{args.seed}"
        for index, case in enumerate(cases, 1):
            start = time.perf_counter()
            image, psf = blind_run(case, args.preset, args.device, args.seed, cache)
            network = score(case, image, psf)
            restored = score(case, rl_tv(case, psf, args.preset, args.device), psf)
            records.append(
                {
                    "case": case.name,
                    "family": case.family,
                    "side": side,
                    "network": network,
                    "rl_tv": restored,
                }
            )
            print(
                f"[{side}: {index}/{len(cases)}] {case.name:14s} network {network['psnr']:.2f}  "
                f"RL-TV {restored['psnr']:.2f}  {time.perf_counter() - start:.1f} s",
                flush=True,
            )

    header = (
        f'The returned image at full scale by image side: the network\'s (`restore="network"`) or RL-TV '
        f'with the same PSF (`restore="richardson_lucy"`), preset {args.preset} (T x S = {iterations} '
        f"iterations), {args.limit} + {args.limit} spread Levin cases, centre crops, seed {args.seed}, "
        f"one blind run per case"
        + (
            f"; {SHORT_BLURS['family']}: the 4 whole sharp images, each blurred by seeded "
            f"{' and '.join(map(str, SHORT_BLURS['sizes']))} px camera shake, "
            f"noise {SHORT_BLURS['noise_sigma']}"
            if args.short_blurs
            else ""
        )
        + f". Command: `python -m benchmarks.restore --crops {' '.join(map(str, args.crops))} "
        f"--limit {args.limit}{' --short-blurs' if args.short_blurs else ''} --preset {args.preset} "
        f"--seed {args.seed}`."
    )
    result = {"iterations": iterations, "records": records}
    write_report(args, args.name, result, table(records, iterations, header))


if __name__ == "__main__":
    main()
