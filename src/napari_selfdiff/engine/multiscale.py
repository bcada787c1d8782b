"""Large blurs in large images: estimate the PSF at reduced scale, restore at full scale.

Blind self-diffusion identifies a kernel from edges longer than the blur, and its cost
grows with the number of pixels. A photograph with 30-40 px of camera shake is hard on
both counts: the kernel is large for the networks, and a crop small enough to be fast
holds few such edges. Averaging the image down by an integer ``factor`` shrinks the blur
by the same factor and lets a window of the same size see ``factor**2`` times the scene.
The pipeline (the classic coarse estimate, fine restoration split of blind deblurring):

1. the image is averaged over ``factor`` x ``factor`` pixel blocks (:func:`downscale`);
   a blur ``k`` becomes, to first order, ``k`` summed over the same blocks;
2. the PSF is estimated blind by self-diffusion on the reduced image, with a kernel of
   ``ceil(K / factor)`` (odd) pixels, on its window richest in coherent edges
   (:func:`.regions.informative_window`) when ``psf_window`` is given;
3. the PSF is interpolated back to the full-resolution grid (:func:`upscale_psf`);
4. unless ``config.psf_refit.enabled`` is False, the window is restored with it and the
   PSF is refitted at full resolution on the restoration's strongest edges, near the
   upscaled one (:mod:`.psf_refit`), which recovers detail finer than ``factor`` pixels, and
5. the full-resolution image is restored non-blind by Richardson-Lucy with the PSF (with
   the total-variation term of ``config.restore_tv_weight``, :mod:`.classic`), which takes
   seconds where a blind solve at full resolution takes minutes to hours.

On SelfDeblur's real photos (fast preset, CPU) this restores all three at full resolution,
where blind estimation at full scale failed on two (``docs/benchmarks/README.md``). The
image is restored by Richardson-Lucy, not by the networks: the network's non-blind
restoration (:func:`.nonblind.deconvolve` with ``method="selfdiff"`` and the returned PSF) was
2.6-3.9 dB worse on the two full Levin images tried, in minutes instead of a fraction of a second.

The public entry is :func:`.blind.iter_deblur` with ``scale`` >= 2 (or ``"auto"``, which
chooses 2 where it measured better; :func:`.blind.resolve_scale`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from .._checks import InputError, NanPolicy, check_kernel_size, from_planes, to_planes
from .._device import describe_device, resolve_device
from ..config import DEFAULT_PSF_WINDOW, DeblurConfig
from .classic import restore_planes
from .compute import plan_execution
from .intensity import to_dtype
from .psf_refit import refit_psf
from .regions import informative_window
from .results import DeblurResult, Progress, renumbered
from .solver import default_config, plane_groups, solve_planes

__all__ = ["downscale", "iter_deblur_multiscale", "reduced_kernel_size", "refit_on_window", "upscale_psf"]


def downscale(planes: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks of the last two axes (trailing rows and columns dropped)."""
    height, width = planes.shape[-2] // factor * factor, planes.shape[-1] // factor * factor
    blocks = planes[..., :height, :width].reshape(
        *planes.shape[:-2], height // factor, factor, width // factor, factor
    )
    return blocks.mean(axis=(-3, -1))


def reduced_kernel_size(kernel_size: int, factor: int) -> int:
    """Odd side, at least 3, whose blocks of ``factor`` pixels cover a ``kernel_size`` kernel.

    For ``factor`` 2 this equals :func:`.pyramid.coarse_kernel_size` (the coarse-to-fine
    start's rule, reasoned there in taps) for every odd kernel size.
    """
    return max(3, math.ceil(kernel_size / factor) // 2 * 2 + 1)


def _linear_weights(n_fine: int, n_coarse: int, factor: int) -> np.ndarray:
    """(n_fine, n_coarse) linear interpolation between centred grids of spacing 1 and ``factor``.

    Fine pixel ``j`` lies at ``(j - c_fine) / factor`` coarse pixels from the coarse centre
    ``c_coarse``; the coarse kernel is taken as zero one pixel beyond its box.
    """
    position = (n_coarse - 1) / 2 + (np.arange(n_fine) - (n_fine - 1) / 2) / factor
    weights = np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(n_coarse)[None, :]))
    return weights


def upscale_psf(psf: np.ndarray, factor: int, kernel_size: int) -> np.ndarray:
    """A (K, K) full-resolution PSF from one estimated at ``1 / factor`` scale.

    Bilinear interpolation on grids sharing their centre pixel (so the kernel is not
    shifted), then clipped at zero and normalised to unit sum. The coarse estimate holds
    the kernel summed over blocks, so detail finer than ``factor`` pixels is not recovered.
    """
    weights = _linear_weights(kernel_size, psf.shape[-1], factor)
    fine = np.clip(weights @ np.asarray(psf, dtype=np.float64) @ weights.T, 0.0, None)
    total = fine.sum()
    if total <= 0:
        raise ValueError("the coarse PSF has no positive mass")
    return (fine / total).astype(np.float32)


