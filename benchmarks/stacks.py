"""Blind 3D deconvolution of z-stacks against per-plane 2D blind and Richardson-Lucy (issue #31).

Seeded synthetic stacks (:mod:`benchmarks.stacks_cases`: beads, filaments, hollow shells,
nuclei; widefield Zernike PSFs through focus with 0.1-0.3 waves of spherical aberration and
some coma, NA 0.8-1.4, z step 0.2-0.5 um, Poisson noise of 100-3000 photons), four methods:

* ``per-plane 2D``: ``deblur(stack, k)``, the API's default for a stack (a 2D PSF per plane);
* ``3D blind``: ``deblur(stack, (kz, k, k), stack_mode="3d", z_step, pixel_size)``;
* ``RL true PSF`` and ``RL nominal PSF``: the same 3D RL-TV as the 3D blind run
  (:func:`napari_selfdiff.blind.selfdiff.volume_run.restore_3d`, without its guard), with the true
  3D PSF and with the aberration-free PSF of the nominal NA (what a user without a measured
  PSF does);

metrics: 3D PSNR and SSIM against the truth, PSF MNC (3D), and for beads the median lateral and
axial FWHM (um) through the true beads' centres. Run (one thread; the table is the evidence)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python -m benchmarks.stacks --quick --cases 4
    OMP_NUM_THREADS=1 PYTHONPATH=src python -m benchmarks.stacks --cases 8   # 32 x 128 x 128

writes ``docs/benchmarks/stacks_quick.md`` or ``stacks_full.md`` and their ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity

from benchmarks.stacks_cases import WAVELENGTH, StackCase, make_case
from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.blind.selfdiff.volume_run import restore_3d
from napari_selfdiff.metrics import mnc

METHODS = ("input", "per-plane 2D", "3D blind", "3D blind Zernike", "RL true PSF", "RL nominal PSF")
SIZES = {"full": ((32, 128, 128), (9, 15, 15)), "quick": ((16, 48, 48), (7, 11, 11))}
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(np.ptp(truth) ** 2 / np.mean((estimate - truth) ** 2)))


def _fwhm(profile: np.ndarray) -> float:
    """Full width at half maximum (samples) of a 1D peak at its centre, above its minimum."""
    centre = len(profile) // 2
    values = profile - profile.min()
    half = values[centre] / 2
    if half <= 0:
        return float("nan")
    width = 0.0
    for step in (-1, 1):
        i = centre
        while 0 <= i + step < len(values) and values[i + step] > half:
            i += step
        if not 0 <= i + step < len(values):
            return float("nan")
        width += abs(i - centre) + (values[i] - half) / (values[i] - values[i + step])
    return width


def bead_fwhm(image: np.ndarray, case: StackCase) -> tuple[float, float]:
    """Median lateral (x) and axial (z) FWHM in um through the isolated true beads' centres."""
    peaks = np.argwhere(case.truth > 0.3)
    lateral, axial = [], []
    for z, y, x in peaks:
        if not (3 <= z < image.shape[0] - 3 and 6 <= y < image.shape[1] - 6 and 6 <= x < image.shape[2] - 6):
            continue
        others = np.abs(peaks - (z, y, x)).max(axis=1)
        if np.count_nonzero(others <= 5) > 1:
            continue
        lateral.append(_fwhm(image[z, y, x - 6 : x + 7]) * case.pixel_um)
        axial.append(_fwhm(image[z - 3 : z + 4, y, x]) * case.z_step_um)
    return float(np.nanmedian(lateral)) if lateral else float("nan"), (
        float(np.nanmedian(axial)) if axial else float("nan")
    )


