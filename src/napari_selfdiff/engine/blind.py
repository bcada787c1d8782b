"""Blind deconvolution, the public entry: choose the scale, then run self-diffusion on it.

A run estimates the PSF either at the image's own resolution (:mod:`.solver`, the paper's
algorithm) or at a reduced scale and restores the full image with it (:mod:`.multiscale`).
:func:`resolve_scale` makes that choice from the measured evidence (``"auto"``, the default)
or takes an explicit factor; :func:`iter_deblur` runs the chosen pipeline and :func:`deblur`
drains it. At full scale the returned image is the image network's (the paper) or
Richardson-Lucy's with the estimated PSF, as ``config.restore`` says (``"auto"``: by the pixels
per iteration, :func:`.solver.resolve_restore`). The widget,
the command line, batch and the benchmarks all call these, so every caller makes the same
choice and drives the same loop.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any, Literal

import numpy as np
import torch

from .._checks import InputError, NanPolicy, check_kernel_size, check_scale, to_planes
from .._device import resolve_device
from ..config import CPU_HALF_SCALE_FROM, DEFAULT_PSF_WINDOW, LONG_BLUR, DeblurConfig, Scale
from .multiscale import iter_deblur_multiscale, reduced_kernel_size
from .results import DeblurResult, Progress
from .solver import ProgressCallback, default_config, drive, iter_deblur_full_scale, plane_groups

__all__ = ["deblur", "iter_deblur", "resolve_scale"]


def resolve_scale(
    scale: Scale,
    image: np.ndarray,
    kernel_size: int,
    config: DeblurConfig | None = None,
    *,
    device: str | torch.device | None = None,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    full_scale_for: str | None = None,
) -> int:
    """The integer factor a run with ``scale`` uses: ``scale`` itself, or the choice for ``"auto"``.

    ``"auto"`` gives 2 when the run estimates one PSF (a single image, or a stack in a "shared"
    stack mode), the half-scale image holds at least twice the reduced PSF, and either the PSF
    is long (``kernel_size >= LONG_BLUR``) or the run is on the CPU and ``kernel_size >=
    CPU_HALF_SCALE_FROM``; otherwise 1 (blind at full resolution). On a GPU shorter blurs keep
    full scale: the paper preset there (28.59 / 26.20 dB on the full Levin images) is above the
    CPU's multiscale figures, and multiscale with the paper preset is not measured yet.

    ``full_scale_for`` names what needs the full-resolution run, when something does (scores
    against a ground truth, tiling): ``"auto"`` then gives 1, and a factor above 1 is refused.
    The image (with ``axes`` and ``nan_policy`` as in :func:`iter_deblur`) and ``kernel_size``
    are validated either way, so a caller can choose before any work.

    Raises
    ------
    InputError
        A bad ``scale``, image or kernel size, or a factor above 1 with ``full_scale_for``.
    """
    scale = check_scale(scale)
    planes, layout = to_planes(image, axes, nan_policy=nan_policy)
    kernel_size = check_kernel_size(kernel_size, layout.height, layout.width)
    if full_scale_for is not None:
        if scale not in ("auto", 1):
            raise InputError(
                f"`scale` must be 1 or 'auto' with {full_scale_for}, which needs the full-resolution run; "
                f"got {scale}"
            )
        return 1
    if scale != "auto":
        return scale
    torch_device = resolve_device(device)
    config = config if config is not None else default_config(torch_device)
    one_psf = len(plane_groups(planes.shape[0], config)) == 1
    reduced = reduced_kernel_size(kernel_size, 2)
    fits = 2 * reduced <= min(layout.height, layout.width) // 2 and 4 * reduced <= DEFAULT_PSF_WINDOW
    on_cpu = torch_device.type == "cpu"
    wanted = kernel_size >= LONG_BLUR or (on_cpu and kernel_size >= CPU_HALF_SCALE_FROM)
    return 2 if one_psf and fits and wanted else 1


def iter_deblur(
    image: np.ndarray,
    kernel_size: int,
    config: DeblurConfig | None = None,
    *,
    scale: Scale = "auto",
    psf_window: int | None = DEFAULT_PSF_WINDOW,
    device: str | torch.device | None = None,
    seed: int = 0,
    ground_truth: np.ndarray | None = None,
    true_psf: np.ndarray | None = None,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    keep_dtype: bool = False,
    cancel: threading.Event | None = None,
    on_out_of_memory: Literal["raise", "tile"] = "raise",
) -> Generator[Progress, None, DeblurResult]:
    """Blind deconvolution by self-diffusion, as a generator of :class:`Progress` events.

    Parameters
    ----------
    image : numpy.ndarray
        Blurred image: (Y, X), (Y, X, C) with one shared PSF, or a (Z, Y, X) stack; any real
        numeric dtype.
    kernel_size : int
        Side K of the square PSF to estimate: an odd integer >= 3, at most half the image.
    config : DeblurConfig, optional
        Solver parameters; default: the "paper" preset on CUDA, the "fast" preset elsewhere.
        Its ``restore`` says whether the returned image is the network's or Richardson-Lucy's
        with the estimated PSF (``restore_iterations``, ``restore_tv_weight``), or lets the
        image's size choose (``"auto"``, the fast preset's; ``extra["restore"]`` records it).
    scale : "auto" or int
        1: the PSF is estimated blind at full resolution (:mod:`.solver`, the paper's
        algorithm). A factor ``f >= 2``: estimated on the image averaged down by ``f``, scaled
        back and the image restored by Richardson-Lucy (:mod:`.multiscale`). ``"auto"``
        (default): :func:`resolve_scale` chooses, and keeps full resolution whenever
        ``ground_truth``, ``true_psf`` or tiling is asked for.
    psf_window : int or None
        At ``scale > 1``: side of the reduced image's window the PSF is estimated on (its
        richest in coherent edges); None: the whole reduced image.
    device : {"auto", "cpu", "cuda", "mps"}, optional
        Where to compute; "auto" (default) picks CUDA, then Apple MPS, then CPU.
    seed : int
        Seed of the network initialisation and of every noise draw.
    ground_truth : numpy.ndarray, optional
        Sharp image with the input's shape; PSNR/SSIM are then recorded per outer step.
    true_psf : numpy.ndarray, optional
        True PSF; its MNC with the estimate is then recorded per outer step.
    axes : {"YX", "YXC", "ZYX", "ZYXC"}, optional
        Meaning of the image axes when the default inference is not wanted.
    nan_policy : {"raise", "replace"}
        NaN or infinite pixels raise, or are replaced by the median of the finite pixels.
    keep_dtype : bool
        Return the image in the input's dtype (integers rounded and clipped) instead of float32.
    cancel : threading.Event, optional
        Set it to stop the run within one inner iteration; :class:`Cancelled` is raised.
    on_out_of_memory : {"raise", "tile"}
        When the run does not fit in device memory (estimated before starting, or a CUDA
        out-of-memory error during it): raise :class:`OutOfMemory` with the estimate and
        the options, or retry in overlapping tiles sharing one PSF (:mod:`.tiling`); the
        result's ``extra["tiling"]`` then records the tile size and overlap.

    Yields
    ------
    Progress
        Every ``config.progress_every`` inner iterations, and at the end of each outer step
        with the current image and PSF. At ``scale > 1`` the blind stage is part 1 of 2 and
        the restoration part 2 (``plane`` / ``n_planes``).

    Returns
    -------
    DeblurResult
        Sharp image of the input's shape, PSF (K, K), or (Z, K, K) for per-plane stacks,
        history, config, seed and device; at ``scale > 1``, ``extra["multiscale"]`` records
        the factor, the reduced kernel size, the window and the reduced PSF.

    Raises
    ------
    InputError
        The image, kernel size, scale or ground truth break the contract (message says which).
    OutOfMemory
        The run does not fit in device memory and ``on_out_of_memory="raise"``.
    TypeError
        The image dtype is boolean, complex or not numeric.
    Cancelled
        The run was cancelled.
    """
    needs = [
        name
        for name, asked in (
            ("scoring against a ground truth", ground_truth is not None),
            ("scoring against a true PSF", true_psf is not None),
            ("tiling on out-of-memory", on_out_of_memory == "tile"),
        )
        if asked
    ]
    torch_device = resolve_device(device)
    config = config if config is not None else default_config(torch_device)
    factor = resolve_scale(
        scale,
        image,
        kernel_size,
        config,
        device=torch_device,
        axes=axes,
        nan_policy=nan_policy,
        full_scale_for=" and ".join(needs) or None,
    )
    common = dict(device=torch_device, seed=seed, axes=axes, nan_policy=nan_policy, cancel=cancel)
    if factor > 1:
        return (
            yield from iter_deblur_multiscale(
                image, kernel_size, config, factor=factor, psf_window=psf_window,
                keep_dtype=keep_dtype, **common,
            )
        )  # fmt: skip
    return (
        yield from iter_deblur_full_scale(
            image, kernel_size, config, ground_truth=ground_truth, true_psf=true_psf,
            on_out_of_memory=on_out_of_memory, keep_dtype=keep_dtype, **common,
        )
    )  # fmt: skip


def deblur(
    image: np.ndarray,
    kernel_size: int,
    config: DeblurConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> DeblurResult:
    """Blind deconvolution by self-diffusion: recover the sharp image and the PSF.

    Drains :func:`iter_deblur` (see there for every option: ``scale``, ``device``, ``seed``,
    ``ground_truth``, ``true_psf``, ``axes``, ``nan_policy``, ``keep_dtype``, ``cancel``,
    ...). ``progress`` receives each :class:`Progress` event; returning False from it cancels
    the run.

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
    >>> result.psf.shape, result.extra["multiscale"]["kernel_size"]
    ((13, 13), 7)
    """
    return drive(iter_deblur(image, kernel_size, config, **options), progress)
