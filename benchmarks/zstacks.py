"""3D validation of the z-stack default (issue #38): the physical pupil fit against the baselines.

Cases: :mod:`benchmarks.zstacks_cases` (tuning, check and a sealed part; simulated and measured
PSFs). Methods, in one run on each case:

* ``input``: the recorded stack;
* ``per-plane 2D``: ``deblur(stack, K)``, the default for a stack without optics;
* ``RL nominal``: 3D RL-TV with the aberration-free PSF of the stated optics (what users do
  without a measured PSF); ``RL true``: the same with the true PSF (the oracle);
* ``pupil-3d``: ``deblur(stack, (Kz, K, K), stack_mode="3d", optics=...)``, the default for a
  z-stack with the optics known (the physical pupil fit, then 3D RL-TV);
* for bead specimens, the pupil by phase retrieval: ``bead path`` (beads found and averaged in
  the stack, :func:`napari_selfdiff.optics.phase_retrieval.average_beads`, then
  :func:`~napari_selfdiff.optics.phase_retrieval.retrieve_pupil`) and the ``GS reference``
  (Gerchberg-Saxton on the true PSF: the coefficients the data can give at best).

Scores: PSNR of the whole stack against the truth after a least-squares scale and offset (the
recorded stack is in ADU above a camera offset), its gain over the input, the PSF's MNC with
the truth, the coefficients' wavefront RMS error (Noll 5-15, waves) and the sign of the largest
term. Run (one part at a time; the sealed part once, at the end)::

    PYTHONPATH=src python -m benchmarks.zstacks --part tuning --measured-psf /tmp/psfs/pyotf_bead.tif

writes ``docs/benchmarks/zstacks_<part>.md`` and ``.json``. ``--update-pupil`` reruns only the
default on the stored cases (a change to the fit leaves the baselines as they were);
``--rescore`` rewrites the tables from the stored coefficients.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.zstacks_cases import WAVELENGTH, ZCase, make_case
from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.blind.pupil3d import NOLL, nominal_psf_3d
from napari_selfdiff.blind.selfdiff.volume_run import restore_3d
from napari_selfdiff.config import OpticsConfig
from napari_selfdiff.metrics import mnc

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
SHAPE, KERNEL = (24, 96, 96), (9, 15, 15)


def psnr_affine(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR after the least-squares ``a estimate + b`` (units and offsets differ)."""
    design = np.stack([estimate.ravel().astype(np.float64), np.ones(estimate.size)], 1)
    fitted = design @ np.linalg.lstsq(design, truth.ravel().astype(np.float64), rcond=None)[0]
    return float(10 * np.log10(np.ptp(truth) ** 2 / np.mean((fitted - truth.ravel()) ** 2)))


def coefficient_error(found: dict, truth: dict) -> tuple[float, bool | None]:
    """Wavefront RMS error of Noll 5-15 (waves) and whether the largest true term has the right sign.

    With Noll's normalisation the wavefront's RMS is the root of the *sum* of the squared
    coefficients, so the error is ``sqrt(sum_j (a_j - a_j^true)^2)``, comparable with the
    Marechal criterion (0.072 waves) and with ``benchmarks/phase_retrieval.py``.
    """
    diff = [float(found.get(j, found.get(str(j), 0.0))) - truth.get(j, truth.get(str(j), 0.0)) for j in NOLL]
    numeric = {int(j): v for j, v in truth.items()}
    largest = max(numeric, key=lambda j: abs(numeric[j]), default=None)
    sign = None
    if largest is not None and abs(numeric[largest]) >= 0.05:
        value = float(found.get(largest, found.get(str(largest), 0.0)))
        sign = bool(np.sign(value) == np.sign(numeric[largest]))
    return float(np.sqrt(np.sum(np.square(diff)))), sign


