"""Time and peak memory of a planned run, before it starts, and what to do when they are large.

The widget shows :meth:`RunEstimate.describe` under the plan line and updates it as fields
change; it is meant to be right within a factor of about two to three.

Time model. The self-diffusion estimate costs about
``SECONDS_PER_UNIT[device] * pixels * T * S * sum_l(width_l^2 / 4^l)``: each inner iteration
runs the U-Net forward and backward, whose work per pixel grows with the square of each
level's width, the level ``l`` having 4^l times fewer pixels. The constants are measured:

* CPU: the fast preset on the 128 x 128 demo, 1,000 iterations, ``OMP_NUM_THREADS=1`` on the
  project's 2-core machine: 35.8 s (2026-12-01), so 1.1e-8 s per unit. More threads are faster.
* CUDA: the paper preset at 256 x 256 on an H100, 7.9 ms per iteration
  (``docs/benchmarks/README.md``, optimised path), so 5.9e-12 s per unit.
* The default pipeline (TV PSF estimate, the L0 second opinion, the noise-aware TV
  restoration): on the validation v2 (``docs/benchmarks/validation/README.md``, 2 cores shared
  by two runs) 6.9 s at 128 x 128, 14.8 s at 256 x 256 and 56 s at 512 x 512 a case, fitted by
  :data:`CLASSIC_SETUP_SECONDS` + 2.2e-4 s per pixel (5.6, 16.4 and 59.7 s); its NumPy/SciPy
  code runs on the CPU whatever the device. A self-diffusion run adds half of it for its
  restoration and all of it for the do-no-harm guard's independent estimate; set-up
  (networks, first passes) about 3 s. Checked on the camera sample at half scale with the
  guard: 13 s measured, 8 s estimated.

* The 3D mode (``stack_mode="3d"``): one 2.5D network of ``config.stack3d.widths`` on the
  extended (H+K-1) x (W+K-1) planes; measured 190 s of CPU on one thread for a 32 x 128 x 128
  stack with a 9 x 15 x 15 PSF and the fast preset (``docs/benchmarks/stacks_full.md``), so
  :data:`SECONDS_PER_UNIT_3D` is 0.46 of the 2D constant (its first convolution takes the
  planes as channels; the widths' squares dominate). Checked: 16 x 96 x 96, 7 x 9 x 9, 200
  iterations, 18 s measured, 23 s estimated. The CUDA figure is scaled the same way, unmeasured.

Memory: :func:`~napari_selfdiff.blind.selfdiff.memory.estimate_bytes` for one batch of plane groups
(:func:`~napari_selfdiff.blind.selfdiff.volume.estimate_bytes_3d` in the 3D mode);
the classic estimate keeps about :data:`CLASSIC_COPIES` float32 copies of a plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from napari_selfdiff.blind.selfdiff.memory import estimate_bytes
from napari_selfdiff.plan.policy import RunPlan
from napari_selfdiff.progress_text import format_seconds
from napari_selfdiff.resources import free_host_memory, free_memory

__all__ = ["LONG_SECONDS", "RunEstimate", "estimate_run"]

SECONDS_PER_UNIT = {"cpu": 1.1e-8, "cuda": 5.9e-12}
SECONDS_PER_UNIT_3D = {device: 0.46 * rate for device, rate in SECONDS_PER_UNIT.items()}
CLASSIC_SECONDS_PER_PIXEL = 2.2e-4
CLASSIC_SETUP_SECONDS = 2.0
SETUP_SECONDS = 3.0
CLASSIC_COPIES = 40
#: A run longer than this is worth a preview on a crop first (seconds).
LONG_SECONDS = 300.0
#: Share of the free memory from which the estimate warns.
NEAR_MEMORY = 0.7


@dataclass(frozen=True)
class RunEstimate:
    """Seconds (``seconds_if_flagged``: the cascade's extra when the guard calls self-diffusion)."""

    seconds: float
    seconds_if_flagged: float
    peak_bytes: int
    free_bytes: int | None
    device: str
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: time, memory, warnings."""
        gib = 1024**3
        time = f"~{format_seconds(self.seconds)}"
        if self.seconds_if_flagged > 0:
            time += f" (up to ~{format_seconds(self.seconds + self.seconds_if_flagged)} if the guard "
            time += "calls self-diffusion)"
        free = f" of {self.free_bytes / gib:.1f} GiB free" if self.free_bytes is not None else ""
        text = f"estimate: {time}, peak memory ~{self.peak_bytes / gib:.2f} GiB{free} ({self.device})"
        return "\n".join([text, *(f"warning: {w}" for w in self.warnings)])


def _units(plan: RunPlan) -> float:
    return sum(width**2 / 4**level for level, width in enumerate(plan.config.image_net.widths))


def _selfdiff(plan: RunPlan, planes: int, channels: int) -> tuple[float, int]:
    config = plan.config
    height, width = plan.window() if plan.factor > 1 else plan.shape
    if config.stack_mode == "shared-channels":
        batch, channels, networks = 1, planes * channels, 1
    elif config.stack_mode == "shared":
        batch, networks = planes, planes
    else:
        batch, networks = min(planes, plan.batch_planes), planes
    rate = SECONDS_PER_UNIT.get(plan.device.type, SECONDS_PER_UNIT["cpu"])
    iterations = config.schedule.steps * config.schedule.inner_steps
    seconds = SETUP_SECONDS + rate * _units(plan) * height * width * iterations * networks
    kernel = plan.reduced_size if plan.factor > 1 else plan.kernel_size
    return seconds, estimate_bytes(batch, channels, height, width, kernel, config)


def _stack3d(plan: RunPlan) -> tuple[float, int]:
    from napari_selfdiff.blind.selfdiff.volume import estimate_bytes_3d

    config, (_, ky, kx) = plan.config, plan.kernel_shape
    height, width = plan.shape[0] + ky - 1, plan.shape[1] + kx - 1
    units = sum(w**2 / 4**level for level, w in enumerate(config.stack3d.widths))
    rate = SECONDS_PER_UNIT_3D.get(plan.device.type, SECONDS_PER_UNIT_3D["cpu"])
    iterations = config.schedule.steps * config.schedule.inner_steps
    seconds = SETUP_SECONDS + rate * units * height * width * iterations
    return seconds, estimate_bytes_3d((plan.depth, *plan.shape), plan.kernel_shape, config)


def estimate_run(plan: RunPlan, planes: int = 1, channels: int = 1) -> RunEstimate:
    """Time and peak memory of ``plan`` on ``planes`` planes of ``channels`` channels."""
    pixels = planes * channels * math.prod(plan.shape)
    classic_seconds = CLASSIC_SETUP_SECONDS + CLASSIC_SECONDS_PER_PIXEL * pixels
    classic_bytes = CLASSIC_COPIES * 4 * channels * math.prod(plan.shape)
    if plan.method == "classic":
        seconds, extra, peak = classic_seconds, 0.0, classic_bytes
    elif plan.method == "selfdiff-3d":
        seconds, peak = _stack3d(plan)
        extra = 0.0
    elif plan.method == "classic+selfdiff":
        # The self-diffusion part runs only where the guard asks for it, on its own device.
        fallback = plan.fallback() if plan.device is None else plan
        sd_seconds, sd_bytes = _selfdiff(fallback, planes, channels)
        seconds, extra, peak = classic_seconds, sd_seconds, max(classic_bytes, sd_bytes)
    else:
        sd_seconds, sd_bytes = _selfdiff(plan, planes, channels)
        restore = classic_seconds / 2 if plan.restore != "network" else 0.0
        guard = classic_seconds if plan.restore == "tv" and plan.config.guard else 0.0  # a 2nd estimate
        seconds, extra, peak = sd_seconds + restore + guard, 0.0, sd_bytes
    free = free_host_memory() if plan.device is None else free_memory(plan.device)
    return RunEstimate(
        seconds, extra, int(peak), free, plan.device_name, _warnings(plan, seconds + extra, peak, free)
    )


def _warnings(plan: RunPlan, seconds: float, peak: float, free: int | None) -> tuple[str, ...]:
    """What is large, with what to change (only changes that apply to this plan)."""
    smaller = ["the fast preset"] if plan.preset not in ("fast", "tiny") else []
    found = []
    if seconds > LONG_SECONDS:
        options = ["preview on a region first (ROI preview)"]
        if plan.factor == 1 and plan.n_groups == 1 and plan.method != "classic":
            options.append("PSF scale 2")
        options += smaller + ([] if plan.device is not None and plan.device.type == "cuda" else ["a GPU"])
        found.append(f"long run: {', '.join(options)}")
    if free is not None and peak > NEAR_MEMORY * free:
        options = ["a crop of the image", "a smaller kernel", *smaller]
        if plan.n_groups == 1 and plan.config.stack_mode == "shared":
            options.append("stack mode shared-channels")
        found.append(f"near the memory limit: {', '.join(options)}")
    return tuple(found)
