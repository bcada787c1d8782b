"""Command-line interface: ``napari-selfdiff deblur | deconvolve | batch | psf | blur | demo``.

Options are built from the config dataclasses (their defaults are the CLI's defaults).
``--help`` imports neither torch nor Qt; the engine is imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from . import __version__
from .config import (
    CPU_HALF_SCALE_FROM,
    DEFAULT_PSF_WINDOW,
    LONG_BLUR,
    PRESETS,
    RESTORE_BY_RL_FROM,
    ComputeConfig,
    ConfigError,
    DeblurConfig,
    Restore,
    Scale,
    StackMode,
)
from .errors import Cancelled

__all__ = ["main"]


class ProgressBar:
    """A one-line text progress bar on stderr, fed by the engine's Progress events."""

    def __init__(self, stream: Any = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_step = None

    def __call__(self, event: Any) -> None:
        fraction = event.fraction
        filled = int(self.width * fraction)
        remaining = event.remaining
        eta = f"{remaining:6.0f}s left" if remaining == remaining else "      ?s left"
        plane = f"plane {event.plane + 1}/{event.n_planes} " if event.n_planes > 1 else ""
        loss = f"loss {event.loss:.4g}" if event.loss == event.loss else ""
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}% {plane}"
            f"step {event.step}/{event.n_steps} iter {event.inner}/{event.n_inner} {loss} "
            f"{event.elapsed:6.0f}s {eta}"
        )
        if self.interactive:
            self.stream.write("\r" + line)
        elif event.psf is not None or (event.n_steps == 1 and event.inner == event.n_inner):
            self.stream.write(line + "\n")  # one line per outer step in logs
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------- configuration options
def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if "," in text:
            return [_parse_value(part) for part in text.split(",")]
        return text


def config_from_args(args: argparse.Namespace) -> DeblurConfig:
    """Preset, then the named flags, then ``--set section.field=value`` overrides."""
    config = DeblurConfig.preset(args.preset)
    changes: dict[str, Any] = {}
    if args.compute != "default":
        changes["compute"] = getattr(ComputeConfig, args.compute)()
    if args.steps is not None:
        changes["schedule.steps"] = args.steps
    if args.inner is not None:
        changes["schedule.inner_steps"] = args.inner
    if args.stack_mode is not None:
        changes["stack_mode"] = args.stack_mode
    for name in ("restore", "restore_iterations", "restore_tv_weight"):  # deblur and batch only
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    if getattr(args, "psf_refit", None) is not None:
        changes["psf_refit.enabled"] = args.psf_refit
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects FIELD=VALUE (e.g. schedule.steps=10), got {item!r}")
        value = _parse_value(value)
        changes[key.strip()] = tuple(value) if isinstance(value, list) else value
    return config.replace(**changes) if changes else config


def _add_solver_options(parser: argparse.ArgumentParser, default_preset: str | None) -> None:
    paper = DeblurConfig()
    group = parser.add_argument_group("solver (defaults from the preset)")
    group.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=default_preset,
        help="parameter preset: paper (Yang & Luo), fast (CPU), tiny (smoke tests); "
        "default: paper on a CUDA GPU, fast otherwise",
    )
    group.add_argument("--steps", type=int, help=f"outer diffusion steps T (paper: {paper.schedule.steps})")
    group.add_argument(
        "--inner", type=int, help=f"Adam iterations S per step (paper: {paper.schedule.inner_steps})"
    )
    group.add_argument(
        "--stack-mode",
        choices=get_args(StackMode),
        help="stacks: a PSF per plane, one shared PSF (planes batched), or one shared PSF with "
        f"the planes as channels of one image network (default: {paper.stack_mode})",
    )
    group.add_argument(
        "--compute",
        choices=("default", "throughput", "reference"),
        default="default",
        help="execution options (speed, not the algorithm): default; throughput (bfloat16, "
        "channels-last, torch.compile: faster per iteration, about a minute of compilation per "
        "image shape, for many same-shape images); reference (eager float32, paper-faithful)",
    )
    group.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="any DeblurConfig field, e.g. --set lr=0.005 --set image_net.widths=16,32,64",
    )
    group.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    group.add_argument("--seed", type=int, default=0, help="seed of initialisation and noise (default: 0)")


