"""How a planned blind run produces its PSF(s) and image: the branches :func:`.api.iter_deblur` runs.

* :func:`selfdiff_run`: self-diffusion at full scale (the paper; tiles after an out-of-memory)
  or at reduced scale (window, refit), and RL-TV where the plan restores by it;
* :func:`classic_run`: the classic PSF and the guarded noise-aware restoration, and in the
  cascade (``method="auto"``) self-diffusion for the plane groups the guard does not trust;
* :func:`stack3d_run`: one 3D PSF for a z-stack (``stack_mode="3d"``) and the guarded 3D RL-TV.

Each is a generator of :class:`~napari_selfdiff.results.Progress` returning ``(estimates, psfs,
history, restore, extra)``; the noise-aware restoration after a self-diffusion run is the
caller's. The classic branch is NumPy: the torch modules are imported by the branches that use
them, so the default pipeline never loads torch unless its guard calls self-diffusion.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Generator
from typing import Any

import numpy as np

from napari_selfdiff.blind.guarded import Guard, classic_psfs, group_image, restore_guarded
from napari_selfdiff.blind.orientation import orient_psf
from napari_selfdiff.errors import OutOfMemory
from napari_selfdiff.inputs import Problem, plane_groups
from napari_selfdiff.noise import NoiseModel
from napari_selfdiff.optics.aberrations import Aberrations
from napari_selfdiff.plan.policy import RunPlan, resolve_restore, tile_for
from napari_selfdiff.results import Multiscale, Progress, Tiling, drive, renumbered

__all__ = ["classic_run", "selfdiff_run", "stack3d_run"]

logger = logging.getLogger(__name__)


def selfdiff_run(
    problem: Problem,
    plan: RunPlan,
    seed: int,
    start: float,
    cancel: threading.Event | None,
    evaluate: Any,
    noise: NoiseModel | None = None,
) -> Generator[Progress, None, tuple]:
    """Self-diffusion's PSF at full or reduced scale, and its image unless the plan restores by TV."""
    if plan.factor > 1:
        *found, extra = yield from _reduced_scale(problem, plan, seed, start, cancel)
        return (*found, {**extra, "method": "selfdiff"})
    *found, extra = yield from _full_scale(problem, plan, seed, start, cancel, evaluate, noise)
    return (*found, {**extra, "method": "selfdiff"})


def stack3d_run(
    problem: Problem, plan: RunPlan, seed: int, start: float, cancel: threading.Event | None, evaluate: Any
) -> Generator[Progress, None, tuple]:
    """The 3D PSF of the stack, then 3D RL-TV (or the network's image).

    ``plan.method`` "pupil-3d": the physical pupil fit, the stack restored with its PSF, or with
    the aberration-free PSF when the fit is not trusted (no aberrations reported then);
    "selfdiff-3d": self-diffusion's PSF and the guarded restoration. The restoration is drained,
    not yielded: seconds after the PSF.
    """
    stack, members = problem.planes[:, 0], np.arange(len(problem.planes))
    if plan.method == "pupil-3d":
        return (yield from _pupil_3d(stack, plan, seed, cancel))
    scorer = None if evaluate is None else (lambda estimate, psf: evaluate(estimate[:, None], psf, members))
    from napari_selfdiff.blind.selfdiff.volume_run import estimate_psf_3d, restore_3d

    image, psf, history, pupil = yield from estimate_psf_3d(
        stack, plan.kernel_shape, plan.config, plan.device, seed, start=start, cancel=cancel, scorer=scorer
    )
    guards = []
    if plan.restore != "network":
        image, guard = restore_3d(stack, psf, plan.config, plan.device, cancel)
        guards.append(guard)
    extra = {
        "guards": guards,
        "method": "selfdiff-3d",
        "aberrations": None if pupil is None else [pupil],
    }
    return image[:, None], [psf], history, plan.restore, extra


def _pupil_3d(
    stack: np.ndarray, plan: RunPlan, seed: int, cancel: threading.Event | None
) -> Generator[Progress, None, tuple]:
    """The pupil-3d branch of :func:`stack3d_run`."""
    from napari_selfdiff.blind.pupil3d import fit_pupil_3d
    from napari_selfdiff.blind.selfdiff.volume_run import restore_3d

    config = plan.config
    fit = yield from fit_pupil_3d(
        stack, plan.kernel_shape, config.optics, config.stack3d.z_step_um,
        evidence_from=config.stack3d.evidence_from, iterations=config.stack3d.fit_iterations,
        seed=seed, cancel=cancel,
    )  # fmt: skip
    image, guard = restore_3d(stack, fit.psf, config, plan.device, cancel, guard=False)
    found = None
    if fit.reliable:
        wavelength = config.optics.wavelength
        pupil = Aberrations(fit.coefficients, fit.pupil_radius, fit.grid, False, wavelength, False)
        found = [pupil]
    else:
        logger.warning("pupil fit not trusted (%s): the aberration-free PSF is used", fit.reason)
    extra = {
        "guards": [Guard(fit.evidence, True, guard.noise)],
        "method": "pupil-3d",
        "aberrations": found,
    }
    return image[:, None], [fit.psf], [], "richardson_lucy", extra


