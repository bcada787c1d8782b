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

These constants are a machine the user does not have: on a loaded machine the default
pipeline took 4.4 times its figure (issue #39). :func:`calibrate` therefore times the plan's own
kernels on the user's data for a second or a few (:class:`Calibration`: one plane group's
classic PSF and guarded restoration; the first iterations of the network, 2D or 3D; a few 3D
RL-TV iterations), and :func:`estimate_run` given a calibration scales those measured costs
to the whole run; the constants above only say how a cost grows with the size. Calibrations
are cached per device and problem for :data:`CALIBRATION_SECONDS` (the machine's load
changes), and the progress clock refines the rest during the run
(:class:`~napari_selfdiff.progress_text.ProgressClock`). Measured against the runs:
``docs/benchmarks/estimate.md``.

Memory: :func:`~napari_selfdiff.blind.selfdiff.memory.estimate_bytes` for one batch of plane groups
(:func:`~napari_selfdiff.blind.selfdiff.volume.estimate_bytes_3d` in the 3D mode);
the classic estimate keeps about :data:`CLASSIC_COPIES` float32 copies of a plane.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_selfdiff.blind.selfdiff.memory import estimate_bytes
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.inputs import Problem, plane_groups
from napari_selfdiff.plan.policy import RunPlan
from napari_selfdiff.progress_text import format_seconds
from napari_selfdiff.resources import free_host_memory, free_memory

__all__ = ["LONG_SECONDS", "Calibration", "RunEstimate", "cached_calibration", "calibrate", "estimate_run"]

SECONDS_PER_UNIT = {"cpu": 1.1e-8, "cuda": 5.9e-12}
SECONDS_PER_UNIT_3D = {device: 0.46 * rate for device, rate in SECONDS_PER_UNIT.items()}
CLASSIC_SECONDS_PER_PIXEL = 2.2e-4
CLASSIC_SETUP_SECONDS = 2.0
SETUP_SECONDS = 3.0
CLASSIC_COPIES = 40
#: The full-resolution refit of a reduced-scale PSF, as a share of the estimate's own time (a
#: rough figure, not measured: it only weighs that part of the progress bar).
REFIT_SHARE = 0.1
#: How one plane's classic cost grows with its pixels (a power): 2.4 s at 80 x 80 and 5.5 s at
#: 128 x 128 a plane measured in one stack (0.44 for 0.39 of the pixels); the validation v2's
#: 6.9, 14.8 and 56 s at 128, 256 and 512 px a side grow slower still.
CLASSIC_GROWTH = 0.85
#: A run longer than this is worth a preview on a crop first (seconds).
LONG_SECONDS = 300.0
#: Share of the free memory from which the estimate warns.
NEAR_MEMORY = 0.7
#: How long a calibration holds (seconds): after that the machine's load is measured again.
CALIBRATION_SECONDS = 300.0
#: Wall-clock time of the network's iterations a probe times (seconds), after its first event,
#: and the least number of iterations it times.
PROBE_SECONDS = 1.5
PROBE_ITERATIONS = 3
#: The classic probe runs on at most this many pixels of one plane (a centred crop).
PROBE_SIDE = 128
#: The restoration probe times 3D RL-TV at one iteration and at one plus this many, times four
#: until the difference reaches :data:`PROBE_RL_SECONDS` (a small stack's iteration takes
#: milliseconds: timed at 1 and 3 iterations, the difference was within the clock's noise and
#: came out as 0 s, estimating a 5 s run at 0.1 s), at most :data:`PROBE_RL_MAX` iterations.
PROBE_RL_ITERATIONS = 3
PROBE_RL_SECONDS = 0.2
PROBE_RL_MAX = 192
#: The physical pupil fit ("pupil-3d") looks at a window of at most ``FIT_WINDOW`` pixels
#: laterally (all planes), so its time does not grow with the stack: ``a + b * voxels of the
#: window`` seconds on a machine whose 3D RL-TV iteration takes ``PUPIL_RL_SECONDS_PER_VOXEL``
#: per stack voxel; a calibration's own RL-TV timing rescales it to the machine at hand. Fitted
#: to the fit's time on three stacks of the quiet 2-core machine, each divided by the probe's
#: rescaling (0.7-0.9): 16 x 96 x 96 (the widefield sample) 6.4 s, 24 x 96 x 96 (z-stack
#: benchmark, 4 cases) 5.5 s, 32 x 256 x 256 (window 32 x 128 x 128) 11.5 s. The reference RL-TV
#: rate was 6.1e-8 s; the in-place RL-TV takes 0.81 of the time (probes of 6 runs each, medians
#: 5.2e-8 and 4.2e-8 s), so it is now 4.9e-8 s. See docs/benchmarks/estimate.md.
PUPIL_FIT_SECONDS = (3.2, 1.5e-5)
PUPIL_RL_SECONDS_PER_VOXEL = 4.9e-8