def rescore(row: dict) -> dict:
    """The row's coefficient errors recomputed from its stored coefficients (rounded to 1e-3)."""
    if row["psf"] != "model":
        return row
    for name in ("pupil-3d", "GS reference", "bead path"):
        score = row["scores"].get(name)
        if score and "found" in score:
            error, sign = coefficient_error(score["found"], row["aberrations"])
            score["coefficient_rms_error"], score["sign_right"] = error, sign
    paths = row["scores"]
    if "found" in paths.get("bead path", {}) and "found" in paths.get("GS reference", {}):
        diff = [paths["bead path"]["found"][str(j)] - paths["GS reference"]["found"][str(j)] for j in NOLL]
        paths["bead path"]["rms_from_reference"] = float(np.sqrt(np.sum(np.square(diff))))
    return row


def _bead_paths(case: ZCase) -> dict:
    from napari_selfdiff.optics.phase_retrieval import average_beads, retrieve_pupil

    optics = dict(wavelength=WAVELENGTH, na=case.na, pixel_size=case.pixel_um, immersion_index=case.immersion)
    z = (np.arange(KERNEL[0]) - KERNEL[0] // 2) * case.z_step_um
    out = {}
    reference = retrieve_pupil(case.psf, z_positions_um=z, **optics)
    out["GS reference"] = {j: reference.noll.get(j, 0.0) for j in NOLL}
    start = time.perf_counter()
    try:
        bead = average_beads(case.blurred - case.blurred.min(), KERNEL)
        found = retrieve_pupil(bead, z_positions_um=z, **optics)
        out["bead path"] = {j: found.noll.get(j, 0.0) for j in NOLL}
    except ValueError as error:  # no isolated bead: say so
        out["bead path error"] = str(error)
    out["bead path seconds"] = round(time.perf_counter() - start, 1)
    return out


def run_pupil(case: ZCase, base: float) -> dict:
    """The default for the case (the physical pupil fit, then 3D RL-TV): its scores over ``base`` dB."""
    optics = OpticsConfig(
        na=case.na, wavelength=WAVELENGTH, pixel_size=case.pixel_um, immersion_index=case.immersion
    )
    start = time.perf_counter()
    result = deblur(
        case.blurred, KERNEL, config=DeblurConfig(stack_mode="3d", optics=optics),
        z_step=case.z_step_um, pixel_size=case.pixel_um,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    found = result.aberrations[0].coefficients if result.aberrations else {}
    error, sign = coefficient_error(found, case.aberrations) if case.psf_source == "model" else (None, None)
    value = psnr_affine(result.image, case.truth)
    return {
        "psnr": value, "gain": value - base, "seconds": round(seconds, 1), "mnc": mnc(result.psf, case.psf),
        "reliable": result.aberrations is not None, "likelihood_ratio": result.reliability,
        "coefficient_rms_error": error, "sign_right": sign,
        "found": {str(j): round(v, 3) for j, v in found.items()},
        "negative_voxels": int((result.image < 0).sum()),
    }  # fmt: skip


def run_case(case: ZCase, per_plane: bool) -> dict:
    """Every method on one case."""
    optics = OpticsConfig(
        na=case.na, wavelength=WAVELENGTH, pixel_size=case.pixel_um, immersion_index=case.immersion
    )
    config = DeblurConfig(stack_mode="3d", optics=optics)
    row: dict = {
        "case": case.name,
        "part": case.part,
        "specimen": case.specimen,
        "psf": case.psf_source,
        "na": case.na,
        "photons": case.photons,
        "aberrations": {str(k): v for k, v in case.aberrations.items()},
    }
    scores: dict = {}
    base = psnr_affine(case.blurred, case.truth)
    scores["input"] = {"psnr": base}

    def record(name: str, image: np.ndarray, seconds: float, psf: np.ndarray | None = None, **extra) -> None:
        value = psnr_affine(image, case.truth)
        scores[name] = {"psnr": value, "gain": value - base, "seconds": round(seconds, 1), **extra}
        if psf is not None:
            scores[name]["mnc"] = mnc(psf, case.psf)

    if per_plane:
        start = time.perf_counter()
        planes = deblur(case.blurred, KERNEL[-1])
        record("per-plane 2D", planes.image, time.perf_counter() - start)
    nominal = nominal_psf_3d(KERNEL, optics, case.z_step_um)
    for name, psf in (("RL nominal", nominal), ("RL true", case.psf)):
        start = time.perf_counter()
        image, _ = restore_3d(case.blurred, psf, config, torch.device("cpu"), guard=False)
        record(name, image, time.perf_counter() - start, psf)
    scores["pupil-3d"] = run_pupil(case, base)
    if case.specimen == "beads" and case.psf_source == "model":
        paths = _bead_paths(case)
        for name in ("GS reference", "bead path"):
            if name in paths:
                err, right = coefficient_error(paths[name], case.aberrations)
                scores[name] = {
                    "coefficient_rms_error": err,
                    "sign_right": right,
                    "found": {str(j): round(v, 3) for j, v in paths[name].items()},
                }
        if "bead path" in paths:
            diff = [paths["bead path"][j] - paths["GS reference"][j] for j in NOLL]
            scores["bead path"]["rms_from_reference"] = float(np.sqrt(np.sum(np.square(diff))))
            scores["bead path"]["seconds"] = paths["bead path seconds"]
        elif "bead path error" in paths:
            scores["bead path"] = {"error": paths["bead path error"]}
    row["scores"] = scores
    return row


def _mean(values: list) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def table(rows: list[dict], part: str, skipped: int) -> str:
    """Markdown: per case, then per group (PSF source), the gains and the worst case."""
    methods = [
        m
        for m in ("per-plane 2D", "RL nominal", "pupil-3d", "RL true")
        if any(m in r["scores"] for r in rows)
    ]
    lines = [
        f"# z-stacks, {part} part ({len(rows)} cases, {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, PSF box "
        f"{KERNEL[0]}x{KERNEL[1]}x{KERNEL[2]})",
        "",
        "Generated by `benchmarks/zstacks.py` (see its docstring for the command); gains in dB over "
        "the input after a least-squares scale and offset.",
        "",
    ]
    if skipped:
        lines += [f"{skipped} measured-PSF cases skipped (no `--measured-psf` given).", ""]
    lines += [
        "| case | NA | photons | aberrations (Noll: waves) | input dB | "
        + " | ".join(f"{m} gain" for m in methods)
        + " | pupil-3d MNC (nominal) | coef. RMS err | sign | trusted | s |",
        "|" + "---|" * (10 + len(methods)),
    ]
    for r in rows:
        s = r["scores"]
        fit = s["pupil-3d"]
        gains = " | ".join(f"{s[m]['gain']:+.2f}" if m in s else "" for m in methods)
        err = "" if fit["coefficient_rms_error"] is None else f"{fit['coefficient_rms_error']:.3f}"
        sign = {None: "", True: "right", False: "WRONG"}[fit["sign_right"]]
        lines.append(
            f"| {r['case']} | {r['na']:g} | {r['photons']:g} | {r['aberrations']} | "
            f"{s['input']['psnr']:.2f} | "
            f"{gains} | {fit['mnc']:.2f} ({s['RL nominal']['mnc']:.2f}) | {err} | {sign} | "
            f"{fit['reliable']} | {fit['seconds']:.0f} |"
        )
    lines += [
        "",
        "| group | cases | "
        + " | ".join(f"{m} mean gain (worst)" for m in methods)
        + " | pupil-3d - RL nominal | mean MNC pupil-3d / nominal |",
        "|" + "---|" * (4 + len(methods)),
    ]
    for group in ("model", "measured", "all"):
        chosen = [r for r in rows if group == "all" or r["psf"] == group]
        if not chosen:
            continue
        cells = []
        for m in methods:
            gains = [r["scores"][m]["gain"] for r in chosen if m in r["scores"]]
            cells.append(f"{np.mean(gains):+.2f} ({min(gains):+.2f})" if gains else "")
        delta = _mean([r["scores"]["pupil-3d"]["gain"] - r["scores"]["RL nominal"]["gain"] for r in chosen])
        fit_mnc = _mean([r["scores"]["pupil-3d"]["mnc"] for r in chosen])
        mncs = f"{fit_mnc:.2f} / {_mean([r['scores']['RL nominal']['mnc'] for r in chosen]):.2f}"
        lines.append(f"| {group} | {len(chosen)} | " + " | ".join(cells) + f" | {delta:+.2f} | {mncs} |")
    model = [r for r in rows if r["psf"] == "model"]
    errors = [
        r["scores"]["pupil-3d"]["coefficient_rms_error"] for r in model if r["scores"]["pupil-3d"]["reliable"]
    ]
    signs = [r["scores"]["pupil-3d"]["sign_right"] for r in model if r["scores"]["pupil-3d"]["reliable"]]
    signs = [s for s in signs if s is not None]
    lines += [
        "",
        f"pupil-3d coefficients (simulated pupils, trusted fits: {len(errors)} of {len(model)}): "
        f"RMS error mean {_mean(errors):.3f}, max {max(errors, default=float('nan')):.3f} waves; "
        f"largest term's sign right in {sum(signs)} of {len(signs)}.",
    ]
    beads = [r for r in model if "GS reference" in r["scores"]]
    if beads:
        lines += [
            "",
            "| bead case | GS reference err | bead path err | bead path - reference | pupil-3d err |",
            "|---|---|---|---|---|",
        ]
        for r in beads:
            s = r["scores"]
            path = s.get("bead path", {})
            lines.append(
                f"| {r['case']} | {s['GS reference']['coefficient_rms_error']:.3f} | "
                f"{path.get('coefficient_rms_error', float('nan')):.3f} | "
                f"{path.get('rms_from_reference', float('nan')):.3f} | "
                f"{s['pupil-3d']['coefficient_rms_error']:.3f} |"
            )
    times = [r["scores"]["pupil-3d"]["seconds"] for r in rows]
    lines += [
        "",
        f"pupil-3d time per case: mean {np.mean(times):.0f} s, max {max(times):.0f} s (2-core CPU, shared).",
    ]
    return "\n".join(lines) + "\n"


def write(part: str, rows: list[dict], skipped: int) -> None:
    """The part's JSON rows and Markdown tables, in docs/benchmarks."""
    (OUT / f"zstacks_{part}.json").write_text(json.dumps(rows, indent=1, default=float))
    (OUT / f"zstacks_{part}.md").write_text(table(rows, part, skipped))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tuning", "check", "sealed"), required=True)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--measured-psf", type=Path)
    parser.add_argument("--no-per-plane", action="store_true")
    parser.add_argument(
        "--rescore", action="store_true",
        help="rewrite the part's tables from its JSON, the coefficient errors recomputed (no run)",
    )  # fmt: skip
    parser.add_argument(
        "--update-pupil", action="store_true",
        help="rerun only the default (pupil-3d) on the part's cases, the stored baselines kept",
    )  # fmt: skip
    args = parser.parse_args()
    stored = {}
    if args.rescore or args.update_pupil:
        stored = {row["case"]: row for row in json.loads((OUT / f"zstacks_{args.part}.json").read_text())}
    if args.rescore:
        rows = [rescore(row) for row in stored.values()]
        write(args.part, rows, args.cases - len(rows))
        return
    rows, skipped = [], 0
    for index in range(args.cases):
        case = make_case(args.part, index, SHAPE, KERNEL, args.measured_psf)
        if case is None:
            skipped += 1
            continue
        if args.update_pupil:  # the baselines do not change with the default: kept as stored
            row = stored[case.name]
            row["scores"]["pupil-3d"] = run_pupil(case, row["scores"]["input"]["psnr"])
        else:
            row = run_case(case, not args.no_per_plane)
        rows.append(row)
        fit = row["scores"]["pupil-3d"]
        print(
            f"{case.name}: input {row['scores']['input']['psnr']:.2f}, pupil-3d {fit['gain']:+.2f}, "
            f"RL nominal {row['scores']['RL nominal']['gain']:+.2f}, "
            f"RL true {row['scores']['RL true']['gain']:+.2f}, "
            f"{fit['seconds']:.0f} s",
            flush=True,
        )
    write(args.part, rows, skipped)


if __name__ == "__main__":
    main()