def _add_restore_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--restore",
        choices=get_args(Restore),
        help="at full scale, the returned image: the network's (the paper), Richardson-Lucy's with "
        "the estimated PSF, or auto: Richardson-Lucy's from "
        f"{RESTORE_BY_RL_FROM} pixels per iteration of the schedule (the fast preset's 1000 "
        "iterations underfit larger images) (default: the preset's; paper: network, fast: auto)",
    )
    parser.add_argument(
        "--no-psf-refit",
        dest="psf_refit",
        action="store_false",
        default=None,
        help="at scale > 1, restore with the upscaled PSF as it is instead of refitting it at full "
        "resolution on the edges of a first restoration (default: refit)",
    )


_INPUT_HELP = "TIFF (2D, RGB or Z stack with metadata), PNG, JPEG or BMP"
_OUTPUT_HELP = (
    "output .tif (float32 or --keep-dtype; axes, pixel size and provenance kept) "
    "or .png (the input's 8/16-bit values, provenance in a text chunk)"
)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, help=_OUTPUT_HELP)
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--keep-dtype", action="store_true", help="write the input's dtype instead of float32 (TIFF)"
    )


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
    deblur.add_argument("-k", "--kernel-size", type=int, help="odd PSF size K in pixels (required)")
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
        "by Richardson-Lucy with the PSF scaled back; 1: blind at full resolution; auto: 2 for PSFs of "
        f"{LONG_BLUR} px and more, and on the CPU from {CPU_HALF_SCALE_FROM} px, when one PSF is "
        "estimated and the image is large enough, else 1 (default: auto)",
    )
    deblur.add_argument(
        "--psf-window",
        type=int,
        default=DEFAULT_PSF_WINDOW,
        help="at scale > 1: side of the reduced image's most edge-rich window the PSF is estimated "
        f"on; 0 for the whole reduced image (default: {DEFAULT_PSF_WINDOW})",
    )
    deblur.add_argument(
        "--iterations",
        dest="restore_iterations",
        type=int,
        help="Richardson-Lucy iterations of the restoration (at scale > 1, or at full scale when "
        "--restore is richardson_lucy or auto picks it; default: the preset's, "
        f"{DeblurConfig().restore_iterations})",
    )
    deblur.add_argument(
        "--tv-weight",
        dest="restore_tv_weight",
        type=float,
        help="total-variation weight of that Richardson-Lucy restoration, 0 for plain Richardson-Lucy "
        f"(default: the preset's, {DeblurConfig().restore_tv_weight})",
    )
    _add_restore_option(deblur)
    _add_solver_options(deblur, None)
    _add_output_options(deblur)

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
    batch.add_argument("-k", "--kernel-size", type=int, required=True, help="odd PSF size K in pixels")
    batch.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    batch.add_argument(
        "--workers", type=int, help="workers of the embedded cluster (default: one per GPU, else cores/2)"
    )
    batch.add_argument("--force", action="store_true", help="redo files whose outputs are complete")
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
    _add_solver_options(demo, "fast")
    return parser


# ---------------------------------------------------------------------- commands
def _check_paths(inputs: Sequence[Path], outputs: Sequence[Path], overwrite: bool) -> None:
    resolved = {p.resolve() for p in inputs}
    for out in outputs:
        if out.resolve() in resolved:
            raise ValueError(f"output {str(out)!r} is also an input: refusing to overwrite the input")
        if out.exists() and not overwrite:
            raise FileExistsError(f"{str(out)!r} exists; pass --overwrite to replace it")
        if not out.parent.resolve().is_dir():
            raise FileNotFoundError(f"output folder {str(out.parent)!r} does not exist")


