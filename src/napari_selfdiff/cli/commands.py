"""The blind and non-blind deconvolution commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from napari_selfdiff.cli.options import (
    _resolved_config,
    config_from_args,
    noise_from_args,
    settings_from_file,
)
from napari_selfdiff.cli.progress_bar import run_with_bar
from napari_selfdiff.config import default_preset_name


def _cmd_deblur(args: argparse.Namespace) -> int:
    if args.print_config:
        config = _resolved_config(args)
        derived = {"kernel_lr": config.kernel_lr}
        print(json.dumps({"preset": args.preset, **config.to_dict(), "derived": derived}, indent=2))
        return 0
    from napari_selfdiff.resources import resolve_device

    if args.input is None or args.kernel_size is None or args.output is None:
        raise ValueError("deblur needs INPUT, --kernel-size K and -o OUTPUT")
    from napari_selfdiff.cli.large import run_large, wants_large

    if wants_large(args):
        return run_large(args)
    from napari_selfdiff.api import iter_deblur
    from napari_selfdiff.inputs import make_problem
    from napari_selfdiff.io.formats import check_output, needs_input_dtype, read_image, write_image_and_psf
    from napari_selfdiff.io.outputs import output_bytes, plan_outputs
    from napari_selfdiff.plan.estimate import estimate_run
    from napari_selfdiff.plan.policy import plan_run, voxel_size

    psf_out = args.psf_out or args.output.with_name(args.output.stem + "_psf.tif")
    outputs = plan_outputs([args.output, psf_out], [args.input], overwrite=args.overwrite)
    image = read_image(args.input)
    check_output(args.output, image)
    check_output(psf_out, None)
    keep_dtype = args.keep_dtype or needs_input_dtype(args.output)
    outputs.check_space(output_bytes(image.data, keep_dtype))  # the PSF fits the margin
    device = resolve_device(args.device)
    settings_from_file(args, image.axes, image.data.shape[0], image.pixel_size, image.z_spacing)
    config = _resolved_config(args, device)
    problem = make_problem(image.data, args.kernel_size, image.axes, nan_policy=args.nan_policy)
    plan = plan_run(
        problem, config, scale=args.scale, psf_window=args.psf_window or None, device=device,
        on_out_of_memory="tile" if args.tile_on_oom else "raise", **voxel_size(config, image),
    )  # fmt: skip
    print(f"{args.input}: {image.data.shape} {image.data.dtype} axes {image.axes}", file=sys.stderr)
    print(f"plan: {plan.describe()}", file=sys.stderr)
    estimate = estimate_run(plan, *problem.planes.shape[:2])
    print(estimate.describe(), file=sys.stderr)
    run = iter_deblur(
        image.data, args.kernel_size, plan=plan, seed=args.seed, axes=image.axes,
        keep_dtype=keep_dtype, noise=noise_from_args(args), nan_policy=args.nan_policy,
    )  # fmt: skip
    result = run_with_bar(run, estimate)
    provenance = {**result.metadata(), "input": str(args.input)}
    with outputs.writing() as temporary:
        write_image_and_psf(
            temporary[args.output], temporary[psf_out], result.image, result.psf, image, provenance
        )
    print(f"wrote {args.output} and {psf_out} in {result.seconds:.1f} s (image: {result.restore})")
    from napari_selfdiff.blind.guarded import verdict

    found = verdict(result)
    if found is not None:
        print(f"do no harm: {found}")
    for index, aberrations in enumerate(result.aberrations or []):
        where = f"plane group {index + 1}: " if len(result.aberrations) > 1 else ""
        print(f"{where}{aberrations.describe()}")
    return 0


def read_with_psf(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """``args.input`` and ``args.psf`` read, and the output planned, before any work.

    Returns the image, the PSF and the :class:`~.io.outputs.OutputPlan` of ``args.output``.
    """
    from napari_selfdiff.io.formats import check_output, needs_input_dtype, read_image
    from napari_selfdiff.io.outputs import output_bytes, plan_outputs

    outputs = plan_outputs([args.output], [args.input, args.psf], overwrite=args.overwrite)
    image, psf = read_image(args.input), read_image(args.psf)
    check_output(args.output, image)
    keep_dtype = getattr(args, "keep_dtype", False) or needs_input_dtype(args.output)
    outputs.check_space(output_bytes(image.data, keep_dtype))
    return image, psf, outputs


def _cmd_deconvolve(args: argparse.Namespace) -> int:
    from napari_selfdiff.io.formats import needs_input_dtype, write_image
    from napari_selfdiff.restoration.nonblind import iter_deconvolve

    image, psf, outputs = read_with_psf(args)
    config = _resolved_config(args) if args.method == "selfdiff" else None
    result = run_with_bar(
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
            nan_policy=args.nan_policy,
            keep_dtype=args.keep_dtype or needs_input_dtype(args.output),
        )
    )
    provenance = {**result.metadata(), "input": str(args.input), "psf": str(args.psf)}
    with outputs.writing() as temporary:
        write_image(temporary[args.output], result.image, image, provenance=provenance, overwrite=True)
    print(f"wrote {args.output} in {result.seconds:.1f} s")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from napari_selfdiff.batch.runner import gpu_count, run

    if args.preset is None:
        args.preset = default_preset_name("cuda" if gpu_count() else "cpu")
    config = config_from_args(args)
    noise = noise_from_args(args)
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
        noise=noise,
        scheduler=args.scheduler,
        n_workers=args.workers,
        force=args.force,
        overwrite=args.overwrite,
        nan_policy=args.nan_policy,
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
