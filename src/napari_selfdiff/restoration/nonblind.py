"""Non-blind deconvolution with a known PSF: self-diffusion, Richardson-Lucy, Wiener.

All three run in torch on the chosen device and share the blind solver's input
validation, intensity mapping, progress events and result type.

* ``"selfdiff"``: the original self-diffusion (Luo et al., arXiv 2510.21417) with the fixed
  operator ``A_k``: only the image network is trained, on the extended domain with a valid
  convolution, so no boundary condition is assumed.
* ``"richardson_lucy"``: the multiplicative EM update for Poisson data,
  ``x <- x * (k~ * (y / (k * x)))`` with ``k~`` the flipped PSF (Richardson 1972, Lucy 1974),
  with an optional total-variation term (``tv_weight``; RL-TV, Dey et al. 2006).
* ``"wiener"``: ``X = conj(K) Y / (|K|^2 + balance)``, a Tikhonov-regularised inverse filter.

Richardson-Lucy and Wiener themselves live in :mod:`.classic`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any, Literal

import numpy as np
import torch

from napari_selfdiff.blind.selfdiff.compute import plan_execution
from napari_selfdiff.blind.selfdiff.planes import solve_planes
from napari_selfdiff.config import DeblurConfig, default_config
from napari_selfdiff.errors import InputError
from napari_selfdiff.inputs import (
    NanPolicy,
    check_ground_truth,
    check_psf,
    check_run_options,
    from_planes,
    to_planes,
)
from napari_selfdiff.metrics import ground_truth_scorer
from napari_selfdiff.ops.intensity import IntensityMap, to_dtype
from napari_selfdiff.resources import describe_device, resolve_device
from napari_selfdiff.restoration.classic import check_tv_weight, richardson_lucy_planes, wiener
from napari_selfdiff.results import DeblurResult, Progress, ProgressCallback, drive

__all__ = ["METHODS", "deconvolve", "iter_deconvolve"]

Method = Literal["selfdiff", "richardson_lucy", "wiener"]
METHODS = ("selfdiff", "richardson_lucy", "wiener")


def iter_deconvolve(
    image: np.ndarray,
    psf: np.ndarray,
    method: Method = "richardson_lucy",
    *,
    iterations: int = 30,
    tv_weight: float = 0.0,
    balance: float = 1e-2,
    config: DeblurConfig | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    ground_truth: np.ndarray | None = None,
    axes: str | None = None,
    nan_policy: NanPolicy = "raise",
    keep_dtype: bool = False,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, DeblurResult]:
    """Non-blind deconvolution of ``image`` by the known ``psf``, as a generator.

    Parameters
    ----------
    image : numpy.ndarray
        Blurred (Y, X), (Y, X, C) or (Z, Y, X) image.
    psf : numpy.ndarray
        Known 2D PSF with odd sides (normalised to unit sum here).
    method : {"selfdiff", "richardson_lucy", "wiener"}
        Deconvolution method.
    iterations : int
        Richardson-Lucy iterations.
    tv_weight : float
        Richardson-Lucy's total-variation weight (RL-TV, :mod:`.classic`; at most
        :data:`napari_selfdiff.config.deblur.MAX_TV_WEIGHT`, 0.05). The default 0 is the classic
        algorithm; the blind pipelines' restoration uses ``DeblurConfig.restore_tv_weight``.
    balance : float
        Wiener regularisation (noise-to-signal power ratio).
    config : DeblurConfig, optional
        Self-diffusion parameters (its kernel-generator and ``restore`` fields are unused).
    device, seed, ground_truth, axes, nan_policy, keep_dtype, cancel
        As in :func:`napari_selfdiff.api.iter_deblur`.

    Returns
    -------
    DeblurResult
        Sharp image of the input's shape; ``psf`` is the given PSF (normalised, float32).
    """
    start = time.perf_counter()
    seed = check_run_options(seed, cancel)
    if method not in METHODS:
        raise InputError(f"`method` must be one of {METHODS}, got {method!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise InputError(f"`iterations` must be an integer >= 1, got {iterations!r}")
    check_tv_weight(tv_weight)  # before any work, also for the methods that ignore it
    if not (np.isfinite(balance) and balance > 0):
        raise InputError(f"`balance` must be a finite number > 0, got {balance!r}")
    planes, layout = to_planes(image, axes, nan_policy=nan_policy)
    kernel = check_psf(psf)
    if 2 * max(kernel.shape) > min(layout.height, layout.width):
        raise InputError(
            f"`psf` of shape {kernel.shape} is too large for a {layout.height} x {layout.width} image: "
            "the image must be at least twice the PSF size"
        )
    if kernel.shape[0] != kernel.shape[1]:
        side = max(kernel.shape)
        kernel = np.pad(kernel, [((side - n) // 2, (side - n) // 2) for n in kernel.shape])
    truth = check_ground_truth(ground_truth, layout)
    torch_device = resolve_device(device)
    parameters: dict[str, Any] = {"method": method}
    history: list = []
    if method == "selfdiff":
        config = config if config is not None else default_config(torch_device)
        estimates, _, history, _ = yield from solve_planes(
            planes, kernel.shape[0], config, torch_device, seed,
            batch_planes=plan_execution(config.compute, torch_device).batch_planes, start=start,
            cancel=cancel, evaluate=ground_truth_scorer(truth, None, kernel.shape[0]), fixed_psf=kernel,
        )  # fmt: skip
        parameters["config"] = config.to_dict()
    elif method == "wiener":
        mapping = IntensityMap.fit(planes)
        y = torch.as_tensor(mapping.forward(planes), dtype=torch.float32, device=torch_device)
        k = torch.as_tensor(kernel, dtype=torch.float32, device=torch_device)
        estimates = mapping.inverse(wiener(y, k, balance).cpu().numpy().astype(np.float64))
        parameters["balance"] = balance
    else:
        estimates = yield from richardson_lucy_planes(
            planes, kernel, iterations, torch_device, tv_weight=tv_weight, start=start, cancel=cancel
        )
        parameters.update(iterations=iterations, tv_weight=tv_weight)
    return DeblurResult(
        image=to_dtype(from_planes(estimates, layout), layout.dtype if keep_dtype else None),
        psf=kernel.astype(np.float32),
        history=history,
        config=parameters,
        seed=seed,
        device=describe_device(torch_device),
        seconds=time.perf_counter() - start,
        method=method,
        axes=layout.axes,
    )


def deconvolve(
    image: np.ndarray,
    psf: np.ndarray,
    method: Method = "richardson_lucy",
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> DeblurResult:
    """Non-blind deconvolution with a known PSF; drains :func:`iter_deconvolve`.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_selfdiff import deconvolve
    >>> from napari_selfdiff.optics import blur, gaussian_kernel
    >>> psf = gaussian_kernel(7, 1.2)
    >>> sharp = np.zeros((32, 32)); sharp[12:20, 12:20] = 1.0
    >>> result = deconvolve(blur(sharp, psf), psf, "wiener", device="cpu")
    >>> result.image.shape
    (32, 32)
    """
    return drive(iter_deconvolve(image, psf, method, **options), progress)