def classic_run(
    problem: Problem,
    plan: RunPlan,
    seed: int,
    start: float,
    cancel: threading.Event | None,
    evaluate: Any,
    noise: NoiseModel | None,
) -> Generator[Progress, None, tuple]:
    """The classic PSF and the guarded restoration; self-diffusion for the groups it flags.

    In the cascade (``plan.method == "classic+selfdiff"``), a plane group whose classic PSF
    the guard does not trust is solved again by self-diffusion, and that PSF restored by the
    same noise-aware TV without a second guard (self-diffusion's PSF is the second opinion).
    """
    planes, groups = problem.planes, plane_groups(len(problem.planes), plan.config)
    classic = plan.config.classic
    cascade = plan.method == "classic+selfdiff" and plan.restore == "tv"
    parts = 3 if cascade else 2
    psfs = yield from renumbered(
        classic_psfs(
            planes, groups, plan.kernel_size, noise, plan.config.classic, start=start, cancel=cancel
        ),
        0,
        parts,
        "estimate_psf",
    )
    if plan.restore == "richardson_lucy":  # asked for explicitly: RL-TV, no guard
        from napari_selfdiff.blind.selfdiff.restore import restore_groups

        estimates = yield from renumbered(
            restore_groups(planes, psfs, plan.config, plan.device, start=start, cancel=cancel),
            1, parts, "restore",
        )  # fmt: skip
        return estimates, psfs, [], "richardson_lucy", {"guards": [], "method": "classic"}
    estimates, guards = yield from renumbered(
        restore_guarded(
            planes, groups, psfs, noise, classic, guard=plan.config.guard, start=start, cancel=cancel
        ),
        1, parts, "restore",
    )  # fmt: skip
    flagged = [index for index, guard in enumerate(guards) if not guard.deconvolved]
    if not (cascade and flagged):
        if cascade:  # the self-diffusion part was not needed: the run is complete
            yield Progress(0, 1, 1, 1, 1, 1, float("nan"), time.perf_counter() - start, stage="restore",
                           part=parts - 1, n_parts=parts)  # fmt: skip
        return estimates, psfs, [], "tv", {"guards": guards, "method": "classic"}
    fallback = plan.fallback() if plan.device is None else plan  # self-diffusion's device and preset
    found = yield from renumbered(
        selfdiff_run(problem, fallback, seed, start, cancel, evaluate, noise), 2, parts
    )
    _, sd_psfs, history, _, extra = found
    # Only the flagged groups are restored again (self-diffusion's PSF is the second opinion).
    restored, _ = drive(
        restore_guarded(
            planes, [groups[i] for i in flagged], [sd_psfs[i] for i in flagged], noise, classic,
            guard=False, measure=False, start=start, cancel=cancel,
        )
    )  # fmt: skip
    for index in flagged:
        estimates[groups[index]] = restored[groups[index]]
        psfs[index] = sd_psfs[index]
        guards[index] = Guard(guards[index].reliability, True, guards[index].noise)
    extra.update(guards=guards, method="classic+selfdiff", network_plan=fallback)
    return estimates, psfs, history, "tv", extra