def run_case(
    case: StackCase, kernel: tuple[int, int, int], config: DeblurConfig, per_plane: bool = True
) -> dict:
    """Every method on one case: scores, PSF MNC, bead FWHM and seconds."""
    stack, device = case.blurred, torch.device("cpu")
    results: dict[str, dict] = {}

    def record(name: str, image: np.ndarray, seconds: float, psf: np.ndarray | None = None, **extra) -> None:
        # CPU seconds of this one-thread process: the time on an idle core, whatever the host's load.
        extra["cpu_seconds"] = round(time.process_time() - cpu_start, 1)
        span = float(np.ptp(case.truth))
        scores = {
            "psnr": psnr(image, case.truth),
            "ssim": float(structural_similarity(image, case.truth, data_range=span)),
            "seconds": round(seconds, 1),
            "mnc": None
            if psf is None or psf.ndim != 3 or psf.shape != case.psf.shape
            else mnc(psf, case.psf),
            **extra,
        }
        if case.specimen == "beads":
            scores["fwhm_lateral_um"], scores["fwhm_axial_um"] = bead_fwhm(image, case)
        results[name] = scores

    cpu_start = time.process_time()
    record("input", stack, 0.0)
    if per_plane:
        start, cpu_start = time.perf_counter(), time.process_time()
        planes = deblur(stack, kernel[-1], DeblurConfig.preset("fast"), device="cpu")
        record("per-plane 2D", planes.image, time.perf_counter() - start, method=planes.method)
    start, cpu_start = time.perf_counter(), time.process_time()
    blind = deblur(stack, kernel, config, device="cpu", z_step=case.z_step_um, pixel_size=case.pixel_um)
    record("3D blind", blind.image, time.perf_counter() - start, blind.psf,
           deconvolved=blind.deconvolved, reliability=blind.reliability)  # fmt: skip
    # The Zernike through-focus model with the microscope the stack was made with (NA, wavelength,
    # pixel, immersion): a user who knows the objective, not its aberrations.
    start, cpu_start = time.perf_counter(), time.process_time()
    optics = {
        "na": case.na,
        "wavelength": WAVELENGTH,
        "pixel_size": case.pixel_um,
        "immersion_index": case.immersion,
    }
    zernike = config.replace(
        **{"kernel_net.model": "zernike"}, **{f"optics.{k}": v for k, v in optics.items()}
    )
    pupil = deblur(stack, kernel, zernike, device="cpu", z_step=case.z_step_um, pixel_size=case.pixel_um)
    found = {str(j): v for j, v in pupil.aberrations[0].coefficients.items()}
    record("3D blind Zernike", pupil.image, time.perf_counter() - start, pupil.psf,
           deconvolved=pupil.deconvolved, aberrations=found)  # fmt: skip
    for name, psf in (("RL true PSF", case.psf), ("RL nominal PSF", case.nominal_psf)):
        start, cpu_start = time.perf_counter(), time.process_time()
        image, guard = restore_3d(stack.astype(np.float64), psf, config, device, guard=False)
        record(name, image, time.perf_counter() - start, psf, deconvolved=guard.deconvolved)
    if case.specimen == "beads":
        results["truth"] = dict(
            zip(("fwhm_lateral_um", "fwhm_axial_um"), bead_fwhm(case.truth, case), strict=True)
        )
    return {
        "case": case.name, "specimen": case.specimen, "na": case.na, "z_step_um": case.z_step_um,
        "pixel_um": case.pixel_um, "aberrations_waves": {str(k): v for k, v in case.aberrations.items()},
        "photons": case.photons, "nominal_mnc": mnc(case.nominal_psf, case.psf), "methods": results,
    }  # fmt: skip


def _present(rows: list[dict]) -> tuple[str, ...]:
    return tuple(name for name in METHODS if all(name in row["methods"] for row in rows))


def _table(rows: list[dict]) -> list[str]:
    methods = _present(rows)
    lines = ["| case | NA | dz um | photons | " + " | ".join(methods) + " | 3D PSF MNC (nominal) |",
             "|---" * (len(methods) + 5) + "|"]  # fmt: skip
    for row in rows:
        m = row["methods"]
        cells = [f"{m[name]['psnr']:.2f} / {m[name]['ssim']:.3f}" for name in methods]
        blind_mnc = m["3D blind"]["mnc"]
        lines.append(f"| {row['case']} | {row['na']} | {row['z_step_um']} | {row['photons']:.0f} | "
                     + " | ".join(cells) + f" | {blind_mnc:.3f} ({row['nominal_mnc']:.3f}) |")  # fmt: skip
    means = [np.mean([row["methods"][name]["psnr"] for row in rows]) for name in methods]
    lines.append("| **mean PSNR** | | | | " + " | ".join(f"**{v:.2f}**" for v in means) + " | |")
    return lines


