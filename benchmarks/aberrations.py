"""Blind aberration estimation benchmark (issue #30): the Zernike pupil model against the free
kernel model and the classic blind estimate, on the same seeded optical cases.

Usage (from the repository root)::

    python -m benchmarks.aberrations run --cases 6             # all methods, cached per case
    python -m benchmarks.aberrations table                      # the tables from the cache

Cases (seeded, :func:`make_case`): a synthetic fluorescence scene (nuclei, filaments, membranes,
beads; :func:`benchmarks.validation_cases.scene`) of ``--size`` pixels, blurred by the PSF of a
microscope (NA 0.8-1.4, 520 nm, pixels 0.8-1 of the Nyquist size, water or oil immersion) with
random Zernike aberrations (Noll 4-15, 0.05 to 0.6 waves RMS in all, :func:`random_aberration`),
then Gaussian noise (sigma 0.01) or photon noise (300 or 100 photons at intensity 1, a 5 %
background and 1.5 e- read noise). Nobody tuned anything on these cases.

Methods (the ``fast`` preset, noise-aware TV restoration with the do-no-harm guard, as a user runs it):

* ``zernike_known``: self-diffusion with the Zernike model and the microscope's NA, wavelength and pixel;
* ``zernike_estimated``: the Zernike model with the pupil's sampling estimated;
* ``free``: self-diffusion with the free (softmax) kernel model;
* ``classic``: the classic blind estimate (``method="classic"``).

Scores: PSNR/SSIM on the sharp reference at the best shift within K // 2 (border K // 2 ignored),
kernel MNC, and for the Zernike model the RMS coefficient error modulo the even part's sign
(:func:`napari_selfdiff.optics.aberrations.coefficient_error`). Results are cached in
``.cache/aberrations/<method>/<case>.json`` (git-ignored); the table goes to
``docs/benchmarks/aberrations.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .validation_cases import scene

SCENES = ("nuclei", "filaments", "membranes", "beads")
NOISE = (("gaussian", 0.01), ("poisson", 300.0), ("poisson", 100.0))
METHODS = ("zernike_known", "zernike_estimated", "free", "classic")
KERNEL_SIZE = 21
WAVELENGTH = 0.52


@dataclass(frozen=True)
class OpticalCase:
    """One seeded case: the sharp reference, the observation, the PSF and its aberrations."""

    index: int
    scene: str
    noise: tuple[str, float]
    optics: dict[str, float]
    coefficients: dict[int, float]
    sharp: np.ndarray
    observation: np.ndarray
    psf: np.ndarray

    @property
    def name(self) -> str:
        kind, level = self.noise
        return f"a{self.index:03d}_{self.scene}_{kind}{level:g}_rms{self.rms:.3f}"

    @property
    def rms(self) -> float:
        return float(np.sqrt(sum(v * v for v in self.coefficients.values())))


def make_case(index: int, size: int, count: int) -> OpticalCase:
    """Case ``index`` of ``count``: aberration RMS spread evenly over 0.05-0.6 waves."""
    from scipy.signal import fftconvolve

    from napari_selfdiff.optics import random_aberration, zernike_psf

    rng = np.random.default_rng(3000 + index)
    na = float(rng.choice([0.8, 1.0, 1.2, 1.4]))
    immersion = 1.518 if na > 1.2 else 1.33
    pixel = WAVELENGTH / (4 * na) * float(rng.uniform(0.8, 1.0))
    optics = {"na": na, "wavelength": WAVELENGTH, "pixel_size": round(pixel, 5), "immersion_index": immersion}
    rms = 0.05 + 0.55 * index / max(count - 1, 1)
    coefficients = random_aberration(rms, seed=rng)
    psf = zernike_psf(coefficients, KERNEL_SIZE, **optics)
    name = SCENES[index % len(SCENES)]
    extended = scene(name, size + KERNEL_SIZE - 1, rng)
    clean = fftconvolve(extended, psf, mode="valid")
    half = KERNEL_SIZE // 2
    sharp = extended[half : half + size, half : half + size]
    kind, level = NOISE[index % len(NOISE)]
    if kind == "gaussian":
        observation = clean + level * rng.standard_normal(clean.shape)
    else:
        background = 0.05
        counts = rng.poisson(level * (np.clip(clean, 0, None) + background)) + 1.5 * rng.standard_normal(
            clean.shape
        )
        observation = counts / level - background
    return OpticalCase(index, name, (kind, level), optics, coefficients, sharp, observation, psf)


def run_method(method: str, case: OpticalCase) -> dict[str, Any]:
    """Run one method on one case and score it."""
    from napari_selfdiff import DeblurConfig, deblur
    from napari_selfdiff.metrics import aligned_scores, mnc
    from napari_selfdiff.optics.aberrations import coefficient_error

    config = DeblurConfig.preset("fast")
    if method == "classic":
        config = config.replace(method="classic")
    else:
        config = config.replace(method="selfdiff", restore="tv")
    if method.startswith("zernike"):
        config = config.replace(**{"kernel_net.model": "zernike"})
    if method == "zernike_known":
        config = config.replace(**{f"optics.{key}": value for key, value in case.optics.items()})
    start = time.perf_counter()
    result = deblur(case.observation, KERNEL_SIZE, config, device="cpu", seed=0)
    seconds = time.perf_counter() - start
    half = KERNEL_SIZE // 2
    aligned = aligned_scores(result.image, case.sharp, max_shift=half, border=half)
    record: dict[str, Any] = {
        "psnr": aligned.psnr,
        "ssim": aligned.ssim,
        "mnc": mnc(result.psf, case.psf),
        "seconds": seconds,
        "deconvolved": result.deconvolved,
        "reliability": result.reliability,
    }
    if result.aberrations:
        found = result.aberrations[0]
        record["coefficient_error"] = coefficient_error(found.coefficients, case.coefficients)
        record["coefficients"] = {str(j): v for j, v in found.coefficients.items()}
    return record


def _input_scores(case: OpticalCase) -> dict[str, float]:
    from napari_selfdiff.metrics import aligned_scores

    half = KERNEL_SIZE // 2
    aligned = aligned_scores(case.observation, case.sharp, max_shift=half, border=half)
    return {"psnr": aligned.psnr, "ssim": aligned.ssim}


def _cached(cache: Path, method: str, case: OpticalCase) -> Path:
    return cache / method / f"{case.name}.json"


def run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    for index in range(args.cases):
        case = make_case(index, args.size, args.cases)
        for method in args.methods:
            path = _cached(args.cache, method, case)
            if path.exists():
                continue
            record = run_method(method, case)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
            error = record.get("coefficient_error")
            extra = "" if error is None else f" coefficient error {error:.3f} (truth {case.rms:.2f} RMS)"
            print(
                f"{case.name} {method}: PSNR {record['psnr']:.2f} MNC {record['mnc']:.3f}"
                f"{extra} {record['seconds']:.0f} s",
                flush=True,
            )
    table(args)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def table(args: argparse.Namespace) -> None:
    """Per noise group and method: mean gain in dB, worst gain, MNC, coefficient error, seconds."""
    rows: list[dict[str, Any]] = []
    for index in range(args.cases):
        case = make_case(index, args.size, args.cases)
        base = _input_scores(case)
        for method in args.methods:
            path = _cached(args.cache, method, case)
            if not path.exists():
                continue
            record = json.loads(path.read_text())
            kind, level = case.noise
            rows.append(
                {
                    "case": case.name, "method": method, "group": f"{kind}{level:g}", "rms": case.rms,
                    "gain": record["psnr"] - base["psnr"], "ssim": record["ssim"], "mnc": record["mnc"],
                    "coefficient_error": record.get("coefficient_error"), "seconds": record["seconds"],
                    "deconvolved": record.get("deconvolved"),
                }
            )  # fmt: skip
    lines = [
        "# Blind aberration estimation (issue #30)",
        "",
        f"Generated by `python -m benchmarks.aberrations table --cases {args.cases} --size {args.size}` "
        "(see the module docstring for the cases and methods). 1 CPU thread; times are upper bounds",
        "(the machine was shared). Gain: PSNR of the result minus that of the blurred input.",
        "",
        "| noise | method | cases | gain dB | worst dB | PSF MNC | coef. error (waves) | deconvolved | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = [f"{kind}{level:g}" for kind, level in NOISE] + ["all"]
    for group in groups:
        for method in args.methods:
            chosen = [r for r in rows if r["method"] == method and (group == "all" or r["group"] == group)]
            if not chosen:
                continue
            errors = [r["coefficient_error"] for r in chosen if r["coefficient_error"] is not None]
            error = f"{_mean(errors):.3f}" if errors else "-"
            done = sum(bool(r["deconvolved"]) for r in chosen)
            gains = [r["gain"] for r in chosen]
            lines.append(
                f"| {group} | {method} | {len(chosen)} | {_mean(gains):+.2f} | {min(gains):+.2f} | "
                f"{_mean([r['mnc'] for r in chosen]):.3f} | {error} | {done}/{len(chosen)} | "
                f"{_mean([r['seconds'] for r in chosen]):.0f} |"
            )
    small = [r for r in rows if r["method"] == "zernike_known" and r["coefficient_error"] is not None]
    if small:
        lines += ["", "Coefficient error of `zernike_known` against the aberration's size:", ""]
        lines += ["| case | truth RMS (waves) | error (waves) | MNC |", "|---|---|---|---|"]
        for r in sorted(small, key=lambda r: r["rms"]):
            lines.append(f"| {r['case']} | {r['rms']:.3f} | {r['coefficient_error']:.3f} | {r['mnc']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "table"))
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path(".cache/aberrations"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/aberrations.md"))
    args = parser.parse_args(argv)
    run(args) if args.command == "run" else table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
