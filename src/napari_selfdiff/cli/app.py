"""Command-line interface: ``napari-selfdiff deblur | deconvolve | batch | psf | blur | demo``.

Options are built from the config dataclasses (their defaults are the CLI's defaults).
``--help`` imports neither torch nor Qt; the engine is imported when a command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from napari_selfdiff import __version__
from napari_selfdiff.cli.commands import _cmd_batch, _cmd_deblur, _cmd_deconvolve
from napari_selfdiff.cli.large import add_large_options
from napari_selfdiff.cli.options import (
    _INPUT_HELP,
    _OUTPUT_HELP,
    _add_output_options,
    _add_restore_option,
    _add_solver_options,
    _scale,
    add_nan_option,
    kernel_size_arg,
)
from napari_selfdiff.cli.tools import _cmd_beads, _cmd_blur, _cmd_demo, _cmd_psf
from napari_selfdiff.config import DEFAULT_PSF_WINDOW, DeblurConfig, Method
from napari_selfdiff.errors import Cancelled

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="napari-selfdiff",
        description="Blind deconvolution by self-diffusion (DeblurSDI) and Zernike PSFs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the engine's decisions")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    deblur = commands.add_parser("deblur", help="blind deconvolution: sharp image and PSF from one image")
    deblur.add_argument("input", nargs="?", type=Path, help=f"blurred image: {_INPUT_HELP}")
    deblur.add_argument(
        "-k",
        "--kernel-size",
        type=kernel_size_arg,
        help="odd PSF size K in pixels, or KZ,K,K for a 3D PSF (required)",
    )
    deblur.add_argument("--psf-out", type=Path, help="PSF TIFF (default: <output>_psf.tif)")
    deblur.add_argument(
        "--print-config", action="store_true", help="print the resolved configuration as JSON and exit"
    )
    deblur.add_argument(
        "--tile-on-oom",
        action="store_true",
        help="if the image does not fit in device memory, retry in overlapping tiles sharing one PSF",
    )
    deblur.add_argument(
        "--scale",
        type=_scale,
        default="auto",
        help="estimate the PSF on the image averaged down by this factor, then restore the full image "
        "by Richardson-Lucy with the PSF scaled back; 1: blind at full resolution; auto: half scale "
        "for long blurs (shorter ones on the CPU) when one PSF is estimated and the image is large "
        "enough, else 1; the plan printed before the run says which (default: auto)",
    )
    deblur.add_argument(
        "--psf-window",
        type=int,
        default=DEFAULT_PSF_WINDOW,
        help="at scale > 1: side of the reduced image's most edge-rich window the PSF is estimated "
        f"on; 0 for the whole reduced image (default: {DEFAULT_PSF_WINDOW})",
    )
    deblur.add_argument(
        "--restore-iterations",
        dest="restore_iterations",
        type=int,
        help="Richardson-Lucy iterations of the restoration (at scale > 1, or at full scale when "
        "--restore is richardson_lucy or auto picks it; default: the preset's, "
        f"{DeblurConfig().restore_iterations})",
    )
    deblur.add_argument(
        "--restore-tv-weight",
        dest="restore_tv_weight",
        type=float,
        help="total-variation weight of that Richardson-Lucy restoration, 0 for plain Richardson-Lucy "
        f"(default: the preset's, {DeblurConfig().restore_tv_weight})",
    )
    _add_restore_option(deblur)
    _add_solver_options(deblur, None)
    _add_output_options(deblur)
    add_large_options(deblur)

    deconv = commands.add_parser("deconvolve", help="non-blind deconvolution with a known PSF")
    deconv.add_argument("input", type=Path, help=f"blurred image: {_INPUT_HELP}")
    deconv.add_argument("--psf", type=Path, required=True, help="PSF image (2D, odd sides; scaled to sum 1)")
    deconv.add_argument(
        "--method", choices=("richardson_lucy", "wiener", "selfdiff"), default="richardson_lucy"
    )
    deconv.add_argument("--iterations", type=int, default=30, help="Richardson-Lucy iterations (default: 30)")
    deconv.add_argument(
        "--tv-weight",
        type=float,
        default=0.0,
        help="Richardson-Lucy's total-variation weight (RL-TV; default: 0, plain Richardson-Lucy)",
    )
    deconv.add_argument("--balance", type=float, default=1e-2, help="Wiener regularisation (default: 0.01)")
    _add_solver_options(deconv, None)
    _add_output_options(deconv)

    psf = commands.add_parser("psf", help="Zernike PSF from physical parameters")
    psf.add_argument(
        "--zernike", default="", help="coefficients in waves RMS, e.g. defocus=0.3,coma_x=0.1,Z11=0.05"
    )
    psf.add_argument("--wavelength", type=float, help="wavelength in um")
    psf.add_argument("--na", type=float, help="numerical aperture")
    psf.add_argument("--pixel-size", type=float, help="object-space pixel size in um")
    psf.add_argument(
        "--immersion-index", type=float, default=1.0, help="immersion refractive index (default: 1.0)"
    )
    psf.add_argument("--pupil-pixels", type=float, help="dimensionless mode: pupil radius in FFT-grid pixels")
    psf.add_argument("--size", type=int, default=33, help="odd PSF side in pixels (default: 33)")
    psf.add_argument("--oversample", type=int, default=1, help="odd sub-pixels per pixel (default: 1)")
    psf.add_argument(
        "--z-range",
        type=float,
        nargs=3,
        metavar=("START", "STOP", "STEP"),
        help="through-focus stack from START to STOP (inclusive) by STEP, um",
    )
    psf.add_argument("-o", "--output", type=Path, required=True)
    psf.add_argument("--overwrite", action="store_true")

    beads = commands.add_parser(
        "beads",
        help="measure the PSF and the pupil from a z-stack of beads (phase retrieval): aberrations "
        "(Noll and ANSI), Strehl, FWHM against the nominal",
    )
    beads.add_argument("input", type=Path, help="(Z, Y, X) stack of isolated sub-resolution beads (TIFF)")
    beads.add_argument("--na", type=float, required=True, help="numerical aperture")
    beads.add_argument("--wavelength", type=float, required=True, help="emission wavelength, um")
    beads.add_argument(
        "--immersion-index", type=float, default=1.0, help="immersion refractive index (default: 1.0)"
    )
    beads.add_argument("--pixel-size", type=float, help="lateral pixel size, um (default: the file's)")
    beads.add_argument("--z-step", type=float, help="distance between planes, um (default: the file's)")
    beads.add_argument(
        "-k", "--kernel-size", type=kernel_size_arg, default=(15, 31, 31),
        help="KZ,K,K window around each bead (default: 15,31,31)",
    )  # fmt: skip
    beads.add_argument("-o", "--output", type=Path, required=True, help="the measured (averaged) PSF, TIFF")
    beads.add_argument("--overwrite", action="store_true")

    blur = commands.add_parser("blur", help="synthetic degradation: blur with a PSF plus noise")
    blur.add_argument("input", type=Path, help=f"sharp image: {_INPUT_HELP}")
    blur.add_argument("--psf", type=Path, required=True, help="PSF image (normalised to sum 1)")
    blur.add_argument(
        "--noise", type=float, default=0.0, help="Gaussian noise sigma (fraction of full scale for integers)"
    )
    blur.add_argument("--photons", type=float, help="Poisson noise: expected photons at the brightest pixel")
    blur.add_argument("--seed", type=int, default=0)
    blur.add_argument("-o", "--output", type=Path, required=True, help=_OUTPUT_HELP)
    blur.add_argument("--overwrite", action="store_true")

    batch = commands.add_parser(
        "batch", help="deblur many image files on Dask (embedded cluster or --scheduler)"
    )
    batch.add_argument("inputs", nargs="+", help=f'{_INPUT_HELP} files or glob patterns, e.g. "data/*.tif"')
    batch.add_argument("--out", type=Path, required=True, help="output folder")
    batch.add_argument(
        "-k",
        "--kernel-size",
        type=kernel_size_arg,
        required=True,
        help="odd PSF size K in pixels, or KZ,K,K (3D)",
    )
    batch.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    batch.add_argument(
        "--workers", type=int, help="workers of the embedded cluster (default: one per GPU, else cores/2)"
    )
    batch.add_argument("--force", action="store_true", help="redo files whose outputs are complete")
    batch.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files in --out that this batch did not write (never an input)",
    )
    add_nan_option(batch)
    batch.add_argument(
        "--scale",
        type=_scale,
        default="auto",
        help="as in deblur: estimate each PSF at 1/scale, restore by Richardson-Lucy; auto chooses per "
        "file (default: auto)",
    )
    _add_restore_option(batch)
    _add_solver_options(batch, None)

    demo = commands.add_parser(
        "demo", help="end-to-end run on a synthetic blurred image; writes TIFFs and a figure"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)"
    )
    demo.add_argument(
        "--method",
        dest="psf_method",
        choices=get_args(Method),
        help="PSF estimator: auto (the default pipeline), classic, or selfdiff (the paper's algorithm)",
    )
    _add_solver_options(demo, "fast")
    return parser


COMMANDS = {
    "deblur": _cmd_deblur,
    "batch": _cmd_batch,
    "deconvolve": _cmd_deconvolve,
    "psf": _cmd_psf,
    "beads": _cmd_beads,
    "blur": _cmd_blur,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-selfdiff`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command](args)
    except (KeyboardInterrupt, Cancelled) as error:
        # Outputs are committed at the end of a run; a batch lists those its finished files wrote.
        said = str(error) if isinstance(error, Cancelled) and args.command == "batch" else ""
        print(f"\ncancelled: {said or 'no output was written'}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError) as error:
        print(f"napari-selfdiff {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
