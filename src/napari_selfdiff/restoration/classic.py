r"""Classic non-blind deconvolution of tensors: Richardson-Lucy and Wiener.

* Richardson-Lucy: the multiplicative EM update for Poisson data,
  ``x <- x * (k~ * (y / (k * x)))`` with ``k~`` the flipped PSF (Richardson 1972, Lucy 1974),
  optionally with a total-variation term (RL-TV, Dey et al., Microsc. Res. Tech. 2006):

  .. math::

      x \leftarrow \frac{x}{1 - \lambda\, \operatorname{div}(\nabla x / |\nabla x|)}
      \left(\tilde k \ast \frac{y}{k \ast x}\right),

  which damps the noise plain Richardson-Lucy amplifies as its iterations go on, while
  straight edges, where the curvature term vanishes, are restored as before. With a known
  background ``b`` (camera offset, out-of-focus haze) the model is ``y = k * x + b``: the
  ratio becomes ``y / (k * x + b)`` and ``x`` stays the non-negative object above it.
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

from napari_selfdiff.config import MAX_TV_WEIGHT, DeblurConfig
from napari_selfdiff.errors import Cancelled, InputError
from napari_selfdiff.ops.fft import apply_otf, psf_to_otf
from napari_selfdiff.ops.intensity import IntensityMap
from napari_selfdiff.results import Progress

__all__ = [
    "check_tv_weight",
    "restore_planes",
    "richardson_lucy",
    "richardson_lucy_planes",
    "tv_curvature",
    "wiener",
]


def _pad(x: torch.Tensor, margins: tuple[int, ...]) -> torch.Tensor:
    """``x`` padded by ``margins`` on its last axes: reflected, or replicated when one is too short."""
    n = len(margins)
    spatial = tuple(x.shape[-n:])
    mode = "reflect" if all(m < s for m, s in zip(margins, spatial, strict=True)) else "replicate"
    pad = [p for m in reversed(margins) for p in (m, m)]
    padded = F.pad(x.reshape(-1, 1, *spatial), pad, mode=mode)
    return padded.reshape(*x.shape[:-n], *padded.shape[-n:])


def _crop(x: torch.Tensor, margins: tuple[int, ...]) -> torch.Tensor:
    n = len(margins)
    return x[(..., *(slice(m, x.shape[a - n] - m) for a, m in enumerate(margins)))]


#: Gradient magnitude (working intensities in [0, 1]) below which a pixel counts as flat in
#: the TV term: about a third of one 8-bit grey level in the [0.1, 0.9] working range.
TV_EPSILON = 1e-3


def tv_curvature(x: torch.Tensor, work: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """``div(grad x / |grad x|)`` of (..., H, W) ``x``: forward differences, their adjoint for div.

    The gradient is zero across the last row and column (Neumann boundary), and the divergence
    is minus the adjoint of that gradient, as in Chambolle's (2004) discretisation of TV.
    ``work``: four arrays shaped like ``x`` to compute in (the result is the third); without
    them, new ones. The same operations either way, in the same order: the same numbers.
    """
    gx, gy, out, square = work if work is not None else (torch.empty_like(x) for _ in range(4))
    torch.sub(x[..., 1:], x[..., :-1], out=gx[..., :-1])
    gx[..., -1] = 0.0
    torch.sub(x[..., 1:, :], x[..., :-1, :], out=gy[..., :-1, :])
    gy[..., -1, :] = 0.0
    norm = torch.mul(gx, gx, out=out).add_(torch.mul(gy, gy, out=square))  # not addcmul: no fused
    norm.add_(TV_EPSILON**2).sqrt_()  # multiply-add, whose rounding would differ: |grad x|, smoothed
    gx.div_(out)
    gy.div_(out)
    out[..., 0] = gx[..., 0]  # the divergence: n_x - n_x shifted right, plus n_y - n_y shifted down
    torch.sub(gx[..., 1:], gx[..., :-1], out=out[..., 1:])
    out.add_(gy)
    out[..., 1:, :].sub_(gy[..., :-1, :])
    return out


def check_tv_weight(tv_weight: float) -> float:
    """``tv_weight`` if it is a number in [0, :data:`MAX_TV_WEIGHT`], else an ``InputError``."""
    if isinstance(tv_weight, bool) or not (
        isinstance(tv_weight, (int, float, np.integer, np.floating)) and 0 <= tv_weight <= MAX_TV_WEIGHT
    ):
        raise InputError(f"`tv_weight` must be a number in [0, {MAX_TV_WEIGHT}], got {tv_weight!r}")
    return tv_weight


def richardson_lucy(
    observation: torch.Tensor,
    psf: torch.Tensor,
    iterations: int = 30,
    *,
    tv_weight: float = 0.0,
    background: float = 0.0,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, torch.Tensor]:
    """Richardson-Lucy on a non-negative (..., H, W) or (..., Z, H, W) tensor; returns the estimate.

    A (K, K) ``psf`` deconvolves the last two axes, a (Kz, K, K) one the last three (the TV
    term stays lateral: the z step is usually several pixels). The OTF is built once; the
    flipped PSF of the update is its conjugate (odd sizes, the PSF centred at ``K // 2``).
    ``background`` >= 0 is a constant ``b`` of the model ``y = k * x + b`` (module docstring);
    the estimate is the object ``x`` above it.

    ``tv_weight`` > 0 (at most :data:`MAX_TV_WEIGHT`) adds the total-variation term of RL-TV
    (module docstring); 0 is plain Richardson-Lucy. Yields a :class:`Progress` event per
    iteration (``inner`` counts them; ``elapsed`` from ``start``, a ``time.perf_counter()``
    value, by default the call).
    """
    check_tv_weight(tv_weight)
    start = time.perf_counter() if start is None else start
    margins = tuple(psf.shape)
    padded = _pad(observation, margins).clamp_min(0)
    otf = psf_to_otf(psf.to(padded.dtype), tuple(padded.shape[-psf.ndim :]))
    estimate = torch.full_like(padded, max(float(padded.mean()) - background, 1e-6))
    # Every step writes into arrays made once: a fresh array a step is fresh pages for the
    # kernel to fault in and zero (38 % of a 64 x 512 x 512 tile's time was system time).
    axes, shape = tuple(range(-psf.ndim, 0)), tuple(padded.shape[-psf.ndim :])
    flipped = otf.conj().resolve_conj()  # the adjoint's filter: the correlation
    spectrum = torch.empty((*padded.shape[: -psf.ndim], *otf.shape), dtype=otf.dtype, device=otf.device)
    work = torch.empty_like(padded)
    curvature = tuple(torch.empty_like(padded) for _ in range(4)) if tv_weight else None

    def filtered(x: torch.Tensor, otf: torch.Tensor) -> torch.Tensor:  # into ``work``
        torch.fft.rfftn(x, dim=axes, out=spectrum).mul_(otf)
        return torch.fft.irfftn(spectrum, s=shape, dim=axes, out=work)

    for iteration in range(1, iterations + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the run was cancelled")
        blurred = filtered(estimate, otf).add_(background).clamp_min_(1e-12)
        update = filtered(torch.div(padded, blurred, out=work), flipped)  # k~ * (y / (k * x + b))
        if curvature is not None:
            update.div_(tv_curvature(estimate, curvature).mul_(-tv_weight).add_(1.0))
        estimate.mul_(update)
        yield Progress(0, 1, 1, 1, iteration, iterations, float("nan"), time.perf_counter() - start)
    return _crop(estimate, margins)


def richardson_lucy_planes(
    planes: np.ndarray,
    psf: np.ndarray,
    iterations: int,
    device: torch.device,
    *,
    tv_weight: float = 0.0,
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
    restored = yield from richardson_lucy(
        y, kernel, iterations, tv_weight=tv_weight, start=start, cancel=cancel
    )
    return mapping.inverse(restored.cpu().numpy().astype(np.float64))


def restore_planes(
    planes: np.ndarray,
    psf: np.ndarray,
    config: DeblurConfig,
    device: torch.device,
    *,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """(Z, C, H, W) ``planes`` restored with ``psf`` as the config says, in input intensities.

    :func:`richardson_lucy_planes` with ``config.restore_iterations`` and
    ``config.restore_tv_weight``: the restoration of the blind solver's
    ``restore="richardson_lucy"`` and of the multiscale pipeline.
    """
    return richardson_lucy_planes(
        planes, psf, config.restore_iterations, device,
        tv_weight=config.restore_tv_weight, start=start, cancel=cancel,
    )  # fmt: skip


def wiener(observation: torch.Tensor, psf: torch.Tensor, balance: float = 1e-2) -> torch.Tensor:
    """Wiener / Tikhonov deconvolution ``conj(K) Y / (|K|^2 + balance)`` of a (..., H, W) tensor."""
    margins = tuple(psf.shape)
    padded = _pad(observation, margins)
    otf = psf_to_otf(psf.to(padded.dtype), tuple(padded.shape[-psf.ndim :]))
    return _crop(apply_otf(padded, otf.conj() / (otf.abs().square() + balance)), margins)
