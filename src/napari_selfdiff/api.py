"""The public entry points: :func:`deblur`, :func:`iter_deblur` and :func:`deconvolve`.

A blind run reads top-down:

1. validate the inputs once into a :class:`~._checks.Problem` (the image as planes);
2. plan once (:func:`.policy.plan_run`): the scale, the restoration, the batching;
3. run the stages (:mod:`.engine.stages`), each a generator of progress events: the PSF
   estimated at full scale (the paper) or at reduced scale then refitted, the image restored
   by Richardson-Lucy where the plan says so, or the run retried in tiles when it does not fit;
4. finish once: the image back in the input's layout, a typed :class:`DeblurResult`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from napari_selfdiff.blind.guarded import restore_guarded
from napari_selfdiff.config import DEFAULT_PSF_WINDOW, DeblurConfig, Scale
from napari_selfdiff.errors import InputError, NumericalError
from napari_selfdiff.inputs import (
    NanPolicy,
    Problem,
    check_ground_truth,
    check_run_options,
    constant_planes,
    from_planes,
    make_problem,
    plane_groups,
)
from napari_selfdiff.metrics import ground_truth_scorer
from napari_selfdiff.noise import NoiseModel
from napari_selfdiff.ops.intensity import to_dtype
from napari_selfdiff.plan.policy import RunPlan, plan_run
from napari_selfdiff.resources import describe_device
from napari_selfdiff.results import DeblurResult, Progress, ProgressCallback, drive
from napari_selfdiff.runs import classic_run, selfdiff_run, stack3d_run

if TYPE_CHECKING:
    import torch

    from napari_selfdiff.blind.selfdiff.planes import Evaluate

__all__ = ["deblur", "iter_deblur"]

logger = logging.getLogger(__name__)


#: How each method's do-no-harm check measures its PSF (:class:`~.results.DeblurResult`).
_MEASURES = {"selfdiff-3d": "containment", "pupil-3d": "likelihood-ratio"}


def iter_deblur(
    image: np.ndarray | Problem,
    kernel_size: int | tuple[int, int, int],
    config: DeblurConfig | None = None,
    *,
    scale: Scale = "auto",
    psf_window: int | None = DEFAULT_PSF_WINDOW,
    device: str | torch.device | None = None,
    seed: int = 0,
    ground_truth: np.ndarray | None = None,
    true_psf: np.ndarray | None = None,
    evaluate: Evaluate | None = None,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    keep_dtype: bool = False,
    cancel: threading.Event | None = None,
    on_out_of_memory: Literal["raise", "tile"] = "raise",
    noise: NoiseModel | None = None,
    plan: RunPlan | None = None,
    z_step: float | None = None,
    pixel_size: float | None = None,
) -> Generator[Progress, None, DeblurResult]:
    """:func:`deblur` as a generator of :class:`Progress` events, returning the result.

    The widget, the CLI and batch drive this loop (``yield from`` or
    :func:`napari_selfdiff.results.drive`); :func:`deblur` documents every parameter.

    Yields
    ------
    Progress
        Every ``config.progress_every`` inner iterations, and at the end of each outer step
        with the current image and PSF; ``stage``/``part``/``n_parts`` place it in the run.

    Returns
    -------
    DeblurResult
        Sharp image of the input's shape, the PSF (its kind in ``psf_kind``: "2d" (K, K), "per-plane"
        (Z, K, K) or "3d" (kz, k, k)) and the typed record of the run (``method``, ``restore``,
        ``plan``, ``multiscale``, ``tiling``, ``reliability`` and what it measures).

    """
    _check_plan_alone(
        plan, config=(config, None), scale=(scale, "auto"), psf_window=(psf_window, DEFAULT_PSF_WINDOW),
        device=(device, None), on_out_of_memory=(on_out_of_memory, "raise"), z_step=(z_step, None),
        pixel_size=(pixel_size, None),
    )  # fmt: skip
    start = time.perf_counter()
    seed = check_run_options(seed, cancel)
    if isinstance(image, Problem):  # already validated and converted (the widget's, for its plan)
        whole = image
    else:
        whole = make_problem(image, kernel_size, axes, nan_policy=nan_policy)
    if evaluate is None:
        truth = check_ground_truth(ground_truth, whole.layout)
        evaluate = ground_truth_scorer(truth, true_psf, whole.lateral_size)
    if plan is None:
        plan = plan_run(
            whole,
            config,
            scale=scale,
            psf_window=psf_window,
            device=device,
            on_out_of_memory=on_out_of_memory,
            z_step=z_step,
            pixel_size=pixel_size,
        )
    if plan.method in ("selfdiff-3d", "pupil-3d"):  # a blank plane of a stack is data for a 3D PSF
        problem, kept, run_evaluate = whole, None, evaluate
        run = stack3d_run(problem, plan, seed, start, cancel, run_evaluate)
    else:
        problem, kept, run_evaluate = _without_constant_planes(whole, evaluate)
        runner = selfdiff_run if plan.method == "selfdiff" else classic_run
        run = runner(problem, plan, seed, start, cancel, run_evaluate, noise)
    estimates, psfs, history, restore, extra = yield from run
    guards = extra.pop("guards", None)
    if guards is None and restore == "tv":
        # Drained, not yielded: seconds after a self-diffusion run of minutes, and its events
        # would restart the progress fraction.
        groups = plane_groups(len(problem.planes), plan.config)
        estimates, guards = drive(
            restore_guarded(
                problem.planes,
                groups,
                psfs,
                noise,
                plan.config.classic,
                guard=plan.config.guard,
                start=start,
                cancel=cancel,
            )
        )
    if kept is not None:
        estimates, psfs = _with_constant_planes(whole, kept, estimates, psfs, plan)
    if not all(np.isfinite(psf).all() for psf in psfs):
        raise NumericalError("the estimated PSF has NaN or infinite values: rescale the input and try again")
    scores: dict[str, float] = {}
    if evaluate is not None:
        scores = evaluate(estimates, psfs[0], np.arange(len(estimates))) if len(psfs) == 1 else {}
    layout = whole.layout
    # The plan that ran a network: the plan itself, a cascade's fallback, or none (NumPy only).
    network = extra.pop("network_plan", plan if plan.device is not None else None)
    three_d = plan.method in ("selfdiff-3d", "pupil-3d")
    return DeblurResult(
        image=to_dtype(from_planes(estimates, layout), layout.dtype if keep_dtype else None),
        psf=psfs[0] if len(psfs) == 1 else np.stack(psfs),
        psf_kind="3d" if three_d else ("2d" if len(psfs) == 1 else "per-plane"),
        history=history,
        config=(network or plan).config.to_dict(network=network is not None),
        seed=seed,
        device=describe_device(network.device) if network is not None else "numpy (host)",
        seconds=time.perf_counter() - start,
        method=extra.pop("method"),
        axes=layout.axes,
        kernel_size=whole.kernel_size,
        restore=restore,
        plan=plan.describe(),
        compute=_execution(network),
        scores=scores,
        noise=guards[0].noise.to_dict() if guards else None,
        reliability=min(g.reliability for g in guards) if guards else None,
        reliability_measure=_MEASURES.get(plan.method, "agreement") if guards else None,
        deconvolved=all(g.deconvolved for g in guards) if guards else None,
        **extra,
    )


def _execution(network: RunPlan | None) -> dict[str, Any] | None:
    """How a network plan computes (precision, layout, compilation); None for a NumPy-only run."""
    if network is None:
        return None
    from napari_selfdiff.blind.selfdiff.compute import plan_execution

    return plan_execution(network.config.compute, network.device).describe()


def _without_constant_planes(problem: Problem, evaluate: Evaluate | None) -> tuple[Problem, Any, Any]:
    """The problem without its constant planes (a blank or NaN-filled plane of a stack).

    Returns the problem to run, the indices of the planes kept (None: all) and ``evaluate``
    with the kept planes' indices mapped back. A wholly constant image is left to the engine,
    which refuses it.
    """
    flat = constant_planes(problem.planes)
    if not flat.any() or flat.all():
        return problem, None, evaluate
    kept = np.flatnonzero(~flat)
    logger.warning("planes %s are constant: passed through unchanged", np.flatnonzero(flat).tolist())
    run_evaluate = None if evaluate is None else (lambda e, p, members: evaluate(e, p, kept[members]))
    return replace(problem, planes=problem.planes[kept]), kept, run_evaluate


def _with_constant_planes(
    whole: Problem, kept: np.ndarray, estimates: np.ndarray, psfs: list, plan: RunPlan
) -> tuple[np.ndarray, list]:
    """The estimates and PSFs of the kept planes put back among the constant ones.

    A constant plane is its own result; where each plane has its PSF, a constant plane's is
    the identity (a centred delta).
    """
    full = whole.planes.copy()
    full[kept] = estimates
    count = len(whole.planes)
    if len(plane_groups(count, plan.config)) == count:  # a PSF per plane
        delta = np.zeros((whole.kernel_size,) * 2, dtype=np.float32)
        delta[whole.kernel_size // 2, whole.kernel_size // 2] = 1.0
        by_plane = [delta] * count
        for index, psf in zip(kept, psfs, strict=True):
            by_plane[index] = psf
        psfs = by_plane
    return full, psfs


def deblur(
    image: np.ndarray | Problem,
    kernel_size: int | tuple[int, int, int],
    config: DeblurConfig | None = None,
    *,
    scale: Scale = "auto",
    psf_window: int | None = DEFAULT_PSF_WINDOW,
    device: str | torch.device | None = None,
    seed: int = 0,
    ground_truth: np.ndarray | None = None,
    true_psf: np.ndarray | None = None,
    evaluate: Evaluate | None = None,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    keep_dtype: bool = False,
    cancel: threading.Event | None = None,
    on_out_of_memory: Literal["raise", "tile"] = "raise",
    noise: NoiseModel | None = None,
    plan: RunPlan | None = None,
    z_step: float | None = None,
    pixel_size: float | None = None,
    progress: ProgressCallback | None = None,
) -> DeblurResult:
    """Blind deconvolution: recover the sharp image and the PSF from one blurred image.

    By default (``config.method="auto"``) the PSF is estimated by the classic blind method and
    the image restored by the noise-aware TV under the do-no-harm guard, with self-diffusion
    for the plane groups the guard does not trust; ``method="selfdiff"`` is the paper's
    algorithm. :func:`iter_deblur` is the same run as a generator.

    Parameters
    ----------
    image : numpy.ndarray or Problem
        Blurred image: (Y, X), (Y, X, C) with one shared PSF, or a (Z, Y, X) stack; or a
        :class:`~napari_selfdiff.inputs.Problem` already made from one (``kernel_size`` and
        ``axes`` are then its own).
    kernel_size : int or tuple of int
        Side K of the square PSF to estimate: an odd integer >= 3, at most half the image; or
        (kz, k, k), a 3D PSF for a (Z, Y, X) stack with ``stack_mode="3d"``.
    config : DeblurConfig, optional
        Run settings; default: the dataclass defaults for the classic pipeline, the device's
        preset (:func:`napari_selfdiff.config.default_config`) where self-diffusion runs.
    scale : "auto" or int
        1: the PSF is estimated at full resolution (the paper). ``f >= 2``: on the image
        averaged down by ``f``, then refitted and the image restored by Richardson-Lucy.
        ``"auto"``: the plan chooses (:mod:`napari_selfdiff.plan.policy`).
    psf_window : int or None
        At ``scale > 1``: side of the reduced image's window the PSF is estimated on; None: all.
    device : {"auto", "cpu", "cuda", "mps"}, optional
        Where to compute; "auto" picks CUDA, then Apple MPS, then CPU.
    seed : int
        Seed of the network initialisation and of every noise draw, in [0, 2**63).
    ground_truth, true_psf : numpy.ndarray, optional
        Sharp image (the input's shape) and PSF to score against: PSNR/SSIM/MNC per outer step
        of a full-scale estimate, and of the result. Scoring never changes the run.
    evaluate : callable, optional
        ``evaluate(estimate, psf, members) -> dict`` called with each plane group's estimate
        ((Z, C, H, W), input intensities) and PSF; replaces the ground-truth scorer.
    axes : {"YX", "YXC", "ZYX", "ZYXC"}, optional
        Meaning of the image axes when the default inference is not wanted.
    nan_policy : {"raise", "replace"}
        NaN or infinite pixels (and a masked array's masked pixels) raise, or are replaced by
        the median of the other pixels. A stack's constant planes (a blank plane, or one wholly
        replaced) are passed through unchanged, with the identity as their PSF.
    keep_dtype : bool
        Return the image in the input's dtype (integers rounded and clipped; float16 clipped to
        its range, with a warning) instead of float32.
    cancel : threading.Event, optional
        Set it to stop the run within one inner iteration; :class:`Cancelled` is raised.
        Anything without ``is_set()`` is refused.
    on_out_of_memory : {"raise", "tile"}
        When the run does not fit in device memory: raise :class:`OutOfMemory`, or retry in
        overlapping tiles sharing one PSF (the result's ``tiling``). Tiling needs full scale.
    noise : NoiseModel, optional
        The noise of the image in its own units (e.g. ``NoiseModel.from_camera(gain, offset,
        read_noise)`` for a camera's counts); estimated from each plane when None. Used by the
        noise-aware restoration (``restore="tv"``) and the classic PSF estimate.
    plan : RunPlan, optional
        A plan already made for this image (:func:`napari_selfdiff.plan.policy.plan_run`); else
        one is made here. A plan holds the config, scale, window, device, out-of-memory choice
        and voxel size: passing any of those beside it raises :class:`InputError`.
    z_step, pixel_size : float, optional
        The stack's z step and pixel size in um (``stack_mode="3d"``: the voxel aspect of the
        PSF prior); they replace ``config.stack3d``'s.

    progress : callable, optional
        Receives each :class:`Progress` event; returning False from it cancels the run.

    Returns
    -------
    DeblurResult
        Sharp image of the input's shape, the PSF (its kind in ``psf_kind``: "2d" (K, K), "per-plane"
        (Z, K, K) or "3d" (kz, k, k)) and the typed record of the run (``method``, ``restore``,
        ``plan``, ``multiscale``, ``tiling``, ``reliability`` and what it measures).

    Raises
    ------
    InputError
        The image, kernel size, scale or ground truth break the contract (message says which),
        or ``plan`` comes with settings it already decides.
    OutOfMemory
        The run does not fit in device memory and ``on_out_of_memory="raise"``.
    TypeError
        The image dtype is boolean, complex, a date or not numeric.
    NumericalError
        The result or the PSF has NaN or infinite values (nothing is returned).
    Cancelled
        The run was cancelled.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_selfdiff import DeblurConfig, deblur
    >>> blurred = np.random.default_rng(0).random((32, 32))
    >>> result = deblur(blurred, 5, DeblurConfig.preset("tiny"), device="cpu")
    >>> result.image.shape, result.psf.shape
    ((32, 32), (5, 5))
    >>> photo = np.random.default_rng(1).random((96, 96))
    >>> result = deblur(photo, 13, DeblurConfig.preset("tiny"), scale=2, device="cpu")
    >>> result.psf.shape, result.multiscale.kernel_size
    ((13, 13), 7)
    """
    run = iter_deblur(
        image, kernel_size, config, scale=scale, psf_window=psf_window, device=device, seed=seed,
        ground_truth=ground_truth, true_psf=true_psf, evaluate=evaluate, axes=axes,
        nan_policy=nan_policy, keep_dtype=keep_dtype, cancel=cancel, on_out_of_memory=on_out_of_memory,
        noise=noise, plan=plan, z_step=z_step, pixel_size=pixel_size,
    )  # fmt: skip
    return drive(run, progress)


def _check_plan_alone(plan: RunPlan | None, **settings: tuple[Any, Any]) -> None:
    """Refuse settings given beside a ``plan``, which already decided them (no silent override)."""
    if plan is None:
        return
    given = [name for name, (value, default) in settings.items() if value is not default and value != default]
    if given:
        raise InputError(
            f"`plan` already decides {', '.join(given)}: pass the plan alone, or those settings "
            "without a plan"
        )