@dataclass(frozen=True)
class Calibration:
    """Costs measured on this machine, now, for one plan (:func:`calibrate`), in seconds.

    ``classic``: one plane's classic PSF estimate and its guarded restoration (the wider-box
    second opinion and the noise-aware TV), on ``classic_pixels`` pixels. ``network``: the
    network's set-up (until its first iteration) and one inner iteration of one batch (2D) or
    of the stack (3D); ``frozen_iteration``: a 3D iteration while the PSF is held fixed (its
    warm-up), which costs several times less. ``rl_iteration``: the 3D RL-TV's overhead and one
    iteration on the stack; ``network_pixels``: the pixels (voxels in 3D) they were measured on, so
    a region's estimate scales them. ``probe_seconds``: what measuring them took.
    """

    device: str
    classic: tuple[float, float] | None = None
    classic_pixels: int = 0
    network: tuple[float, float] | None = None
    network_pixels: int = 0
    frozen_iteration: float | None = None
    rl_iteration: tuple[float, float] | None = None
    probe_seconds: float = 0.0
    measured_at: float = dataclasses.field(default_factory=time.monotonic)


@dataclass(frozen=True)
class RunEstimate:
    """Seconds (``seconds_if_flagged``: the cascade's extra when the guard calls self-diffusion).

    ``parts``: the expected seconds of each part of the run as its progress events number them
    (:attr:`~napari_selfdiff.results.Progress.part`); ``after``: seconds of work after the last
    event (a restoration drained without events); ``calibrated``: measured on this machine.
    """

    seconds: float
    seconds_if_flagged: float
    peak_bytes: int
    free_bytes: int | None
    device: str
    warnings: tuple[str, ...] = ()
    parts: tuple[float, ...] = ()
    after: float = 0.0
    calibrated: bool = False

    def describe(self) -> str:
        """One line: time, memory, warnings."""
        gib = 1024**3
        time_text = f"~{format_seconds(self.seconds)}"
        if self.seconds_if_flagged > 0:
            time_text += f" (up to ~{format_seconds(self.seconds + self.seconds_if_flagged)} if the guard "
            time_text += "calls self-diffusion)"
        time_text += " (measured on this machine)" if self.calibrated else " (not yet measured here)"
        free = f" of {self.free_bytes / gib:.1f} GiB free" if self.free_bytes is not None else ""
        text = f"estimate: {time_text}, peak memory ~{self.peak_bytes / gib:.2f} GiB{free} ({self.device})"
        return "\n".join([text, *(f"warning: {w}" for w in self.warnings)])


def _units(plan: RunPlan) -> float:
    return sum(width**2 / 4**level for level, width in enumerate(plan.config.image_net.widths))


def _iterations(plan: RunPlan) -> int:
    return plan.config.schedule.steps * plan.config.schedule.inner_steps


def _selfdiff(
    plan: RunPlan, planes: int, channels: int, calibration: Calibration | None = None
) -> tuple[float, int]:
    config = plan.config
    height, width = plan.window() if plan.factor > 1 else plan.shape
    if config.stack_mode == "shared-channels":
        batch, channels, networks = 1, planes * channels, 1
    elif config.stack_mode == "shared":
        batch, networks = planes, planes
    else:
        batch, networks = min(planes, plan.batch_planes), planes
    kernel = plan.reduced_size if plan.factor > 1 else plan.kernel_size
    peak = estimate_bytes(batch, channels, height, width, kernel, config)
    if calibration is not None and calibration.network is not None:
        setup, per_iteration = calibration.network  # one batch of `batch` networks
        per_iteration *= _network_pixels(plan) / max(calibration.network_pixels, 1)
        return setup + per_iteration * _iterations(plan) * math.ceil(networks / batch), peak
    rate = SECONDS_PER_UNIT.get(plan.device.type, SECONDS_PER_UNIT["cpu"])
    seconds = SETUP_SECONDS + rate * _units(plan) * height * width * _iterations(plan) * networks
    return seconds, peak


