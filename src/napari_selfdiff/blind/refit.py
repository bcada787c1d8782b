r"""Refit a PSF at full resolution on the salient edges of a restored image.

A reduced-scale run (:mod:`.stages.estimate_psf`) estimates the PSF on the image averaged down by
``factor`` and interpolates it back, so detail finer than ``factor`` pixels (the thin
trajectory of a camera shake) is lost. Given the restoration ``x`` made with that PSF, the
kernel is refitted at full resolution by the kernel step of classic blind deconvolution
(Cho & Lee, *Fast motion deblurring*, SIGGRAPH Asia 2009), kept near the upscaled estimate
``k0``:

.. math::

    \hat k = \arg\min_k \sum_{d \in \{h, v\}} \frac{1}{N_d}
        \big\| (M_d \odot \partial_d x) \ast k - \partial_d y \big\|_{\text{valid}}^2
        + \beta \, \| k - k_0 \|^2, \qquad
    \beta = w \sum_d \frac{1}{N_d} \| M_d \odot \partial_d x \|^2,

then ``k`` is clipped at zero, taps below ``floor * max(k)`` are set to zero and ``k`` is
normalised to unit sum. ``\partial_d`` is the forward difference along rows or columns, and
``M_d`` keeps the ``edge_fraction`` largest ``|\partial_d x|``: the weak gradients of a
restored image are mostly noise and ringing. Without the selection the fit fails: on all
the gradients, with the same prior, motion gained 0.6 dB and optical lost 0.5 dB; on the
intensities, without a prior, it lost 4-8 dB (``docs/benchmarks/README.md``). The prior weight
``w`` is relative to the selected gradient energy, so it does not depend on the image's
contrast. The problem is quadratic; it is solved by conjugate gradients on the normal
equations from ``k0``, with every convolution by FFT (the fit costs a few FFTs of the image
per iteration, whatever the kernel size).

A window of fewer pixels ``A`` (per plane) than ``reference_area`` holds fewer strong edges
for the same K x K unknowns, and the fit varies more: both ``w`` and the edge fraction are
multiplied by ``sqrt(reference_area / A)`` there. With the defaults tuned on 255 x 255 images
(``reference_area`` = 255**2), on 32 + 32 Levin crops of 128 x 128 the refit's gain went from
+0.22 / +0.40 dB (motion / optical; worst case -3.48 dB) to +0.58 / +0.32 dB (worst -0.88),
and on 32 + 32 corner crops not used for the choice from +0.39 / +0.12 to +0.73 / +0.35 dB
(worst -2.04 to -0.75); a stronger prior alone helped the optical cases and more edges alone
the motion ones. Sparse scenes can lose: on a synthetic cartoon (a few rectangles on a ramp,
96 x 96) the extra edges are noise and the result fell by 1.6-1.8 dB
(``docs/benchmarks/README.md``).

Measured with the fast preset's half-scale PSFs on the 10 + 10 full Levin images
(``docs/benchmarks/README.md``): after RL-TV restoration, motion +1.25 dB and optical +0.55
dB, every case better; on 6 + 6 other cases +0.61 dB (5 of 6) and +0.59 dB (6 of 6).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from napari_selfdiff.blind.selfdiff.losses import finite_differences
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.ops.fft import psf_to_otf
from napari_selfdiff.restoration.classic import restore_planes
from napari_selfdiff.results import Progress

__all__ = ["refit_on_window", "refit_psf"]


def _strongest(values: torch.Tensor, fraction: float) -> torch.Tensor:
    """``values`` with all but the ``fraction`` largest magnitudes set to zero."""
    magnitude = values.abs().flatten()
    rank = max(1, min(magnitude.numel(), round((1.0 - fraction) * magnitude.numel())))
    threshold = torch.kthvalue(magnitude, rank).values
    return torch.where(values.abs() >= threshold, values, torch.zeros_like(values))


class _EdgeTerm:
    r"""One direction's data term: ``k -> (m * dx) * k`` (valid) and its adjoint, by FFT.

    The forward map is :func:`napari_selfdiff.ops.fft.blur_valid`'s FFT path, kept here because the
    conjugate-gradient fit needs float64 (``blur_valid`` computes in float32) and reuses the
    edges' spectrum in every iteration, forward and adjoint.
    """

    def __init__(self, edges: torch.Tensor, target: torch.Tensor, kernel_size: int) -> None:
        self.shape = tuple(edges.shape[-2:])
        self.kernel_size = kernel_size
        self.spectrum = torch.fft.rfft2(edges)
        self.count = target.numel()
        self.target = target
        self.energy = float(edges.square().sum()) / self.count

    def forward(self, kernel: torch.Tensor) -> torch.Tensor:
        full = torch.fft.irfft2(self.spectrum * psf_to_otf(kernel, self.shape, centred=False), s=self.shape)
        return full[..., self.kernel_size - 1 :, self.kernel_size - 1 :]

    def adjoint(self, residual: torch.Tensor) -> torch.Tensor:
        """Gradient of ``<residual, forward(k)>`` in ``k``, summed over the leading axes.

        ``forward(k)[i] = sum_v k[v] e[i + K - 1 - v]``, so the derivative in ``k[v]`` is
        ``c[K - 1 - v]`` with ``c[u] = sum_i r[i] e[i + u]``: the correlation's first K x K
        lags, flipped. The circular correlation equals the linear one at those lags, where
        ``i + u`` stays inside the grid.
        """
        lags = torch.fft.irfft2(
            self.spectrum * psf_to_otf(residual, self.shape, centred=False).conj(), s=self.shape
        )
        size = self.kernel_size
        # reshape, not sum(dim=()): an empty tuple of dims would sum over every axis.
        return torch.flip(lags[..., :size, :size], dims=(-2, -1)).reshape(-1, size, size).sum(dim=0)

    def normal(self, kernel: torch.Tensor) -> torch.Tensor:
        return self.adjoint(self.forward(kernel)) / self.count

    def right_hand_side(self) -> torch.Tensor:
        return self.adjoint(self.target) / self.count


def refit_psf(
    observation: torch.Tensor,
    restored: torch.Tensor,
    psf: torch.Tensor,
    *,
    prior_weight: float,
    edge_fraction: float,
    floor: float,
    reference_area: int,
    iterations: int = 50,
) -> torch.Tensor:
    """The (K, K) PSF refitted to ``observation`` on the strong edges of ``restored`` (module).

    Parameters
    ----------
    observation, restored : torch.Tensor
        Blurred image and its restoration with ``psf``, the same (..., H, W) shape in the
        same intensities; leading axes (planes, channels) share the PSF.
    psf : torch.Tensor
        (K, K) starting estimate ``k0``, also the prior's centre.
    prior_weight : float
        ``w`` > 0: the pull towards ``k0`` relative to the selected gradient energy.
    edge_fraction : float
        Fraction in (0, 1] of the largest gradients of ``restored`` the kernel is fitted on.
    floor : float
        Taps below ``floor`` times the largest are set to zero, in [0, 1).
    reference_area : int
        Pixels per plane from which ``prior_weight`` and ``edge_fraction`` apply as given;
        a smaller window scales both by ``sqrt(reference_area / (H * W))`` (the edge fraction
        up to 1).
    iterations : int
        Conjugate-gradient iterations (the system has K * K unknowns).

    Returns
    -------
    torch.Tensor
        Non-negative (K, K) PSF with unit sum, float32; ``psf`` itself if ``restored`` has
        no gradient or the fit leaves no positive tap.
    """
    size = psf.shape[-1]
    start = psf.to(torch.float64)
    half = size // 2
    # Fewer pixels than the reference: fewer strong edges for the same unknowns (module).
    shrink = math.sqrt(max(1.0, reference_area / (observation.shape[-2] * observation.shape[-1])))
    prior_weight, edge_fraction = prior_weight * shrink, min(1.0, edge_fraction * shrink)
    terms = []
    for edges, target in zip(
        finite_differences(restored.double()), finite_differences(observation.double()), strict=True
    ):
        rows, cols = target.shape[-2] - 2 * half, target.shape[-1] - 2 * half
        cropped = target[..., half : half + rows, half : half + cols]
        terms.append(_EdgeTerm(_strongest(edges, edge_fraction), cropped, size))
    energy = sum(term.energy for term in terms)
    if not energy > 0:  # a flat restoration: nothing to fit the kernel to
        return psf.float()
    beta = prior_weight * energy

    def normal(kernel: torch.Tensor) -> torch.Tensor:
        return sum(term.normal(kernel) for term in terms) + beta * kernel

    # Conjugate gradients on (A^T A + beta) k = A^T b + beta k0, from k0.
    kernel = start.clone()
    residual = sum(term.right_hand_side() for term in terms) + beta * start - normal(kernel)
    direction = residual.clone()
    squared = float(residual.square().sum())
    tolerance = 1e-20 * max(squared, 1e-300)
    for _ in range(iterations):
        if squared <= tolerance:
            break
        product = normal(direction)
        step = squared / float((direction * product).sum())
        kernel = kernel + step * direction
        residual = residual - step * product
        new_squared = float(residual.square().sum())
        direction = residual + (new_squared / squared) * direction
        squared = new_squared
    kernel = kernel.clamp_min(0)
    kernel = torch.where(kernel < floor * kernel.max(), torch.zeros_like(kernel), kernel)
    total = kernel.sum()
    if total <= 0:
        return psf.float()
    return (kernel / total).float()


def refit_on_window(
    window: np.ndarray,
    psf: np.ndarray,
    config: DeblurConfig,
    device: torch.device,
    **run: Any,
) -> Generator[Progress, None, np.ndarray]:
    """``psf`` refitted at full resolution on (Z, C, H, W) ``window`` with ``config.psf_refit``.

    The refit is invariant to affine intensity maps, so it takes the window and its
    restoration in input intensities. ``run``: ``start`` and ``cancel`` of :func:`restore_planes`.
    """
    trial = yield from restore_planes(window, psf, config, device, **run)
    refit = config.psf_refit
    refitted = refit_psf(
        *(torch.as_tensor(array, device=device) for array in (window, trial, psf)),
        prior_weight=refit.prior_weight, edge_fraction=refit.edge_fraction,
        floor=refit.floor, reference_area=refit.reference_area, iterations=refit.iterations,
    )  # fmt: skip
    return refitted.cpu().numpy()