def _run(run: Any) -> Any:
    from .engine.solver import drive

    bar = ProgressBar()
    try:
        return drive(run, bar)
    finally:
        bar.close()


def _cmd_deblur(args: argparse.Namespace) -> int:
    if args.print_config:
        config = _resolved_config(args)
        derived = {"kernel_lr": config.kernel_lr}
        print(json.dumps({"preset": args.preset, **config.to_dict(), "derived": derived}, indent=2))
        return 0
    from ._device import resolve_device

    if args.input is None or args.kernel_size is None or args.output is None:
        raise ValueError("deblur needs INPUT, --kernel-size K and -o OUTPUT")
    from .engine.blind import iter_deblur, resolve_scale
    from .io.formats import check_output, needs_input_dtype, read_image, write_image
    from .io.tiff import write_tiff

    psf_out = args.psf_out or args.output.with_name(args.output.stem + "_psf.tif")
    _check_paths([args.input], [args.output, psf_out], args.overwrite)
    image = read_image(args.input)
    check_output(args.output, image)
    check_output(psf_out, None)
    device = resolve_device(args.device)
    config = _resolved_config(args, device)
    # Resolved here to be printed before the run; the run is then given the factor itself.
    factor = resolve_scale(
        args.scale, image.data, args.kernel_size, config, device=device, axes=image.axes,
        full_scale_for="--tile-on-oom" if args.tile_on_oom else None,
    )  # fmt: skip
    print(
        f"{args.input}: {image.data.shape} {image.data.dtype} axes {image.axes}, device {device}, "
        f"T={config.schedule.steps} S={config.schedule.inner_steps}, PSF scale 1/{factor}"
        + (" (auto)" if args.scale == "auto" else ""),
        file=sys.stderr,
    )
    if factor == 1 and args.scale != "auto" and args.kernel_size >= LONG_BLUR:
        print(
            f"hint: for blurs of {LONG_BLUR} px and more, --scale 2 estimates the PSF at half scale, "
            "which identified kernels full-scale runs missed on real photos (docs/benchmarks/README.md)",
            file=sys.stderr,
        )
    run = iter_deblur(
        image.data, args.kernel_size, config, scale=factor, psf_window=args.psf_window or None,
        device=device, seed=args.seed, axes=image.axes,
        keep_dtype=args.keep_dtype or needs_input_dtype(args.output),
        on_out_of_memory="tile" if args.tile_on_oom else "raise",
    )  # fmt: skip
    result = _run(run)
    provenance = {**result.metadata(), "input": str(args.input)}
    write_image(args.output, result.image, image, provenance=provenance, overwrite=args.overwrite)
    psf_axes = "ZYX" if result.psf.ndim == 3 else "YX"
    write_tiff(
        psf_out,
        result.psf,
        axes=psf_axes,
        pixel_size=image.pixel_size,
        provenance=provenance,
        overwrite=args.overwrite,
    )
    print(f"wrote {args.output} and {psf_out} in {result.seconds:.1f} s (image: {result.extra['restore']})")
    return 0


def _scale(text: str) -> Scale:
    """``--scale``: "auto" or an integer >= 1 (the rule of ``_checks.check_scale``)."""
    from ._checks import check_scale

    try:
        return check_scale(text if text == "auto" else int(text))
    except ValueError:  # not an integer, or InputError (a ValueError): below 1
        raise argparse.ArgumentTypeError(f"must be 'auto' or an integer >= 1, got {text!r}") from None


def _resolved_config(args: argparse.Namespace, device: Any = None) -> DeblurConfig:
    if args.preset is None:
        if device is None:
            from ._device import resolve_device

            device = resolve_device(args.device)
        args.preset = "paper" if device.type == "cuda" else "fast"
    return config_from_args(args)