def refit_on_window(
    window: np.ndarray,
    psf: np.ndarray,
    config: DeblurConfig,
    device: torch.device,
    *,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """``psf`` refitted at full resolution on (Z, C, H, W) ``window`` (step 4 of the module).

    The window is restored with ``psf`` (:func:`restore_planes`; its progress is yielded) and
    the kernel refitted on that restoration's strongest edges with ``config.psf_refit``
    (:func:`.psf_refit.refit_psf`). The refit is invariant to affine intensity maps, so it
    takes the window and its restoration in input intensities.
    """
    trial = yield from restore_planes(window, psf, config, device, start=start, cancel=cancel)
    refit = config.psf_refit
    refitted = refit_psf(
        *(torch.as_tensor(array, device=device) for array in (window, trial, psf)),
        prior_weight=refit.prior_weight, edge_fraction=refit.edge_fraction,
        floor=refit.floor, reference_area=refit.reference_area, iterations=refit.iterations,
    )  # fmt: skip
    return refitted.cpu().numpy()


def iter_deblur_multiscale(
    image: np.ndarray,
    kernel_size: int,
    config: DeblurConfig | None = None,
    *,
    factor: int = 2,
    psf_window: int | None = DEFAULT_PSF_WINDOW,
    device: str | torch.device | None = None,
    seed: int = 0,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    keep_dtype: bool = False,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, DeblurResult]:
    """PSF estimated blind at ``1 / factor`` scale, image restored at full scale (see module).

    Parameters
    ----------
    image : numpy.ndarray
        Blurred (Y, X), (Y, X, C), or a (Z, Y, X) stack with one PSF (``config.stack_mode``
        "shared" or "shared-channels").
    kernel_size : int
        Side K of the full-resolution PSF: odd, >= 3, at most half the image.
    config : DeblurConfig, optional
        Blind solver parameters for the reduced image, and ``restore_iterations`` and
        ``restore_tv_weight`` of the full-resolution restoration (default as in
        :func:`.blind.iter_deblur`).
    factor : int
        Integer reduction, >= 2.
    psf_window : int or None
        Side of the window of the reduced image the PSF is estimated on (its most
        informative one); None: the whole reduced image.
    device, seed, axes, nan_policy, keep_dtype, cancel
        As in :func:`.blind.iter_deblur`, which calls this at ``scale > 1``.

    Yields
    ------
    Progress
        The blind stage, the trial restoration of the PSF refit (when enabled) and the
        restoration, as parts of 3 (or 2) (``plane``/``n_planes`` count the stages; the
        restorations are short, so the time left is overestimated during the blind stage).

    Returns
    -------
    DeblurResult
        Full-resolution image and (K, K) PSF; ``extra["multiscale"]`` records the factor,
        the reduced kernel size, the window, the reduced PSF and whether it was refitted.
    """
    start = time.perf_counter()
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 2:
        raise InputError(f"`factor` must be an integer >= 2, got {factor!r}")
    planes, layout = to_planes(image, axes, nan_policy=nan_policy)
    kernel_size = check_kernel_size(kernel_size, layout.height, layout.width)
    torch_device = resolve_device(device)
    config = config if config is not None else default_config(torch_device)
    if len(plane_groups(planes.shape[0], config)) != 1:
        raise InputError(
            "the multiscale pipeline estimates one PSF: solve a stack with "
            "`stack_mode` 'shared' or 'shared-channels', or its planes one at a time"
        )
    coarse = downscale(planes, factor)
    coarse_size = reduced_kernel_size(kernel_size, factor)
    if psf_window is not None:
        if (
            isinstance(psf_window, bool)
            or not isinstance(psf_window, (int, np.integer))
            or psf_window < 4 * coarse_size
        ):
            raise InputError(
                f"`psf_window` must be an integer >= {4 * coarse_size} (four reduced kernels), "
                f"got {psf_window!r}"
            )
        rows, cols = informative_window(coarse, int(psf_window), coarse_size)
    else:
        rows, cols = slice(0, coarse.shape[-2]), slice(0, coarse.shape[-1])
    region = np.ascontiguousarray(coarse[..., rows, cols])
    if 2 * coarse_size > min(region.shape[-2:]):
        raise InputError(
            f"at 1/{factor} scale the {kernel_size} px PSF is {coarse_size} px, too large for the "
            f"{region.shape[-2]} x {region.shape[-1]} region it is estimated on (at least twice the "
            "kernel is needed): use a smaller `scale` or a larger `psf_window`"
        )
    stages = 3 if config.psf_refit.enabled else 2  # blind, [trial restoration,] restoration
    _, psfs, history = yield from renumbered(
        solve_planes(region, coarse_size, config, torch_device, seed, start=start, cancel=cancel), 0, stages
    )
    psf = upscale_psf(psfs[0], factor, kernel_size)
    window = slice(rows.start * factor, rows.stop * factor), slice(cols.start * factor, cols.stop * factor)

    if config.psf_refit.enabled:
        seen = np.ascontiguousarray(planes[..., window[0], window[1]])  # where the PSF came from
        psf = yield from renumbered(
            refit_on_window(seen, psf, config, torch_device, start=start, cancel=cancel), 1, stages
        )
    estimates = yield from renumbered(
        restore_planes(planes, psf, config, torch_device, start=start, cancel=cancel), stages - 1, stages
    )
    multiscale: dict[str, Any] = {
        "factor": int(factor),
        "kernel_size": coarse_size,
        "window": {"top": window[0].start, "left": window[1].start,
                   "height": window[0].stop - window[0].start, "width": window[1].stop - window[1].start},
        "psf": psfs[0].tolist(),
        "psf_refit": config.psf_refit.enabled,
        "restoration": {"method": "richardson_lucy", "iterations": config.restore_iterations,
                        "tv_weight": config.restore_tv_weight},
    }  # fmt: skip
    return DeblurResult(
        image=to_dtype(from_planes(estimates, layout), layout.dtype if keep_dtype else None),
        psf=psf,
        history=history,
        config=config.to_dict(),
        seed=seed,
        device=describe_device(torch_device),
        seconds=time.perf_counter() - start,
        method="selfdiff-blind-multiscale",
        extra={
            "kernel_size": kernel_size,
            "axes": layout.axes,
            "compute": plan_execution(config.compute, torch_device).describe(),
            "multiscale": multiscale,
            "restore": "richardson_lucy",
        },
    )