def _stack3d(plan: RunPlan, calibration: Calibration | None = None) -> tuple[float, float, int]:
    """Seconds of the 3D PSF estimate and of the 3D restoration, and the peak memory."""
    from napari_selfdiff.blind.selfdiff.volume import estimate_bytes_3d

    config, (_, ky, kx) = plan.config, plan.kernel_shape
    peak = estimate_bytes_3d((plan.depth, *plan.shape), plan.kernel_shape, config)
    restore_iterations = config.restore_iterations if plan.restore != "network" else 0
    if plan.method == "pupil-3d":  # no network: the fit costs as many 3D RL-TV iterations
        from napari_selfdiff.blind.pupil3d import FIT_WINDOW

        voxels = _network_pixels(plan)
        overhead, per_voxel, slowdown = 0.0, PUPIL_RL_SECONDS_PER_VOXEL, 1.0
        if calibration is not None and calibration.rl_iteration is not None:
            overhead, per_rl = calibration.rl_iteration
            per_voxel = per_rl / calibration.network_pixels
            slowdown = per_voxel / PUPIL_RL_SECONDS_PER_VOXEL  # this machine, now
        window = plan.depth * min(plan.shape[0], FIT_WINDOW) * min(plan.shape[1], FIT_WINDOW)
        fit = (PUPIL_FIT_SECONDS[0] + PUPIL_FIT_SECONDS[1] * window) * slowdown
        return fit, overhead + per_voxel * voxels * restore_iterations, peak
    if calibration is not None and calibration.network is not None:
        setup, per_iteration = calibration.network
        size = _network_pixels(plan) / max(calibration.network_pixels, 1)
        per_iteration *= size
        steps, inner = config.schedule.steps, config.schedule.inner_steps
        frozen_steps = round(config.stack3d.kernel_warmup_fraction * steps)
        frozen_steps += round(config.kernel_freeze_fraction * steps)
        frozen = (
            per_iteration if calibration.frozen_iteration is None else calibration.frozen_iteration * size
        )
        blind = setup + inner * (frozen * frozen_steps + per_iteration * (steps - frozen_steps))
        overhead, per_rl = calibration.rl_iteration or (0.0, 0.0)
        restore = (overhead + per_rl * restore_iterations) * size if restore_iterations else 0.0
        return blind, restore, peak
    height, width = plan.shape[0] + ky - 1, plan.shape[1] + kx - 1
    units = sum(w**2 / 4**level for level, w in enumerate(config.stack3d.widths))
    rate = SECONDS_PER_UNIT_3D.get(plan.device.type, SECONDS_PER_UNIT_3D["cpu"])
    return SETUP_SECONDS + rate * units * height * width * _iterations(plan), 0.0, peak


def _classic_model(pixels: float) -> float:
    return CLASSIC_SETUP_SECONDS + CLASSIC_SECONDS_PER_PIXEL * pixels