def _cmd_deconvolve(args: argparse.Namespace) -> int:
    from .engine.nonblind import iter_deconvolve
    from .io.formats import check_output, needs_input_dtype, read_image, write_image

    _check_paths([args.input, args.psf], [args.output], args.overwrite)
    image = read_image(args.input)
    psf = read_image(args.psf)
    check_output(args.output, image)
    config = _resolved_config(args) if args.method == "selfdiff" else None
    result = _run(
        iter_deconvolve(
            image.data,
            psf.data,
            args.method,
            iterations=args.iterations,
            tv_weight=args.tv_weight,
            balance=args.balance,
            config=config,
            device=args.device,
            seed=args.seed,
            axes=image.axes,
            keep_dtype=args.keep_dtype or needs_input_dtype(args.output),
        )
    )
    provenance = {**result.metadata(), "input": str(args.input), "psf": str(args.psf)}
    write_image(args.output, result.image, image, provenance=provenance, overwrite=args.overwrite)
    print(f"wrote {args.output} in {result.seconds:.1f} s")
    return 0


def _cmd_psf(args: argparse.Namespace) -> int:
    import numpy as np

    from .io.tiff import write_tiff
    from .optics import coefficients_from_names, rms_wavefront_error, strehl_ratio, zernike_psf

    coefficients = coefficients_from_names(args.zernike)
    z = None
    if args.z_range is not None:
        start, stop, step = args.z_range
        if step <= 0 or stop < start:
            raise ValueError(f"--z-range needs START <= STOP and STEP > 0, got {args.z_range}")
        z = np.arange(start, stop + step / 2, step)
    _check_paths([], [args.output], args.overwrite)
    psf = zernike_psf(
        coefficients,
        args.size,
        wavelength=args.wavelength,
        na=args.na,
        pixel_size=args.pixel_size,
        immersion_index=args.immersion_index,
        pupil_pixels=args.pupil_pixels,
        z=z,
        oversample=args.oversample,
    )
    provenance = {
        "method": "zernike_psf",
        "coefficients_waves_rms": coefficients,
        "wavelength_um": args.wavelength,
        "na": args.na,
        "pixel_size_um": args.pixel_size,
        "immersion_index": args.immersion_index,
        "pupil_pixels": args.pupil_pixels,
        "oversample": args.oversample,
        "z_um": None if z is None else z.tolist(),
        "strehl_ratio": strehl_ratio(coefficients),
        "rms_wavefront_waves": rms_wavefront_error(coefficients),
    }
    write_tiff(
        args.output,
        psf.astype(np.float32),
        axes="ZYX" if psf.ndim == 3 else "YX",
        pixel_size=args.pixel_size,
        z_spacing=None if z is None else float(args.z_range[2]),
        provenance=provenance,
        overwrite=args.overwrite,
    )
    print(
        f"wrote {args.output}: shape {psf.shape}, Strehl {provenance['strehl_ratio']:.3f}, "
        f"RMS wavefront {provenance['rms_wavefront_waves']:.3f} waves"
    )
    return 0


