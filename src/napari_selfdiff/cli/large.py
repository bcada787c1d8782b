"""``deblur`` on large data: the file opened lazily, the PSF from regions, tiles written as produced."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_large_options", "run_large", "wants_large"]


def add_large_options(parser: argparse.ArgumentParser) -> None:
    """The large-data options of ``deblur``."""
    group = parser.add_argument_group("large data (tiles; TIFF or OME-Zarr in and out)")
    group.add_argument(
        "--tiles",
        choices=("auto", "on", "off"),
        default="auto",
        help="restore in overlapping tiles with the PSF estimated on regions, the output written as "
        "it is produced: on, off, or auto: when the whole image does not fit in memory, for an "
        "OME-Zarr input or output, or for data with time points (default: auto)",
    )
    group.add_argument(
        "--memory-limit",
        type=float,
        help="peak memory the tiled run is planned for, in GiB (default: half the free memory, at most 6)",
    )
    group.add_argument(
        "--tile", type=int, help="lateral tile side in pixels (default: planned from the memory)"
    )
    group.add_argument(
        "--region",
        type=_region,
        help="TOP,LEFT,HEIGHT,WIDTH: estimate the PSF on this rectangle instead of automatic regions",
    )
    group.add_argument(
        "--regions", type=int, default=4, help="automatic regions across the field for the PSF (default: 4)"
    )
    group.add_argument(
        "--region-size", type=int, default=256, help="side of each region in px (default: 256)"
    )
    group.add_argument(
        "--psf",
        type=Path,
        help="a known PSF TIFF (2D, or 3D for the 3D mode; sum scaled to 1): no estimate, every channel "
        "restored with it (tiled runs only)",
    )
    group.add_argument(
        "--scheduler",
        help="restore the planes / volumes on Dask: 'local' (an embedded cluster) or a scheduler address",
    )
    group.add_argument("--workers", type=int, help="workers of the embedded cluster (default: cores/2)")


def _region(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 0:
        raise argparse.ArgumentTypeError(f"must be TOP,LEFT,HEIGHT,WIDTH (4 integers >= 0), got {text!r}")
    return values  # type: ignore[return-value]


def wants_large(args: argparse.Namespace) -> bool:
    """Whether ``deblur`` runs the tiled large-data path for these arguments (``--tiles``)."""
    if args.tiles != "auto":
        return args.tiles == "on"
    from napari_selfdiff.io.lazy import is_ome_zarr, open_lazy
    from napari_selfdiff.plan.large import needs_tiles

    if is_ome_zarr(args.input) or (args.output is not None and is_ome_zarr(args.output)):
        return True
    if args.input.suffix.lower() not in (".tif", ".tiff"):
        return False
    try:
        image = open_lazy(args.input)
    except (ValueError, OSError):
        return False  # the whole-array reader says what is wrong
    return "T" in image.axes or needs_tiles(image.shape)


def run_large(args: argparse.Namespace) -> int:
    """``deblur`` on large data (:func:`napari_selfdiff.large.deblur_large`): the plan printed first."""
    from napari_selfdiff.cli.options import config_from_args, noise_from_args, settings_from_file
    from napari_selfdiff.cli.progress_bar import ProgressBar
    from napari_selfdiff.config import default_preset_name
    from napari_selfdiff.io.formats import write_tiff
    from napari_selfdiff.io.lazy import open_lazy
    from napari_selfdiff.io.outputs import plan_outputs
    from napari_selfdiff.large import deblur_large, expected_time
    from napari_selfdiff.progress_text import ProgressClock

    with open_lazy(args.input) as image:  # the metadata only: the pixels stay on disk
        axes = "".join(a for a in image.axes if a not in "TC")  # one (t, c) volume's
        settings_from_file(args, axes, image.shape[2], image.pixel_size, image.z_spacing)
        voxel = {"z_spacing": image.z_spacing, "pixel_size": image.pixel_size}
    psfs = None
    if args.psf is not None:
        from napari_selfdiff.inputs import check_psf
        from napari_selfdiff.io.formats import read_image

        known = np.asarray(read_image(args.psf).data, np.float64)
        if known.ndim == 3:
            known = known / known.sum()
            args.kernel_size = tuple(int(s) for s in known.shape)
        else:
            known = check_psf(known)
            args.kernel_size = int(known.shape[0])
        with open_lazy(args.input) as image:
            psfs = [known.astype(np.float32)] * image.shape[1]
    three_d = isinstance(args.kernel_size, tuple)
    if args.preset is None:
        args.preset = default_preset_name(args.device if three_d else "cpu")
    config = config_from_args(args)
    noise = noise_from_args(args)
    psf_out = args.psf_out or args.output.with_name(_stem(args.output) + "_psf.tif")
    outputs = plan_outputs([psf_out], [args.input, args.output], overwrite=args.overwrite)
    executor = None
    if args.scheduler:
        from napari_selfdiff.batch.large import dask_units

        executor = dask_units(
            str(args.input), config, noise=noise, keep_dtype=args.keep_dtype,
            scheduler=None if args.scheduler == "local" else args.scheduler, n_workers=args.workers,
        )  # fmt: skip

    def announce(plan: Any) -> None:
        t, c, z, y, x = plan.shape
        print(f"{args.input}: {t} x {c} x {z} x {y} x {x} (T, C, Z, Y, X), opened lazily", file=sys.stderr)
        print(f"plan: {plan.describe()}", file=sys.stderr)
        workers = 1 if executor is None else executor.workers
        expected = expected_time(plan, config, workers=workers, device=args.device, **voxel)
        print(expected.describe(), file=sys.stderr)
        bar.clock = ProgressClock.for_estimate(expected)  # the bar weighs the two stages by their cost

    bar, result = ProgressBar(), None
    try:
        result = deblur_large(
            args.input, args.kernel_size, args.output, config,
            memory_limit=None if args.memory_limit is None else int(args.memory_limit * 1024**3),
            tile=args.tile, regions=args.regions, region_size=args.region_size, region=args.region,
            noise=noise, psfs=psfs, keep_dtype=args.keep_dtype, seed=args.seed, device=args.device,
            overwrite=args.overwrite, progress=bar, on_plan=announce, restore_units=executor,
        )  # fmt: skip
    finally:
        bar.close(getattr(result, "seconds", None))
        if executor is not None:
            executor.close()
    with outputs.writing() as temporary:
        write_tiff(temporary[psf_out], result.psf, provenance=result.metadata(), overwrite=True)
    print(
        f"wrote {args.output} and {psf_out} in {result.seconds:.1f} s (image: tiled, {result.plan.mode} mode)"
    )
    for index, channel in enumerate(result.channels):
        if not channel.regions:
            print(f"channel {index}: restored with the given PSF {args.psf}")
            continue
        if channel.verdict is not None:  # 3D: one region's column, the guard's own words
            region = list(channel.regions[0])
            print(f"channel {index}: 3D PSF ({channel.method}) from region {region}: {channel.verdict}")
            if channel.aberrations is not None:
                print(f"channel {index}: {channel.aberrations.describe()}")
            continue
        agreement = ", ".join(f"{a:.2f}" for a in channel.agreement)
        state = "deconvolved" if channel.deconvolved else "NOT deconvolved (PSF not reliable): only denoised"
        print(
            f"channel {index}: PSF from {len(channel.regions)} region(s), agreement with the one kept "
            f"[{agreement}], reliability {channel.reliability:.2f}: {state}"
        )
    return 0


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name