def _targets(rows: list[dict]) -> list[str]:
    present = _present(rows)
    lines = []
    for blind in ("3D blind", "3D blind Zernike"):
        for other, floor in (("RL nominal PSF", 1.5), ("RL true PSF", -1.0), ("per-plane 2D", 2.0)):
            if other not in present or blind not in present:
                continue
            gaps = [row["methods"][blind]["psnr"] - row["methods"][other]["psnr"] for row in rows]
            value = float(np.mean(gaps))
            verdict = "met" if value >= floor else "NOT met"
            lines.append(f"| {blind} - {other} >= {floor:g} dB | {value:+.2f} dB | {verdict} |")
    return lines


def _beads(rows: list[dict]) -> list[str]:
    methods = _present(rows)
    lines = ["| case | " + " | ".join(("truth", *methods)) + " |", "|---" * (len(methods) + 2) + "|"]
    for row in rows:
        if row["specimen"] != "beads":
            continue
        m = row["methods"]
        cells = [f"{m[n]['fwhm_lateral_um']:.3f} / {m[n]['fwhm_axial_um']:.3f}" for n in ("truth", *methods)]
        lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 x 48 x 48 stacks, 7 x 11 x 11 PSF")
    parser.add_argument("--cases", type=int, default=4, help="number of cases (specimens cycle)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-per-plane", action="store_true", help="skip the per-plane 2D blind method")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="an earlier JSON of the same cases: its results of the methods not run now are kept",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    size = "quick" if args.quick else "full"
    shape, kernel = SIZES[size]
    config = DeblurConfig.preset("fast").replace(stack_mode="3d")
    earlier = {}
    if args.reuse is not None:
        earlier = {row["case"]: row["methods"] for row in json.loads(args.reuse.read_text())["rows"]}
    rows = []
    for index in range(args.cases):
        rows.append(
            run_case(make_case(index, shape, kernel, args.seed), kernel, config, not args.no_per_plane)
        )
        for name, scores in earlier.get(rows[-1]["case"], {}).items():
            rows[-1]["methods"].setdefault(name, {**scores, "reused": str(args.reuse.name)})
        print(json.dumps(rows[-1]["methods"]["3D blind"]), rows[-1]["case"], flush=True)
    seconds = np.mean([row["methods"]["3D blind"]["cpu_seconds"] for row in rows])
    plane_seconds = np.mean(
        [row["methods"].get("per-plane 2D", {}).get("cpu_seconds", np.nan) for row in rows]
    )
    command = "OMP_NUM_THREADS=1 PYTHONPATH=src python -m benchmarks.stacks" + (
        " --quick" if args.quick else ""
    )
    if args.no_per_plane:
        command += " --no-per-plane"
    if args.reuse is not None:
        command += f" --reuse {args.reuse.name}"
    lines = [
        "# Blind 3D deconvolution of z-stacks (issue #31)",
        "",
        f"Command: `{command} --cases {args.cases} --seed {args.seed}` (one CPU thread, shared host).",
        f"Stacks {shape[0]} x {shape[1]} x {shape[2]}, PSF box {kernel[0]} x {kernel[1]} x {kernel[2]}, "
        f"{args.cases} cases; fast preset, 3D section defaults. Mean CPU time per stack on one "
        f"thread: 3D blind {seconds:.0f} s, per-plane 2D blind {plane_seconds:.0f} s.",
        "",
        "PSNR (dB) / SSIM of the whole stack against the truth:",
        "",
        *_table(rows),
        "",
        "Targets of the issue (mean over the cases; every case is aberrated):",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *_targets(rows),
        "",
        "Bead FWHM, lateral / axial (um, median over isolated beads):",
        "",
        *_beads(rows),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"stacks_{size}.md").write_text("\n".join(lines) + "\n")
    (OUT / f"stacks_{size}.json").write_text(
        json.dumps({"size": size, "shape": shape, "kernel": kernel, "rows": rows}, indent=1)
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
