"""The multiscale pipeline's PSF refit, by setting, on the same half-scale PSFs (Levin set).

Usage (from the repository root)::

    python -m benchmarks.refit --data ../shared/data/levin --crop 128 --place centre \
        --cache ~/.cache/napari-selfdiff/refit --out docs/benchmarks

For every case (32 motion + 32 optical, :mod:`benchmarks.levin`), a ``--crop`` square is cut at
``--place`` (``centre``, or ``end``: the bottom-right corner; ``--crop 0``: the whole image).
The blind stage of :func:`napari_selfdiff.deblur` with ``scale=2``, ``psf_window=None``, the
``--preset`` and the refit disabled gives the upscaled PSF; it is cached per case in
``--cache`` (the slow part: about 12 s per 128 x 128 crop on 2 CPU cores). Each setting then
starts from that PSF, as the pipeline does:

* ``none``: the crop restored with the upscaled PSF (:func:`.classic.restore_planes`);
* ``as-given``: refitted with :class:`~napari_selfdiff.config.deblur.PsfRefitConfig` ``(reference_area=1)``,
  the prior weight and edge fraction as they are whatever the window;
* ``default``: refitted with the default ``PsfRefitConfig()``, which scales both up on windows
  smaller than 255 x 255 (:mod:`napari_selfdiff.blind.refit`);

by :func:`napari_selfdiff.blind.refit.refit_on_window`, then restored. Scores as in
:mod:`benchmarks.levin`. The JSON keeps every record; the markdown table gives per family the
mean PSNR / SSIM / MNC and, against ``none``, the mean gain, the worst case and the number of
cases better.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from .levin import Case, _crop, motion_cases, optical_cases, score
from .paired import add_arguments, cached, gain_cells, write_report

SETTINGS = {"none": None, "as-given": {"psf_refit.reference_area": 1}, "default": {}}


def cut(case: Case, size: int, place: str) -> Case:
    """``case`` with its blurred and sharp images cut to a ``size`` square at ``place``."""
    blurred, sharp = (_crop(image, size, place) for image in (case.blurred, case.sharp))
    return Case(case.name, case.family, blurred, sharp, case.kernel)


def upscaled_psf(case: Case, preset: str, device: str, seed: int, cache: Path) -> np.ndarray:
    """The pipeline's PSF before the refit (blind at half scale, upscaled), cached."""
    from napari_selfdiff import DeblurConfig, deblur

    def blind_stage() -> dict[str, np.ndarray]:
        config = DeblurConfig.preset(preset).replace(**{"psf_refit.enabled": False})
        result = deblur(
            case.blurred, case.kernel.shape[0], config, scale=2, psf_window=None, device=device, seed=seed
        )
        return {"psf": result.psf}

    return cached(cache / f"{case.name}.npz", case.blurred, blind_stage)["psf"]


def evaluate(case: Case, psf: np.ndarray, preset: str, device: str) -> dict[str, dict[str, Any]]:
    """Scores of every setting of :data:`SETTINGS`, starting from ``psf``."""
    import torch

    from napari_selfdiff import DeblurConfig
    from napari_selfdiff.blind.refit import refit_on_window
    from napari_selfdiff.restoration.classic import restore_planes
    from napari_selfdiff.results import drive

    torch_device = torch.device(device)
    planes = case.blurred[None, None]
    scores = {}
    for name, changes in SETTINGS.items():
        config = DeblurConfig.preset(preset).replace(**(changes or {}))
        kernel = psf if changes is None else drive(refit_on_window(planes, psf, config, torch_device))
        restored = drive(restore_planes(planes, kernel, config, torch_device))[0, 0]
        scores[name] = score(case, restored, kernel)
    return scores


def table(records: list[dict[str, Any]], header: str) -> str:
    lines = [
        header,
        "",
        "| setting | family | PSNR / SSIM / MNC | gain over none: mean (worst, best) | better |",
        "|---|---|---|---|---|",
    ]
    for name in SETTINGS:
        for family in ("motion", "optical"):
            rows = [r for r in records if r["family"] == family]
            if not rows:
                continue
            psnr = [r["scores"][name]["psnr"] for r in rows]
            gain = [r["scores"][name]["psnr"] - r["scores"]["none"]["psnr"] for r in rows]
            ssim = np.mean([r["scores"][name]["ssim"] for r in rows])
            mnc = np.mean([r["scores"][name]["mnc"] for r in rows])
            lines.append(
                f"| {name} | {family} | {np.mean(psnr):.2f} / {ssim:.3f} / {mnc:.3f} | {gain_cells(gain)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, cache_help="folder for the blind stage's PSFs")
    parser.add_argument("--crop", type=int, default=128, help="square side; 0: the whole image")
    parser.add_argument("--place", choices=("centre", "end"), default="centre")
    args = parser.parse_args(argv)

    root = Path(args.data)
    cases = motion_cases(root, None) + optical_cases(root, None)
    if args.crop:
        cases = [cut(case, args.crop, args.place) for case in cases]
    label = f"{args.crop}_{args.place}" if args.crop else "full"
    cache = Path(args.cache).expanduser() / f"{args.preset}_{label}_seed{args.seed}"
    records = []
    for index, case in enumerate(cases, 1):
        start = time.perf_counter()
        psf = upscaled_psf(case, args.preset, args.device, args.seed, cache)
        scores = evaluate(case, psf, args.preset, args.device)
        records.append({"case": case.name, "family": case.family, "scores": scores})
        summary = "  ".join(f"{name} {entry['psnr']:.2f}" for name, entry in scores.items())
        seconds = time.perf_counter() - start
        print(f"[{index}/{len(cases)}] {case.name:14s} {summary}  {seconds:.1f} s", flush=True)

    where = f"{args.crop} x {args.crop} crops ({args.place})" if args.crop else "whole images"
    header = (
        f"PSF refit settings on the multiscale pipeline's half-scale PSFs, Levin {where}, "
        f"preset {args.preset}, seed {args.seed}. Command: `python -m benchmarks.refit "
        f"--crop {args.crop} --place {args.place} --preset {args.preset} --seed {args.seed}`."
    )
    write_report(args, f"refit_{label}", {"settings": SETTINGS, "records": records}, table(records, header))


if __name__ == "__main__":
    main()
