"""Command-line options built from the config dataclasses, and the config they describe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, get_args

from napari_selfdiff.config import (
    PRESETS,
    ComputeConfig,
    DeblurConfig,
    Method,
    Restore,
    Scale,
    StackMode,
    default_preset_name,
)
from napari_selfdiff.errors import ConfigError
from napari_selfdiff.inputs import NanPolicy


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if "," in text:
            return [_parse_value(part) for part in text.split(",")]
        return text


def settings_from_file(
    args: argparse.Namespace, axes: str, depth: int, pixel_size: Any, z_spacing: float | None
) -> None:
    """What the file says and the flags leave open, for the whole-array and the tiled run alike.

    ``--na`` without ``--pixel-size``: the file's lateral (x) pixel size samples the pupil.
    A stack asked with a lateral kernel size alone, its z step and the microscope known:
    ``--stack-mode 3d`` and the (Kz, K, K) box of :func:`~napari_selfdiff.plan.stack3d.auto_3d`
    (the physical pupil fit is the default there). ``axes``: the axes of one volume (no T, C);
    ``depth``: its planes.
    """
    from napari_selfdiff.config import OpticsConfig
    from napari_selfdiff.plan.stack3d import auto_3d

    if args.pixel_size is None and args.na is not None and pixel_size is not None:
        args.pixel_size = float(pixel_size[-1])  # um
    if args.stack_mode is not None or None in (args.na, args.wavelength, args.pixel_size):
        return
    optics = OpticsConfig(args.na, args.wavelength, args.pixel_size, args.immersion_index or 1.0)
    box = auto_3d(axes, args.kernel_size, args.z_step or z_spacing, optics, depth)
    if box is not None:
        args.stack_mode, args.kernel_size = "3d", box


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
    for name, key in (("z_step", "stack3d.z_step_um"), ("pixel_size", "stack3d.pixel_size_um")):
        if getattr(args, name, None) is not None:
            changes[key] = getattr(args, name)
    for name in ("restore", "restore_iterations", "restore_tv_weight", "guard"):  # deblur and batch only
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    if getattr(args, "psf_method", None) is not None:
        changes["method"] = args.psf_method
    if getattr(args, "psf_refit", None) is not None:
        changes["psf_refit.enabled"] = args.psf_refit
    if getattr(args, "psf_model", None) is not None:
        changes["kernel_net.model"] = args.psf_model
    for name in ("na", "wavelength", "immersion_index"):
        if getattr(args, name, None) is not None:
            changes[f"optics.{name}"] = getattr(args, name)
    if getattr(args, "na", None) is not None and getattr(args, "pixel_size", None) is not None:
        changes["optics.pixel_size"] = args.pixel_size  # the pupil's sampling (--na)
    if getattr(args, "zernike_modes", None) is not None:
        changes["kernel_net.zernike_modes"] = args.zernike_modes
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
        help="stacks: a PSF per plane, one shared PSF (planes batched), one shared PSF with "
        "the planes as channels of one image network, or 3d: one 3D PSF (-k KZ,K,K) with "
        f"out-of-focus light (default: {paper.stack_mode})",
    )
    group.add_argument(
        "--z-step",
        type=float,
        metavar="UM",
        help="stacks: distance between planes in um, for --stack-mode 3d (default: the file's z spacing)",
    )
    group.add_argument(
        "--pixel-size",
        type=float,
        metavar="UM",
        help="lateral pixel size in um, for --stack-mode 3d and --psf-model zernike with --na "
        "(default: the file's)",
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
        "--method",
        dest="psf_method",
        choices=get_args(Method),
        help="how the PSF is estimated: classic (L0 alternating minimisation, seconds), selfdiff "
        "(the paper's networks), or auto: classic, and self-diffusion where the classic PSF is "
        "not reliable (default: auto)",
    )
    parser.add_argument(
        "--restore",
        choices=get_args(Restore),
        help="the returned image: the network's (the paper), Richardson-Lucy's (RL-TV) or the "
        "noise-aware TV deconvolution's with the estimated PSF, or auto (noise-aware TV) "
        "(default: the preset's; paper: network, fast: auto)",
    )
    parser.add_argument(
        "--no-guard",
        dest="guard",
        action="store_false",
        default=None,
        help="deconvolve even when the PSF does not agree with an independent estimate "
        "(default: such an image is only denoised, and the run says so)",
    )
    pupil = parser.add_argument_group("PSF model (--psf-model zernike: an optical PSF and its aberrations)")
    pupil.add_argument(
        "--psf-model",
        choices=("free", "zernike"),
        help="free: any non-negative kernel (default); zernike: |FT(pupil)|^2 with Zernike "
        "aberrations, reported in waves RMS (self-diffusion, full scale)",
    )
    pupil.add_argument(
        "--na", type=float, help="numerical aperture (with --wavelength: the pupil's sampling)"
    )
    pupil.add_argument("--wavelength", type=float, help="emission wavelength, um")
    pupil.add_argument(
        "--immersion-index", type=float, help="refractive index of the immersion medium (default 1)"
    )
    pupil.add_argument("--zernike-modes", type=int, help="highest Noll index estimated, 4..36 (default 15)")
    noise = parser.add_argument_group("noise (default: estimated from the image)")
    noise.add_argument("--noise-sigma", type=float, help="Gaussian noise level, in the image's units")
    noise.add_argument(
        "--camera-gain", type=float, help="camera gain in electrons per ADU (photon-limited images)"
    )
    noise.add_argument("--camera-offset", type=float, default=0.0, help="camera offset in ADU (default 0)")
    noise.add_argument("--read-noise", type=float, default=0.0, help="read noise in electrons (default 0)")
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
    add_nan_option(parser)


def add_nan_option(parser: argparse.ArgumentParser) -> None:
    """``--nan-policy``: what NaN or infinite pixels of an input do (the API's ``nan_policy``)."""
    parser.add_argument(
        "--nan-policy",
        choices=get_args(NanPolicy),
        default="raise",
        help="NaN or infinite pixels (and a masked array's masked ones): raise an error, or replace "
        "them by the median of the other pixels (default: raise)",
    )


def _scale(text: str) -> Scale:
    """``--scale``: "auto" or an integer >= 1 (the rule of ``_checks.check_scale``)."""
    from napari_selfdiff.inputs import check_scale

    try:
        return check_scale(text if text == "auto" else int(text))
    except ValueError:  # not an integer, or InputError (a ValueError): below 1
        raise argparse.ArgumentTypeError(f"must be 'auto' or an integer >= 1, got {text!r}") from None


def kernel_size_arg(text: str) -> int | tuple[int, int, int]:
    """``-k``: an odd PSF side ``K``, or ``KZ,K,K`` for a 3D PSF (checked against the image later)."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer K or KZ,K,K, got {text!r}") from None
    if len(sizes) not in (1, 3):
        raise argparse.ArgumentTypeError(f"must be an integer K or KZ,K,K, got {text!r}")
    return sizes[0] if len(sizes) == 1 else sizes


def _resolved_config(args: argparse.Namespace, device: Any = None) -> DeblurConfig:
    if args.preset is None:
        if device is None:
            from napari_selfdiff.resources import resolve_device

            device = resolve_device(args.device)
        args.preset = default_preset_name(device)
    return config_from_args(args)


def noise_from_args(args: argparse.Namespace) -> Any:
    """The ``NoiseModel`` the noise flags describe, or None (estimated from the image)."""
    from napari_selfdiff.noise import NoiseModel

    sigma, gain = getattr(args, "noise_sigma", None), getattr(args, "camera_gain", None)
    if sigma is not None and gain is not None:
        raise ConfigError("give either --noise-sigma or --camera-gain, not both")
    if sigma is not None:
        return NoiseModel.gaussian(sigma)
    if gain is not None:
        return NoiseModel.from_camera(gain, args.camera_offset, args.read_noise)
    return None
