"""What a Dask worker does with one file of a batch (:func:`process_file`).

It reads the image, plans and runs the blind deconvolution, writes the image, the PSF and
the JSON record atomically, and records a failure instead of raising it, so one bad file
does not stop the batch (:mod:`.batch`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from napari_selfdiff.batch.files import RECORD_VERSION, _checksum, output_paths, write_record
from napari_selfdiff.config import DeblurConfig, Scale

__all__ = ["process_file"]

logger = logging.getLogger("napari_selfdiff.batch.runner")


def process_file(
    path: str | Path,
    out_dir: str | Path,
    kernel_size: int | tuple[int, int, int],
    config: dict[str, Any],
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    scale: Scale = "auto",
    noise: dict[str, float] | None = None,
    nan_policy: str = "raise",
) -> dict[str, Any]:
    """Deblur one image file and write its outputs and record; never raises for a bad input.

    ``scale`` (resolved for this file by :func:`napari_selfdiff.plan.policy.plan_run`, recorded as
    ``factor``) > 1 runs the multiscale pipeline (:func:`napari_selfdiff.deblur` with ``scale``).
    The record's ``restore`` says which image was written: the network's or Richardson-Lucy's
    (``config["restore"]``, resolved for the file's size). ``noise`` is a
    :meth:`~napari_selfdiff.noise.NoiseModel.to_dict` (None: estimated per file); the record keeps
    the noise used, the PSF's ``reliability`` and whether the image was ``deconvolved``.

    The image, the PSF and the record are written to temporaries and moved into place
    together (:meth:`.io.outputs.OutputPlan.writing`). A record that cannot be written (a full
    disk, a directory in its place) leaves no output behind and is returned as failed.
    """
    path, out_dir = Path(path), Path(out_dir)
    paths = output_paths(path, out_dir)
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "input": str(path),
        "kernel_size": kernel_size,
        "seed": seed,
        "scale": scale,
        "noise_given": noise,
        "config": config,
        "status": "failed",
        "error": None,
        "host": os.uname().nodename,
        "worker_pid": os.getpid(),
    }
    start = time.perf_counter()
    try:
        import torch

        from napari_selfdiff.api import deblur
        from napari_selfdiff.inputs import make_problem
        from napari_selfdiff.io.formats import read_image, write_image_and_psf
        from napari_selfdiff.io.outputs import OutputPlan, output_bytes
        from napari_selfdiff.plan.policy import plan_run, voxel_size

        if threads:
            torch.set_num_threads(threads)
        record["input_sha256"] = _checksum(path)
        image = read_image(path)
        outputs = OutputPlan(tuple(paths.values()), overwrite=True)  # checked by batch.plan_batch
        outputs.check_space(output_bytes(image.data, False))
        solver_config = DeblurConfig.from_dict(config)
        problem = make_problem(image.data, kernel_size, image.axes, nan_policy=nan_policy)
        plan = plan_run(
            problem, solver_config, scale=scale, device=device, **voxel_size(solver_config, image)
        )
        record.update(factor=plan.factor, plan=plan.describe())
        from napari_selfdiff.noise import NoiseModel

        model = NoiseModel(**noise) if noise is not None else None
        result = deblur(problem, kernel_size, plan=plan, seed=seed, noise=model)
        provenance = {**result.metadata(), "input": str(path), "input_sha256": record["input_sha256"]}
        record.update(
            status="done", device=result.device, shape=list(image.data.shape), restore=result.restore,
            method=result.method, noise=result.noise, reliability=result.reliability,
            deconvolved=result.deconvolved, seconds=round(time.perf_counter() - start, 3),
        )  # fmt: skip
        with outputs.writing() as temporary:
            write_image_and_psf(
                temporary[paths["image"]],
                temporary[paths["psf"]],
                result.image,
                result.psf,
                image,
                provenance,
            )
            write_record(temporary[paths["record"]], record)
        return record
    except Exception as error:  # noqa: BLE001 - recorded for the summary; the batch goes on
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
        logger.warning("batch: %s failed: %s", path, record["error"])
    record["seconds"] = round(time.perf_counter() - start, 3)
    try:
        write_record(paths["record"], record)
    except Exception as error:  # noqa: BLE001 - the failure is returned to the batch instead
        record["error"] += f"; its record could not be written either ({type(error).__name__}: {error})"
    return record
