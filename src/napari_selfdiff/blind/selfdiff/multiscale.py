"""Blind PSF estimation by self-diffusion, at full scale or at reduced scale.

Full scale is the paper's algorithm on the image itself (:func:`full_scale`). At reduced scale
(:func:`reduced_scale`) the image is averaged down by an integer ``factor``, which shrinks the
blur by the same factor and lets a window of the same size see ``factor**2`` times the scene:

1. the image is averaged over ``factor`` x ``factor`` pixel blocks (:func:`downscale`);
   a blur ``k`` becomes, to first order, ``k`` summed over the same blocks;
2. the PSF is estimated blind on the reduced image, with a kernel of ``ceil(K / factor)``
   (odd) pixels, on its window richest in coherent edges (:func:`.regions.informative_window`);
3. the PSF is interpolated back to the full-resolution grid (:func:`upscale_psf`).

The refit (:mod:`.refit_psf`) and the restoration (:mod:`.restore`) follow in
:mod:`napari_selfdiff.api`. Evidence: ``docs/benchmarks/README.md``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from napari_selfdiff.blind.regions import informative_window
from napari_selfdiff.blind.selfdiff.planes import solve_planes
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.results import Progress, StepRecord

__all__ = [
    "ReducedEstimate",
    "downscale",
    "full_scale",
    "reduced_kernel_size",
    "reduced_scale",
    "upscale_psf",
]


#: The paper's blind run on (Z, C, H, W) planes at full scale: returns the network's estimates,
#: a PSF per plane group, the history and the pupils found (:func:`..planes.solve_planes`).
full_scale = solve_planes


def downscale(planes: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks of the last two axes (trailing rows and columns dropped)."""
    height, width = planes.shape[-2] // factor * factor, planes.shape[-1] // factor * factor
    blocks = planes[..., :height, :width].reshape(
        *planes.shape[:-2], height // factor, factor, width // factor, factor
    )
    return blocks.mean(axis=(-3, -1))


def reduced_kernel_size(kernel_size: int, factor: int) -> int:
    """Odd side, at least 3, whose blocks of ``factor`` pixels cover a ``kernel_size`` kernel."""
    return max(3, math.ceil(kernel_size / factor) // 2 * 2 + 1)


def _linear_weights(n_fine: int, n_coarse: int, factor: int) -> np.ndarray:
    """(n_fine, n_coarse) linear interpolation between centred grids of spacing 1 and ``factor``."""
    position = (n_coarse - 1) / 2 + (np.arange(n_fine) - (n_fine - 1) / 2) / factor
    return np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(n_coarse)[None, :]))


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


@dataclass(frozen=True)
class ReducedEstimate:
    """The outcome of :func:`reduced_scale`: the full-resolution and reduced PSFs and where."""

    psf: np.ndarray
    reduced_psf: np.ndarray
    window: tuple[slice, slice]
    history: list[StepRecord]


def reduced_scale(
    planes: np.ndarray,
    kernel_size: int,
    config: DeblurConfig,
    device: torch.device,
    seed: int,
    *,
    factor: int,
    reduced_size: int,
    psf_window: int | None,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, ReducedEstimate]:
    """One PSF for (Z, C, H, W) ``planes``, estimated blind at ``1 / factor`` scale (see module).

    ``reduced_size`` is the reduced PSF's side and ``psf_window`` the side of the reduced
    image's window it is estimated on (None: the whole reduced image), both checked by the plan.
    """
    start = time.perf_counter() if start is None else start
    coarse = downscale(planes, factor)
    if psf_window is not None:
        rows, cols = informative_window(coarse, int(psf_window), reduced_size)
    else:
        rows, cols = slice(0, coarse.shape[-2]), slice(0, coarse.shape[-1])
    region = np.ascontiguousarray(coarse[..., rows, cols])
    _, psfs, history, _ = yield from solve_planes(
        region, reduced_size, config, device, seed, batch_planes=1, start=start, cancel=cancel
    )
    window = slice(rows.start * factor, rows.stop * factor), slice(cols.start * factor, cols.stop * factor)
    return ReducedEstimate(upscale_psf(psfs[0], factor, kernel_size), psfs[0], window, history)