def _full_scale(
    problem: Problem,
    plan: RunPlan,
    seed: int,
    start: float,
    cancel: threading.Event | None,
    evaluate: Any,
    noise: NoiseModel | None,
) -> Generator[Progress, None, tuple]:
    """The paper's estimate at full scale, retried in tiles when asked; then RL-TV if planned.

    With the Zernike model and a restoration from the PSF (not the network's image), each
    group's PSF is oriented by the data first (:func:`.engine.stages.orientation.orient_psf`).
    """
    config, device, planes = plan.config, plan.device, problem.planes
    common = dict(batch_planes=plan.batch_planes, start=start, cancel=cancel)
    restore, tiling = plan.restore, None
    from napari_selfdiff.blind.selfdiff.multiscale import full_scale
    from napari_selfdiff.blind.selfdiff.restore import restore_groups
    from napari_selfdiff.blind.selfdiff.tiling import solve_tiled

    estimate = full_scale(planes, plan.kernel_size, config, device, seed, evaluate=evaluate, **common)
    failure = None
    try:
        estimates, psfs, history, pupils = yield from estimate
    except OutOfMemory as error:
        if plan.on_out_of_memory != "tile":
            raise
        failure = str(error)
    if failure is not None:
        # Outside the except clause, so the failed run's frames (and its device tensors)
        # are no longer held by the traceback when the memory is handed back.
        del estimate
        gc.collect()
        if device.type == "cuda":
            import torch

            torch.cuda.empty_cache()
        overlap, tile = 2 * plan.kernel_size, min(plan.shape)
        while True:  # smaller tiles until one fits (tile_for raises below four kernel sizes)
            tile = tile_for(planes, plan, below=tile)
            restore = resolve_restore(config, tile, tile)  # for the tiles the networks fit
            logger.warning("%s; retrying in %d x %d tiles overlapping by %d px", failure, tile, tile, overlap)
            try:
                estimates, psfs, history, pupils = yield from solve_tiled(
                    planes, plan.kernel_size, config, device, seed, tile, overlap,
                    network_tiles=restore == "network", **common,
                )  # fmt: skip
                break
            except OutOfMemory as error:
                failure = str(error)
        tiling = Tiling(tile=tile, overlap=overlap)
    aberrations = _aberrations(pupils, plan)
    if aberrations is not None and restore != "network":
        groups = plane_groups(len(planes), config)
        for index, members in enumerate(groups):
            psfs[index], rotated = orient_psf(group_image(planes[members]), psfs[index], noise)
            if rotated:
                aberrations[index] = aberrations[index].rotated()
    if restore == "richardson_lucy":
        # Drained, not yielded: it takes a small fraction of the blind run (0.3 s after 2 min
        # on a 255 x 255 image, CPU), and its events would restart the progress fraction.
        estimates = drive(restore_groups(planes, psfs, config, device, cancel=cancel))
    return estimates, psfs, history, restore, {"tiling": tiling, "aberrations": aberrations}


def _aberrations(pupils: list[np.ndarray], plan: RunPlan) -> list[Aberrations] | None:
    """The Zernike model's read-outs as typed :class:`Aberrations` (None for the free model)."""
    if not pupils:
        return None
    net = plan.config.kernel_net
    from napari_selfdiff.blind.selfdiff.nets.pupil_generator import PupilSampling

    sampling = PupilSampling.plan(plan.kernel_size, plan.config.optics)
    noll = list(range(4, net.zernike_modes + 1))
    return [Aberrations.from_readout(values, noll, sampling.grid, plan.config.optics) for values in pupils]


def _reduced_scale(
    problem: Problem, plan: RunPlan, seed: int, start: float, cancel: threading.Event | None
) -> Generator[Progress, None, tuple]:
    """The PSF at reduced scale on a window, refitted at full resolution, then RL-TV if planned."""
    from napari_selfdiff.blind.refit import refit_on_window
    from napari_selfdiff.blind.selfdiff.multiscale import reduced_scale
    from napari_selfdiff.blind.selfdiff.restore import restore_groups

    config, device, planes = plan.config, plan.device, problem.planes
    # blind, [refit,] [RL-TV restoration: the noise-aware one is the caller's]
    stages = 1 + config.psf_refit.enabled + (plan.restore == "richardson_lucy")
    found = yield from renumbered(
        reduced_scale(
            planes, plan.kernel_size, config, device, seed, factor=plan.factor,
            reduced_size=plan.reduced_size, psf_window=plan.psf_window, start=start, cancel=cancel,
        ),
        0, stages, "estimate_psf",
    )  # fmt: skip
    psf = found.psf
    rows, cols = found.window
    if config.psf_refit.enabled:
        seen = np.ascontiguousarray(planes[..., rows, cols])  # where the PSF came from
        psf = yield from renumbered(
            refit_on_window(seen, psf, config, device, start=start, cancel=cancel), 1, stages, "refit_psf"
        )
    estimates = planes
    if plan.restore == "richardson_lucy":
        estimates = yield from renumbered(
            restore_groups(planes, [psf], config, device, start=start, cancel=cancel),
            stages - 1,
            stages,
            "restore",
        )
    multiscale = Multiscale(
        factor=plan.factor,
        kernel_size=plan.reduced_size,
        window=(rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start),
        psf=found.reduced_psf,
        psf_refit=config.psf_refit.enabled,
    )
    return estimates, [psf], found.history, plan.restore, {"multiscale": multiscale}