def _cmd_blur(args: argparse.Namespace) -> int:
    from .io.formats import check_output, read_image, write_image
    from .optics import blur

    _check_paths([args.input, args.psf], [args.output], args.overwrite)
    image = read_image(args.input)
    psf = read_image(args.psf)
    check_output(args.output, image)
    out = blur(
        image.data,
        psf.data,
        noise_sigma=args.noise,
        poisson_photons=args.photons,
        seed=args.seed,
        axes=image.axes,
    )
    write_image(
        args.output,
        out,
        image,
        provenance={
            "method": "blur",
            "psf": str(args.psf),
            "noise_sigma": args.noise,
            "poisson_photons": args.photons,
            "seed": args.seed,
        },
        overwrite=args.overwrite,
    )
    print(f"wrote {args.output}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from .demo import make_demo_case, save_figure
    from .engine.blind import iter_deblur
    from .io.tiff import write_tiff
    from .metrics import aligned_scores, mnc

    args.out.mkdir(parents=True, exist_ok=True)
    case = make_demo_case()
    config = config_from_args(args)
    kernel_size = case.psf.shape[0]
    print(
        f"demo: {case.blurred.shape} camera crop, {kernel_size}x{kernel_size} camera-shake PSF, "
        f"noise sigma {case.noise_sigma}; preset {args.preset}, device {args.device}",
        file=sys.stderr,
    )
    start = time.perf_counter()
    result = _run(
        iter_deblur(
            case.blurred,
            kernel_size,
            config,
            device=args.device,
            seed=args.seed,
            ground_truth=case.sharp,
            true_psf=case.psf,
        )
    )
    before = aligned_scores(case.blurred, case.sharp, max_shift=kernel_size // 2)
    after = aligned_scores(result.image, case.sharp, max_shift=kernel_size // 2)
    scores = {
        "psnr_blurred": before.psnr,
        "ssim_blurred": before.ssim,
        "psnr": after.psnr,
        "ssim": after.ssim,
        "mnc": mnc(result.psf, case.psf),
        "seconds": time.perf_counter() - start,
    }
    provenance = {**result.metadata(), "scores": scores}
    paths = {
        "blurred": write_tiff(args.out / "blurred.tif", case.blurred, overwrite=True),
        "sharp": write_tiff(args.out / "ground_truth.tif", case.sharp, overwrite=True),
        "true_psf": write_tiff(args.out / "true_psf.tif", case.psf, overwrite=True),
        "deblurred": write_tiff(
            args.out / "deblurred.tif", result.image, provenance=provenance, overwrite=True
        ),
        "psf": write_tiff(
            args.out / "psf.tif", np.asarray(result.psf), provenance=provenance, overwrite=True
        ),
        "figure": save_figure(args.out / "demo.png", case, result.image, result.psf, scores),
    }
    print(
        f"PSNR {scores['psnr_blurred']:.2f} -> {scores['psnr']:.2f} dB, SSIM {scores['ssim_blurred']:.3f} -> "
        f"{scores['ssim']:.3f}, PSF MNC {scores['mnc']:.3f}, {scores['seconds']:.0f} s on {result.device}"
    )
    for name, path in paths.items():
        print(f"  {name:10s} {path}")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import gpu_count, run

    if args.preset is None:
        args.preset = "paper" if gpu_count() else "fast"
    config = config_from_args(args)
    start = time.perf_counter()

    def report(done: int, total: int, record: dict) -> None:
        width = 28
        filled = int(width * done / max(total, 1))
        name = Path(record["input"]).name
        print(
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {record['status']:7s} {name}",
            file=sys.stderr,
            flush=True,
        )

    def announce(client: Any) -> None:
        print(
            f"dask dashboard: {client.dashboard_link} (scheduler {client.scheduler.address})", file=sys.stderr
        )

    records = run(
        args.inputs,
        args.out,
        args.kernel_size,
        config,
        seed=args.seed,
        device=args.device,
        scale=args.scale,
        scheduler=args.scheduler,
        n_workers=args.workers,
        force=args.force,
        progress=report,
        on_client=announce,
    )
    failed = [r for r in records if r["status"] == "failed"]
    minutes = (time.perf_counter() - start) / 60
    processed = sum(r["status"] == "done" for r in records)
    skipped = len(records) - processed - len(failed)
    print(
        f"{len(records)} files: {processed} done, {skipped} skipped, {len(failed)} failed "
        f"in {minutes:.2f} min ({processed / max(minutes, 1e-9):.1f} files/min); "
        f"summary in {args.out / 'summary.md'}"
    )
    for record in failed:
        print(f"  FAILED {record['input']}: {record['error']}")
    return 1 if failed else 0


COMMANDS = {
    "deblur": _cmd_deblur,
    "batch": _cmd_batch,
    "deconvolve": _cmd_deconvolve,
    "psf": _cmd_psf,
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
    except (KeyboardInterrupt, Cancelled):
        print("\ncancelled: no output was written", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as error:
        print(f"napari-selfdiff {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
