"""How well one 2D image pins down Zernike coefficients when the sharp image is *known* (issue #30).

The blind Zernike model's coefficient errors are about the size of the aberration
(``docs/benchmarks/aberrations.md``). This benchmark separates the two possible causes, the
blind problem and the coefficient problem itself: on the same seeded optical cases
(:func:`benchmarks.aberrations.make_case`) it fits the coefficients *non-blind*, the sharp
reference given, by minimising the noise-weighted data misfit

.. math::

    \\chi^2(a) = \\frac{1}{N} \\sum_i \\frac{(y_i - (\\mathrm{PSF}(a) * x)_i)^2}{v_i},

with ``v`` the variance of the noise model estimated on the observation
(:func:`napari_selfdiff.noise.estimate_noise`; 1 per pixel for a correct fit) over the valid
interior, ``PSF(a)`` the torch optics the engine renders with (:class:`PupilPsf`, the
microscope known), Adam at 0.01 waves per step for ``--steps`` steps, from

* ``near zero``: the aberration-free start the engine's Zernike model uses (1e-3 waves noise);
* ``best of S``: ``--starts`` random starts (0.2 waves per mode), the lowest chi^2 kept.

Reported per case: chi^2 at the truth and at each fit, and the coefficient error modulo the even
part's sign (:func:`napari_selfdiff.optics.aberrations.coefficient_error`); for the multi-start
fit also how many starts ended within 0.1 waves of the truth and the lowest chi^2 among the
starts that ended more than 0.2 waves away (a distant near-equivalent solution).

Usage (from the repository root; about a minute a case on one CPU thread)::

    python -m benchmarks.aberration_identifiability --cases 6
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .aberrations import KERNEL_SIZE, OpticalCase, make_case

NOLL = list(range(4, 16))


def _problem(case: OpticalCase) -> tuple[Any, Any, Any, Any]:
    """The renderer, the sharp image's FFT, the observed valid interior and its inverse variances."""
    import torch

    from napari_selfdiff.blind.selfdiff.nets.pupil_generator import PupilSampling
    from napari_selfdiff.config import OpticsConfig
    from napari_selfdiff.noise import estimate_noise
    from napari_selfdiff.optics.pupil_torch import PupilPsf

    sampling = PupilSampling.plan(KERNEL_SIZE, OpticsConfig(**case.optics))
    render = PupilPsf(
        NOLL, KERNEL_SIZE, sampling.grid, oversample=sampling.oversample, radius=sampling.radius,
        dtype=torch.float64,
    )  # fmt: skip
    half = KERNEL_SIZE // 2
    # The valid part of the circular convolution of the sharp crop (kernel at the origin) is the
    # observation's interior: the pixels the crop's own neighbourhood explains.
    variance = estimate_noise(case.observation).variance(np.clip(case.observation, 0, None))
    weights = 1.0 / variance[half:-half, half:-half]
    sharp = torch.fft.rfft2(torch.as_tensor(case.sharp))
    return render, sharp, torch.as_tensor(case.observation[half:-half, half:-half]), torch.as_tensor(weights)


def chi_square(case: OpticalCase, problem: tuple[Any, Any, Any, Any], coefficients: Any) -> Any:
    """chi^2 per pixel (module docstring) of (..., J) coefficients, shape (...)."""
    import torch

    render, sharp, observed, weights = problem
    size = case.sharp.shape
    kernels = render(coefficients)
    blurred = torch.fft.irfft2(sharp * torch.fft.rfft2(kernels, s=size), s=size)
    valid = blurred[..., KERNEL_SIZE - 1 :, KERNEL_SIZE - 1 :]
    return ((valid - observed) ** 2 * weights).mean(dim=(-2, -1))


def fit(case: OpticalCase, problem: tuple[Any, Any, Any, Any], starts: Any, steps: int) -> tuple[Any, Any]:
    """Adam on every start at once: the (S,) final chi^2 and (S, J) coefficients."""
    import torch

    coefficients = starts.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([coefficients], lr=0.01)
    for _ in range(steps):
        optimiser.zero_grad()
        chi_square(case, problem, coefficients).sum().backward()
        optimiser.step()
    with torch.no_grad():
        return chi_square(case, problem, coefficients), coefficients.detach()


def measure(case: OpticalCase, n_starts: int, steps: int) -> dict[str, Any]:
    """One case: chi^2 and coefficient errors of the near-zero and multi-start fits."""
    import torch

    from napari_selfdiff.optics.aberrations import coefficient_error

    problem = _problem(case)
    generator = torch.Generator().manual_seed(case.index)
    starts = 0.2 * torch.randn(n_starts + 1, len(NOLL), generator=generator, dtype=torch.float64)
    starts[0] = 1e-3 * torch.randn(len(NOLL), generator=generator, dtype=torch.float64)
    begin = time.perf_counter()
    chi, found = fit(case, problem, starts, steps)
    seconds = time.perf_counter() - begin

    def error(values: Any) -> float:
        return coefficient_error(dict(zip(NOLL, values.tolist(), strict=True)), case.coefficients)

    truth = torch.tensor([case.coefficients.get(j, 0.0) for j in NOLL], dtype=torch.float64)
    errors = [error(values) for values in found[1:]]
    best = int(torch.argmin(chi[1:]))
    distant = [float(c) for c, e in zip(chi[1:], errors, strict=True) if e > 0.2]
    return {
        "case": case.name, "rms": case.rms,
        "chi2_truth": float(chi_square(case, problem, truth)),
        "chi2_zero": float(chi_square(case, problem, torch.zeros_like(truth))),
        "chi2_near_zero": float(chi[0]), "error_near_zero": error(found[0]),
        "chi2_best": float(chi[1 + best]), "error_best": errors[best],
        "starts_within_0.1": sum(e <= 0.1 for e in errors), "starts": n_starts,
        "chi2_best_distant": min(distant) if distant else None, "seconds": seconds,
    }  # fmt: skip


def _row(r: dict[str, Any]) -> str:
    distant = "-" if r["chi2_best_distant"] is None else f"{r['chi2_best_distant']:.3f}"
    return (
        f"| {r['case']} | {r['rms']:.2f} | {r['chi2_truth']:.3f} | {r['chi2_zero']:.2f} | "
        f"{r['chi2_near_zero']:.3f} | {r['error_near_zero']:.2f} | {r['chi2_best']:.3f} | "
        f"{r['error_best']:.2f} | {r['starts_within_0.1']}/{r['starts']} | {distant} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--starts", type=int, default=32)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/aberration_identifiability.md"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for index in range(args.cases):
        rows.append(measure(make_case(index, args.size, args.cases), args.starts, args.steps))
        print(_row(rows[-1]), f"{rows[-1]['seconds']:.0f} s", flush=True)
    lines = [
        "# Zernike coefficients from one image with the sharp image known (issue #30)",
        "",
        f"Generated by `python -m benchmarks.aberration_identifiability --cases {args.cases} "
        f"--size {args.size} --starts {args.starts} --steps {args.steps}` (the fit and the columns: "
        "the module docstring). chi^2 per pixel, about 1 for a fit down to the noise; errors in "
        "waves RMS, modulo the even part's sign.",
        "",
        "| case | truth RMS | chi^2 truth | chi^2 no aberration | chi^2 near-zero fit | error | "
        "chi^2 best of S | error | starts within 0.1 | chi^2 best distant start |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[_row(r) for r in rows],
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
