"""Phase retrieval from bead stacks (issue #38, the bead path): simulated beads and a real measured one.

**Simulated part.** Seeded through-focus stacks of one bead from the project's scalar model
(:func:`napari_selfdiff.optics.zernike_psf`), made harder than the retrieval's own model: each
pixel integrates 3 x 3 sub-pixels (``oversample=3``; the retrieval does not model it), the
pixel is 0.9 of the Nyquist pixel, the bead sits at a random sub-pixel position and up to
0.4 um off the stack's z = 0, the stack is scaled to ``photons`` at its brightest voxel over a
background of 50 photons, with Poisson noise and Gaussian read noise of 2 photons. Optics:
NA 0.8 air, 1.0 and 1.2 water, 1.4 oil at 0.52 um; aberrations 0-0.3 waves RMS of spherical,
astigmatism, coma or a random mix of them (Noll 5, 6, 7, 8, 11); 1e3, 1e4 and 1e5 photons.
Scored: the coefficient error ``sqrt(sum_{j=5..15} (a_j - a_j^true)^2)`` (waves RMS), the sign
of every true term of at least 0.03 waves, the focus error and the time per stack.

**Real part.** The measured widefield bead PSF distributed with pyotf (Apache-2.0; 25 x 256 x
256, 520 nm, 300 nm z steps, 130 nm pixels, NA 0.85, air), never copied into this repository::

    git -C <pyotf clone> show HEAD:fixtures/psf_wl520nm_z300nm_x130nm_na0.85_n1.0.tif \\
        > /tmp/psfs/pyotf_bead.tif

Reported: the retrieved coefficients, RMS and Strehl, the FWHM x/y/z measured against the
nominal (aberration-free) PSF and against the retrieved pupil's PSF, and how well the retrieved
pupil's PSF reproduces the measurement (MNC, relative residual), for three window sizes.

Usage (from the repository root; about a minute for the simulated part, one for the bead)::

    python -m benchmarks.phase_retrieval --bead /tmp/psfs/pyotf_bead.tif
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.metrics import mnc
from napari_selfdiff.optics import noll_name, zernike_psf
from napari_selfdiff.optics.aberrations import random_aberration
from napari_selfdiff.optics.phase_retrieval import PupilEstimate, fwhm_um, retrieve_pupil

WAVELENGTH = 0.52
OPTICS = [(0.8, 1.0, "air"), (1.0, 1.33, "water"), (1.2, 1.33, "water"), (1.4, 1.518, "oil")]
KINDS = {"spherical": [11], "astigmatism": [5, 6], "coma": [7, 8], "mixed": [5, 6, 7, 8, 11]}
AMPLITUDES = [0.0, 0.1, 0.2, 0.3]
PHOTONS = [1e3, 1e4, 1e5]
BACKGROUND, READ_NOISE = 50.0, 2.0
SIGN_FLOOR = 0.03  # waves: terms at least this large are scored for their sign
TERMS = range(5, 16)


@dataclass(frozen=True)
class BeadCase:
    """One simulated bead stack and its truth."""

    index: int
    na: float
    immersion_index: float
    medium: str
    kind: str
    amplitude: float
    photons: float
    truth: dict[int, float]
    pixel_size: float
    z: np.ndarray
    focus: float
    stack: np.ndarray


def make_case(index: int) -> BeadCase:
    """Case ``index``: every optics meets every aberration size and kind within 16 cases."""
    rng = np.random.default_rng(1000 + index)
    na, n, medium = OPTICS[index % len(OPTICS)]
    kind = list(KINDS)[(index // len(OPTICS)) % len(KINDS)]
    amplitude = AMPLITUDES[(index + index // len(OPTICS)) % len(AMPLITUDES)]
    photons = PHOTONS[index % len(PHOTONS)]
    truth = random_aberration(amplitude, seed=rng, indices=KINDS[kind]) if amplitude else {}
    pixel = 0.9 * WAVELENGTH / (4 * na)
    step = 0.2 if na >= 1.2 else 0.3
    half_range = 1.2 if na >= 1.2 else 2.1
    z = np.arange(-half_range, half_range + 1e-9, step)
    blur = half_range * math.tan(math.asin(na / n)) + 1.5  # um: the widest plane's radius, and some
    size = 2 * math.ceil(blur / pixel) + 1
    focus = float(rng.uniform(-0.4, 0.4))
    tip, tilt = rng.uniform(-0.5, 0.5, 2) * pixel * na / (2 * WAVELENGTH)  # sub-pixel position
    clean = zernike_psf(
        {**truth, 2: tip, 3: tilt},
        size,
        wavelength=WAVELENGTH,
        na=na,
        pixel_size=pixel,
        immersion_index=n,
        z=z - focus,
        oversample=3,
    )
    clean = clean / clean.max() * photons + BACKGROUND
    stack = rng.poisson(clean) + rng.normal(0.0, READ_NOISE, clean.shape)
    return BeadCase(index, na, n, medium, kind, amplitude, photons, truth, pixel, z, focus, stack)


def score_case(case: BeadCase) -> dict[str, Any]:
    """Retrieve the pupil of one case; error, signs, focus and time."""
    start = time.perf_counter()
    estimate = retrieve_pupil(
        case.stack,
        z_positions_um=case.z,
        wavelength=WAVELENGTH,
        na=case.na,
        pixel_size=case.pixel_size,
        immersion_index=case.immersion_index,
    )
    seconds = time.perf_counter() - start
    error = math.sqrt(sum((estimate.noll[j] - case.truth.get(j, 0.0)) ** 2 for j in TERMS))
    scored = [j for j, v in case.truth.items() if abs(v) >= SIGN_FLOOR]
    right = sum(np.sign(estimate.noll[j]) == np.sign(case.truth[j]) for j in scored)
    true_rms = math.sqrt(sum(v * v for v in case.truth.values()))
    return {
        "case": case.index,
        "na": case.na,
        "medium": case.medium,
        "kind": case.kind,
        "true_rms": round(true_rms, 4),
        "photons": case.photons,
        "shape": list(case.stack.shape),
        "error": round(error, 4),
        "signs_right": int(right),
        "signs_scored": len(scored),
        "focus_error_um": round(estimate.focus_um - case.focus, 4),
        "estimated_rms": round(estimate.rms_waves, 4),
        "strehl": round(estimate.strehl, 3),
        "iterations": len(estimate.residual_history),
        "residual": round(estimate.relative_residual, 4),
        "seconds": round(seconds, 2),
        "truth": {str(j): round(v, 4) for j, v in case.truth.items()},
        "found": {str(j): round(v, 4) for j, v in estimate.noll.items()},
    }


def _background_free(stack: np.ndarray, estimate: PupilEstimate) -> np.ndarray:
    """The measured window of the retrieval, background-subtracted the same way (zeros outside)."""
    border = np.concatenate([stack[:, 0, :], stack[:, -1, :], stack[:, 1:-1, 0], stack[:, 1:-1, -1]], axis=1)
    half = estimate.window // 2
    padded = np.pad(np.clip(stack - np.median(border), 0.0, None), ((0, 0), (half, half), (half, half)))
    cy, cx = estimate.centre_yx
    return padded[:, cy : cy + 2 * half + 1, cx : cx + 2 * half + 1]


def real_bead(path: Path, windows: list[int]) -> list[dict[str, Any]]:
    """Retrieve the pupil of the pyotf bead (module docstring) with each lateral window."""
    import tifffile

    stack = tifffile.imread(path).astype(np.float64)
    z = (np.arange(stack.shape[0]) - stack.shape[0] // 2) * 0.3
    rows = []
    for window in windows:
        start = time.perf_counter()
        estimate = retrieve_pupil(
            stack,
            z_positions_um=z,
            wavelength=0.52,
            na=0.85,
            pixel_size=0.13,
            immersion_index=1.0,
            window=window,
        )
        seconds = time.perf_counter() - start
        measured = _background_free(stack, estimate)
        model = estimate.psf()
        gains = (model * measured).sum(axis=(1, 2)) / (model**2).sum(axis=(1, 2))
        residual = np.linalg.norm(gains[:, None, None] * model - measured) / np.linalg.norm(measured)
        nominal = zernike_psf({}, window, wavelength=0.52, na=0.85, pixel_size=0.13, z=z - estimate.focus_um)
        rows.append(
            {
                "window": window,
                "seconds": round(seconds, 1),
                "iterations": len(estimate.residual_history),
                "noll": {str(j): round(v, 4) for j, v in estimate.noll.items()},
                "ansi": {str(j): round(v, 4) for j, v in estimate.ansi.items()},
                "rms_waves": round(estimate.rms_waves, 4),
                "strehl": round(estimate.strehl, 3),
                "strehl_marechal": round(estimate.strehl_marechal, 3),
                "focus_um": round(estimate.focus_um, 3),
                "shift_um": [round(s, 4) for s in estimate.shift_um],
                "fwhm_measured_um": {k: round(v, 3) for k, v in estimate.fwhm_um.items()},
                "fwhm_nominal_um": {k: round(v, 3) for k, v in estimate.fwhm_nominal_um.items()},
                "fwhm_retrieved_um": {k: round(v, 3) for k, v in fwhm_um(model, 0.13, 0.3).items()},
                "mnc_retrieved": round(mnc(model, measured), 4),
                "mnc_nominal": round(mnc(nominal, measured), 4),
                "residual_retrieved": round(float(residual), 4),
                "residual_gs": round(estimate.relative_residual, 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _sim_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| case | NA | medium | aberration | true RMS | photons | stack | error | signs | focus error (um) "
        "| Strehl found | iterations | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['na']} | {r['medium']} | {r['kind'] if r['true_rms'] else 'none'} "
            f"| {r['true_rms']:.3f} | {r['photons']:.0e} | {'x'.join(map(str, r['shape']))} "
            f"| {r['error']:.4f} "
            f"| {r['signs_right']}/{r['signs_scored']} | {r['focus_error_um']:+.3f} | {r['strehl']:.3f} "
            f"| {r['iterations']} | {r['seconds']:.2f} |"
        )
    return lines


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    errors = np.array([r["error"] for r in rows])
    right = sum(r["signs_right"] for r in rows)
    scored = sum(r["signs_scored"] for r in rows)
    lines = [
        f"* coefficient error (Noll 5-15, waves RMS): mean {errors.mean():.4f}, "
        f"median {np.median(errors):.4f}, "
        f"max {errors.max():.4f}; {int((errors <= 0.03).sum())} of {len(rows)} cases within 0.03 waves",
        f"* signs of the true terms >= {SIGN_FLOOR} waves: {right} of {scored} right",
        f"* time per stack: median {np.median([r['seconds'] for r in rows]):.2f} s, "
        f"max {max(r['seconds'] for r in rows):.2f} s",
    ]
    for photons in PHOTONS:
        chosen = [r["error"] for r in rows if r["photons"] == photons]
        lines.append(f"* {photons:.0e} photons: mean error {np.mean(chosen):.4f}, max {np.max(chosen):.4f}")
    return lines


def _bead_section(rows: list[dict[str, Any]], path: Path) -> list[str]:
    lines = [
        f"Input: `{path.name}`, read from `{path}` (module docstring: how to get it). The planes are "
        "taken in file order as increasing z, 0.3 um apart.",
        "",
        "| window (px) | iterations | s | RMS (Noll 5-15) | Strehl | Strehl (Marechal) | focus (um) "
        "| MNC retrieved | MNC nominal | residual retrieved | GS misfit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['window']} | {r['iterations']} | {r['seconds']} | {r['rms_waves']:.4f} "
            f"| {r['strehl']:.3f} "
            f"| {r['strehl_marechal']:.3f} | {r['focus_um']:+.3f} | {r['mnc_retrieved']:.4f} "
            f"| {r['mnc_nominal']:.4f} | {r['residual_retrieved']:.4f} | {r['residual_gs']:.4f} |"
        )
    lines += ["", "Coefficients (waves RMS):", ""]
    lines.append("| Noll | ANSI | term | " + " | ".join(f"window {r['window']}" for r in rows) + " |")
    lines.append("|---|---|---|" + "---|" * len(rows))
    from napari_selfdiff.optics.zernike import nm_to_ansi, noll_to_nm

    for j in TERMS:
        values = " | ".join(f"{r['noll'][str(j)]:+.4f}" for r in rows)
        lines.append(f"| {j} | {nm_to_ansi(*noll_to_nm(j))} | {noll_name(j)} | {values} |")
    lines += ["", "FWHM (um), measured through the brightest voxel:", ""]
    lines.append("| window | measured x / y / z | nominal x / y / z | retrieved pupil's PSF x / y / z |")
    lines.append("|---|---|---|---|")
    for r in rows:
        cells = [
            " / ".join(f"{r[key][a]:.3f}" for a in "xyz")
            for key in ("fwhm_measured_um", "fwhm_nominal_um", "fwhm_retrieved_um")
        ]
        lines.append(f"| {r['window']} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=24, help="simulated cases (0 to skip)")
    parser.add_argument(
        "--bead", type=Path, default=None, help="path of the pyotf bead TIFF (module docstring)"
    )
    parser.add_argument("--windows", type=int, nargs="+", default=[95, 127, 255])
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/phase_retrieval.md"))
    parser.add_argument(
        "--json", type=Path, default=None, help="also write every record (with coefficients) here"
    )
    args = parser.parse_args(argv)
    rows = []
    for index in range(args.cases):
        rows.append(score_case(make_case(index)))
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("truth", "found")}), flush=True)
    bead_rows = real_bead(args.bead, args.windows) if args.bead is not None else []
    command = "python -m benchmarks.phase_retrieval" + (f" --cases {args.cases}" if args.cases != 24 else "")
    if args.bead is not None:
        command += f" --bead {args.bead} --windows {' '.join(map(str, args.windows))}"
    lines = [
        "# Phase retrieval from bead stacks (issue #38, the bead path)",
        "",
        f"Generated by `{command}` on a shared 2-core CPU host (times include other users' load). "
        "Method: `napari_selfdiff.optics.phase_retrieval.retrieve_pupil` (Gerchberg-Saxton through "
        "focus, Hanser et al. 2004, then a magnitude-weighted Zernike fit with the exact defocus in "
        "place of Z4); cases: `benchmarks/phase_retrieval.py`'s docstring. Defaults throughout "
        "(at most 100 iterations, tolerance 1e-4, Noll 5-15).",
    ]
    if rows:
        lines += ["", "## Simulated beads", "", *_summary(rows), "", *_sim_table(rows)]
    if bead_rows:
        lines += ["", "## A real measured bead (pyotf's fixture)", "", *_bead_section(bead_rows, args.bead)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps({"simulated": rows, "bead": bead_rows}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
