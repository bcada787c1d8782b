"""Classic non-blind deconvolution of tensors: Richardson-Lucy and Wiener.

* Richardson-Lucy: the multiplicative EM update for Poisson data,
  ``x <- x * (k~ * (y / (k * x)))`` with ``k~`` the flipped PSF (Richardson 1972, Lucy 1974).
* Wiener: ``X = conj(K) Y / (|K|^2 + balance)``, a Tikhonov-regularised inverse filter.

Both use FFT convolution on the image reflect-padded by the PSF size, so the periodic
boundary falls in the discarded margin. They depend on no solver, so the blind solver, the
multiscale pipeline and the non-blind methods (:mod:`.nonblind`) all restore with them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from .forward import fft_blur_same
from .intensity import IntensityMap
from .results import Cancelled, Progress

__all__ = ["richardson_lucy", "richardson_lucy_planes", "wiener"]


def _pad(planes: torch.Tensor, margin: int) -> torch.Tensor:
    return F.pad(planes, (margin, margin, margin, margin), mode="reflect")


def _crop(planes: torch.Tensor, margin: int) -> torch.Tensor:
    return planes[..., margin:-margin, margin:-margin] if margin else planes


def richardson_lucy(
    observation: torch.Tensor,
    psf: torch.Tensor,
    iterations: int = 30,
    *,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, torch.Tensor]:
    """Richardson-Lucy on a non-negative (..., H, W) tensor; returns the estimate.

    Yields a :class:`Progress` event per iteration (``inner`` counts them; ``elapsed`` from
    ``start``, a ``time.perf_counter()`` value, by default the call).
    """
    start = time.perf_counter() if start is None else start
    margin = psf.shape[-1]
    padded = _pad(observation, margin).clamp_min(0)
    flipped = torch.flip(psf, dims=(-2, -1))
    estimate = torch.full_like(padded, float(padded.mean()))
    for iteration in range(1, iterations + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the run was cancelled")
        ratio = padded / fft_blur_same(estimate, psf).clamp_min(1e-12)
        estimate = estimate * fft_blur_same(ratio, flipped)
        yield Progress(0, 1, 1, 1, iteration, iterations, float("nan"), time.perf_counter() - start)
    return _crop(estimate, margin)


def richardson_lucy_planes(
    planes: np.ndarray,
    psf: np.ndarray,
    iterations: int,
    device: torch.device,
    *,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """Richardson-Lucy of (Z, C, H, W) planes in input intensities; returns the estimate likewise.

    The planes are mapped to the solvers' intensity range (:class:`.intensity.IntensityMap`)
    and back, so every caller restores on the same scale: the non-blind method, the blind
    solver's ``restore="richardson_lucy"`` and the multiscale pipeline.
    """
    mapping = IntensityMap.fit(planes)
    y = torch.as_tensor(mapping.forward(planes), dtype=torch.float32, device=device)
    kernel = torch.as_tensor(psf, dtype=torch.float32, device=device)
    restored = yield from richardson_lucy(y, kernel, iterations, start=start, cancel=cancel)
    return mapping.inverse(restored.cpu().numpy().astype(np.float64))


def wiener(observation: torch.Tensor, psf: torch.Tensor, balance: float = 1e-2) -> torch.Tensor:
    """Wiener / Tikhonov deconvolution ``conj(K) Y / (|K|^2 + balance)`` of a (..., H, W) tensor."""
    margin = psf.shape[-1]
    padded = _pad(observation, margin)
    h, w = padded.shape[-2:]
    kh, kw = psf.shape
    embedded = torch.zeros((h, w), dtype=padded.dtype, device=padded.device)
    embedded[:kh, :kw] = psf
    otf = torch.fft.rfft2(torch.roll(embedded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1)))
    spectrum = torch.fft.rfft2(padded) * otf.conj() / (otf.abs().square() + balance)
    return _crop(torch.fft.irfft2(spectrum, s=(h, w)), margin)
