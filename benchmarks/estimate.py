"""The time estimate before a run, calibrated as the blind widget does, against the run's time (#39).

Usage::

    PYTHONPATH=src python -m benchmarks.estimate CASE [--steps N]

``CASE``: ``stack2d`` (20 x 128 x 128 uint16, kernel 15, fast preset), ``region`` (3 planes
of 80 x 80 from it, estimated from the whole stack's probe, as the region preview is),
``3dfree`` (the widefield sample, 16 x 96 x 96, 3D self-diffusion, fast preset),
``3dzernike`` (the same with its optics and the Zernike kernel network), ``pupil3d``
(the same sample with its optics: the 3D default, the physical pupil fit) and
``pupil3d-large`` (a 32 x 256 x 256 sample, the same optics). ``--steps``: a shorter
self-diffusion schedule. One process probes, estimates and runs; it prints one line per case
with the estimate, the measured time, their ratio, when each stage began and the load average.
Results: docs/benchmarks/estimate.md.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from napari_selfdiff.api import iter_deblur
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.inputs import make_problem
from napari_selfdiff.plan.estimate import cached_calibration, calibrate, estimate_run
from napari_selfdiff.plan.policy import plan_run
from napari_selfdiff.results import drive
from napari_selfdiff.samples.widefield import make_microscopy_case

CASES = ("stack2d", "region", "3dfree", "3dzernike", "pupil3d", "pupil3d-large")


def _case(name: str, steps: int | None) -> tuple[np.ndarray, np.ndarray, object, DeblurConfig, dict]:
    """The whole layer (probed), the data run, the kernel size, the settings and the plan's options."""
    config = DeblurConfig.preset("fast")
    if name in ("stack2d", "region"):
        stack = make_microscopy_case((20, 128, 128)).blurred.astype(np.uint16)
        data = stack if name == "stack2d" else stack[9:12, 20:100, 20:100]
        return stack, data, 15, config, {}
    sample = make_microscopy_case((32, 256, 256) if name == "pupil3d-large" else (16, 96, 96))
    config = config.replace(stack_mode="3d")
    options = {"z_step": sample.z_step_um, "pixel_size": sample.pixel_size_um}
    if name != "3dfree":  # the optics known: the default 3D method is the pupil fit
        config = config.replace(
            **{
                "optics.na": sample.na,
                "optics.wavelength": sample.wavelength_um,
                "optics.pixel_size": sample.pixel_size_um,
                "optics.immersion_index": sample.immersion_index,
            }
        )
    if name == "3dzernike":  # self-diffusion with the Zernike kernel network, asked for
        config = config.replace(**{"kernel_net.model": "zernike"})
    if steps is not None:
        config = config.replace(**{"schedule.steps": steps})
    return sample.blurred, sample.blurred, (7, 15, 15), config, options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--steps", type=int, default=None, help="a shorter self-diffusion schedule")
    args = parser.parse_args(argv)
    whole, data, kernel, config, options = _case(args.case, args.steps)
    layer = make_problem(whole, kernel, "ZYX")
    calibration = calibrate(layer, plan_run(layer, config, device="cpu", **options))  # the widget's probe
    problem = make_problem(data, kernel, "ZYX")
    plan = plan_run(problem, config, device="cpu", **options)
    assert cached_calibration(plan) is calibration  # a region is estimated from the layer's probe
    estimate = estimate_run(plan, *problem.planes.shape[:2], calibration=calibration)
    print(plan.describe())
    print(estimate.describe(), calibration, estimate.parts, estimate.after, flush=True)
    marks: dict = {}
    last = [0.0]

    def mark(event) -> None:
        marks.setdefault((event.part, event.stage), round(event.elapsed, 1))
        last[0] = event.elapsed

    begin = time.perf_counter()
    drive(iter_deblur(problem, kernel, plan=plan), mark)
    seconds = time.perf_counter() - begin
    load = os.getloadavg()[0]
    print(
        f"{args.case}: estimate {estimate.seconds:.1f} s, measured {seconds:.1f} s, ratio "
        f"{estimate.seconds / seconds:.2f}; stages began {marks}, last event {last[0]:.1f} s; "
        f"probe {calibration.probe_seconds:.1f} s; load {load:.2f}"
    )


if __name__ == "__main__":
    main()