def _network_pixels(plan: RunPlan) -> int:
    """The pixels a network iteration works on: a plane (its window at reduced scale), or the stack."""
    if plan.method in ("selfdiff-3d", "pupil-3d"):
        return plan.depth * math.prod(plan.shape)
    height, width = plan.window() if plan.factor > 1 else plan.shape
    return (height // plan.factor) * (width // plan.factor)


def _classic(
    plan: RunPlan, planes: int, channels: int, calibration: Calibration | None
) -> tuple[float, float]:
    """Seconds of the classic PSF stage and of the guarded restoration stage."""
    plane = math.prod(plan.shape)
    groups = plan.n_groups
    if calibration is None or calibration.classic is None:
        total = _classic_model(planes * channels * plane)
        return total / 2, total / 2  # the two stages cost about the same (validation v2)
    psf, restore = calibration.classic
    # A plane's cost grows as its pixels to the power CLASSIC_GROWTH; the probe fixes its level.
    size = (plane / max(calibration.classic_pixels, 1)) ** CLASSIC_GROWTH
    tv = max(restore - psf, 0.0)  # the restoration without its second opinion (a PSF estimate)
    return groups * psf * size, (groups * restore + (planes * channels - groups) * tv) * size


def estimate_run(
    plan: RunPlan, planes: int = 1, channels: int = 1, calibration: Calibration | None = None
) -> RunEstimate:
    """Time and peak memory of ``plan`` on ``planes`` planes of ``channels`` channels.

    With a ``calibration`` (:func:`calibrate`) the time is scaled from the costs measured on
    this machine; without, from the constants of the module (a reference machine).
    """
    classic_bytes = CLASSIC_COPIES * 4 * channels * math.prod(plan.shape)
    after = 0.0
    if plan.method in ("selfdiff-3d", "pupil-3d"):
        blind, after, peak = _stack3d(plan, calibration)
        parts, extra = (blind,), 0.0
    elif plan.method in ("classic", "classic+selfdiff"):
        psf_stage, restore_stage = _classic(plan, planes, channels, calibration)
        # RL-TV asked for explicitly: no guard, no second opinion (about half the TV stage).
        parts = (psf_stage, restore_stage if plan.restore == "tv" else restore_stage / 2)
        extra, peak = 0.0, classic_bytes
        if plan.method == "classic+selfdiff" and plan.restore == "tv":
            # The self-diffusion part runs only where the guard asks for it, on its own device.
            fallback = plan.fallback() if plan.device is None else plan
            sd_seconds, sd_bytes = _selfdiff(fallback, planes, channels, calibration)
            extra, peak = sd_seconds, max(classic_bytes, sd_bytes)
    else:
        sd_seconds, peak = _selfdiff(plan, planes, channels, calibration)
        psf_stage, restore_stage = _classic(plan, planes, channels, calibration)
        parts, extra = [sd_seconds], 0.0
        if plan.factor > 1 and plan.config.psf_refit.enabled:  # a part of its own, with events
            parts.append(REFIT_SHARE * sd_seconds)
        if plan.restore == "tv":  # the guarded restoration, with its second opinion when guarded
            after = restore_stage if plan.config.guard else max(restore_stage - psf_stage, 0.0)
        elif plan.restore == "richardson_lucy" and plan.factor > 1:  # a part with events
            parts.append(restore_stage / 2)
        elif plan.restore == "richardson_lucy":  # drained after the estimate
            after = restore_stage / 2
    seconds = sum(parts) + after
    free = free_host_memory() if plan.device is None else free_memory(plan.device)
    return RunEstimate(
        seconds, extra, int(peak), free, plan.device_name, _warnings(plan, seconds + extra, peak, free),
        parts=tuple(parts), after=after, calibrated=calibration is not None,
    )  # fmt: skip


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


# --- calibration: the plan's own kernels timed on the user's data --------------------------------

_CACHE: dict[tuple, Calibration] = {}
_CACHE_LOCK = threading.Lock()


def _key(plan: RunPlan) -> tuple:
    """What a calibration depends on: the device, the kernels and the solver's settings.

    Not the image's size: the costs are scaled to it, so a region's preview is estimated from
    the calibration of its whole layer.
    """
    config = plan.config
    return (
        plan.device_name, plan.method, plan.kernel_size, plan.kernel_shape, plan.factor > 1,
        plan.restore, config.classic, config.image_net, config.kernel_net, config.stack3d.widths,
        config.stack_mode, config.guard, config.schedule,
    )  # fmt: skip


def cached_calibration(plan: RunPlan) -> Calibration | None:
    """The calibration of this kind of run measured less than :data:`CALIBRATION_SECONDS` ago, or None."""
    with _CACHE_LOCK:
        found = _CACHE.get(_key(plan))
    if found is None or time.monotonic() - found.measured_at > CALIBRATION_SECONDS:
        return None
    return found


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the calibration was cancelled")


def _time_iterations(run: Generator[Any, None, Any], cancel: threading.Event | None) -> tuple[float, float]:
    """Set-up seconds and seconds per inner iteration of a network run, from its first events.

    The run (reporting every iteration) is driven for :data:`PROBE_SECONDS` and at least
    :data:`PROBE_ITERATIONS` iterations after its first event (its set-up: networks built, a
    first iteration), then closed.
    """
    start = time.perf_counter()
    first: tuple[float, int] | None = None
    last: tuple[float, int] | None = None
    with contextlib.closing(run):
        for event in run:
            _check(cancel)
            done = (event.step - 1) * event.n_inner + event.inner
            if event.batch is not None:
                done += event.batch[0] * event.n_steps * event.n_inner
            now = (time.perf_counter() - start, done)
            if first is None:
                first = now
            elif now[1] > first[1]:
                last = now
                if now[0] - first[0] >= PROBE_SECONDS and now[1] - first[1] >= PROBE_ITERATIONS:
                    break
    if first is None:
        return time.perf_counter() - start, 0.0
    if last is None:  # one event only: the run was shorter than a probe
        return 0.0, first[0] / max(first[1], 1)
    per_iteration = (last[0] - first[0]) / (last[1] - first[1])
    return max(first[0] - per_iteration * first[1], 0.0), per_iteration


def _probe_classic(
    problem: Problem, plan: RunPlan, cancel: threading.Event | None
) -> tuple[float, float, int]:
    """Seconds of one plane's classic PSF and its guarded restoration, on a centred crop of it."""
    from napari_selfdiff.blind.guarded import classic_psfs, restore_guarded
    from napari_selfdiff.results import drive

    planes = problem.planes
    plane = planes[len(planes) // 2 : len(planes) // 2 + 1, :1]
    height, width = plane.shape[-2:]
    top, left = max((height - PROBE_SIDE) // 2, 0), max((width - PROBE_SIDE) // 2, 0)
    plane = np.ascontiguousarray(plane[..., top : top + PROBE_SIDE, left : left + PROBE_SIDE])
    groups, classic, guard = [np.array([0])], plan.config.classic, plan.config.guard
    for _ in range(2):  # a short first try pays one-time costs (imports, FFT plans): timed again
        start = time.perf_counter()
        psfs = drive(classic_psfs(plane, groups, plan.kernel_size, None, classic, start=start, cancel=cancel))
        middle = time.perf_counter()
        drive(restore_guarded(plane, groups, psfs, None, classic, guard=guard, start=start, cancel=cancel))
        end = time.perf_counter()
        if end - start > PROBE_SECONDS:
            break
    return middle - start, end - middle, int(plane.shape[-2] * plane.shape[-1])


def _probe_network(
    problem: Problem, plan: RunPlan, cancel: threading.Event | None
) -> tuple[tuple[float, float], int]:
    """Set-up and seconds per iteration of the first batch of self-diffusion networks (2D)."""
    from napari_selfdiff.blind.selfdiff.multiscale import full_scale

    planes = problem.planes
    if plan.factor > 1:  # the reduced-scale estimate runs on the window, averaged down
        top, left, height, width = 0, 0, *plan.window()
        planes = planes[..., top : top + height, left : left + width]
        f = plan.factor
        planes = planes[..., : height // f * f, : width // f * f]
        planes = planes.reshape(*planes.shape[:2], height // f, f, width // f, f).mean(axis=(3, 5))
    groups = plane_groups(len(planes), plan.config)
    first = np.concatenate(groups[: max(plan.batch_planes, 1)])
    kernel = plan.reduced_size if plan.factor > 1 else plan.kernel_size
    run = full_scale(
        np.ascontiguousarray(planes[first]), kernel, plan.config.replace(progress_every=1), plan.device, 0,
        batch_planes=plan.batch_planes, start=time.perf_counter(), cancel=cancel,
    )  # fmt: skip
    return _time_iterations(run, cancel), _network_pixels(plan)


def _probe_3d(
    problem: Problem, plan: RunPlan, cancel: threading.Event | None
) -> tuple[tuple[float, float], float | None, tuple[float, float]]:
    """The 3D network's set-up and seconds per iteration (PSF fitted, PSF held); the 3D RL-TV's."""
    from napari_selfdiff.blind.selfdiff.volume_run import estimate_psf_3d

    stack, every = problem.planes[:, 0], plan.config.replace(progress_every=1)
    frozen = None
    if plan.config.stack3d.kernel_warmup_fraction > 0:  # the run starts with the PSF held fixed
        run = estimate_psf_3d(
            stack, plan.kernel_shape, every, plan.device, 0, start=time.perf_counter(), cancel=cancel
        )
        frozen = _time_iterations(run, cancel)[1]
    # Then without the warm-up: the iterations that fit the PSF too, which cost the most.
    config = every.replace(**{"stack3d.kernel_warmup_fraction": 0.0, "kernel_freeze_fraction": 0.0})
    run = estimate_psf_3d(
        stack, plan.kernel_shape, config, plan.device, 0, start=time.perf_counter(), cancel=cancel
    )
    return _time_iterations(run, cancel), frozen, _probe_rl(stack, plan, cancel)


def _probe_rl(stack: np.ndarray, plan: RunPlan, cancel: threading.Event | None) -> tuple[float, float]:
    """The 3D RL-TV's overhead and seconds per iteration on the stack.

    A first, untimed iteration pays the one-time costs (FFT plans, first allocations); then one
    iteration and ``1 + n`` are timed, ``n`` growing (:data:`PROBE_RL_ITERATIONS`, times four)
    until they differ by :data:`PROBE_RL_SECONDS`.
    """
    from napari_selfdiff.blind.selfdiff.volume_run import restore_3d

    psf = np.zeros(plan.kernel_shape, np.float32)
    psf[tuple(n // 2 for n in plan.kernel_shape)] = 1.0

    def seconds(iterations: int) -> float:
        _check(cancel)
        config = plan.config.replace(restore_iterations=iterations)
        begin = time.perf_counter()
        restore_3d(stack, psf, config, plan.device, cancel, guard=False)
        return time.perf_counter() - begin

    seconds(1)  # the one-time costs
    one, extra = seconds(1), PROBE_RL_ITERATIONS
    while True:
        more = seconds(1 + extra) - one
        if more >= PROBE_RL_SECONDS or 4 * extra > PROBE_RL_MAX:
            break
        extra *= 4
    per_rl = max(more, 0.0) / extra
    return max(one - per_rl, 0.0), per_rl


def calibrate(problem: Problem, plan: RunPlan, cancel: threading.Event | None = None) -> Calibration:
    """Time the kernels ``plan`` runs on ``problem``'s own data, on this machine, now (a few seconds).

    The classic pipeline on one plane (cropped to :data:`PROBE_SIDE`), the self-diffusion
    network's first iterations (:data:`PROBE_SECONDS`), the 3D RL-TV's; the result is cached
    (:func:`cached_calibration`) and passed to :func:`estimate_run`.

    Raises
    ------
    Cancelled
        ``cancel`` was set (e.g. the user started the run).
    """
    begin = time.perf_counter()
    found: dict[str, Any] = {}
    if plan.method == "selfdiff-3d":
        found["network"], found["frozen_iteration"], found["rl_iteration"] = _probe_3d(problem, plan, cancel)
        found["network_pixels"] = _network_pixels(plan)
    elif plan.method == "pupil-3d":
        found["rl_iteration"] = _probe_rl(problem.planes[:, 0], plan, cancel)
        found["network_pixels"] = _network_pixels(plan)
    else:
        needs_network = plan.method in ("selfdiff", "classic+selfdiff")
        needs_classic = plan.method != "selfdiff" or plan.restore != "network"
        if needs_classic:
            psf, restore, pixels = _probe_classic(problem, plan, cancel)
            found["classic"], found["classic_pixels"] = (psf, restore), pixels
        if needs_network:
            network_plan = plan.fallback() if plan.device is None else plan
            found["network"], found["network_pixels"] = _probe_network(problem, network_plan, cancel)
    calibration = Calibration(plan.device_name, probe_seconds=time.perf_counter() - begin, **found)
    with _CACHE_LOCK:
        _CACHE[_key(plan)] = calibration
    return calibration
