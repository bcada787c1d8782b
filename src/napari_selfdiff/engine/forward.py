r"""Blur forward model on the extended domain, its adjoint, and FFT convolution.

The blind model is ``y = x * k + n`` with a true convolution ``*``. The image is
estimated on the extended domain of size ``(H + K - 1, W + K - 1)`` and mapped to the
``H x W`` observation with a *valid* convolution, so no boundary condition (periodic,
reflective) is assumed and no wrap-around artefact can appear (Ren et al., SelfDeblur,
CVPR 2020; Yang & Luo, arXiv 2510.27439):

.. math::

    (A_k x)[i, j] = \sum_{u, v} k[u, v]\; x[i + K - 1 - u,\; j + K - 1 - v].

``torch.nn.functional.conv2d`` computes a correlation, so the kernel is flipped by 180
degrees before it is called. The adjoint ``A_k^T`` is a *full* correlation, which
maps ``H x W`` back to the extended domain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["blur_valid", "blur_valid_adjoint", "crop_center", "fft_blur_same"]


def _as_weight(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    """(K, K) kernel -> depthwise conv2d weight (C, 1, K, K), flipped for a true convolution."""
    flipped = torch.flip(kernel, dims=(-2, -1))
    return flipped.reshape(1, 1, *kernel.shape[-2:]).expand(channels, 1, -1, -1)


#: Kernel side from which :func:`blur_valid` uses the FFT: on CPU a direct 15 x 15
#: depthwise convolution and its backward cost as much as the whole U-Net step.
FFT_MIN_KERNEL = 8


def blur_valid(x: torch.Tensor, kernel: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Valid convolution of every channel of ``x`` (B, C, H+K-1, W+K-1) with ``kernel`` (K, K).

    Returns a (B, C, H, W) tensor: each output pixel sees only pixels of ``x``.
    ``method`` is ``"direct"`` (``conv2d``), ``"fft"`` or ``"auto"`` (FFT from
    ``FFT_MIN_KERNEL``). The FFT path computes the circular convolution on the extended grid:
    its wrap-around lands only in the first K-1 rows and columns, which the valid crop drops,
    so both paths agree to rounding.
    """
    size = kernel.shape[-1]
    if method == "auto":
        method = "fft" if size >= FFT_MIN_KERNEL else "direct"
    if method == "direct":
        channels = x.shape[1]
        return F.conv2d(x, _as_weight(kernel, channels), groups=channels)
    if method != "fft":
        raise ValueError(f"`method` must be 'auto', 'direct' or 'fft', got {method!r}")
    he, we = x.shape[-2:]
    spectrum = torch.fft.rfft2(x.float(), s=(he, we)) * torch.fft.rfft2(kernel.float(), s=(he, we))
    full = torch.fft.irfft2(spectrum, s=(he, we))
    return full[..., size - 1 :, size - 1 :]


def blur_valid_adjoint(y: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`blur_valid`: (B, C, H, W) -> (B, C, H+K-1, W+K-1).

    ``<blur_valid(x, k), y> == <x, blur_valid_adjoint(y, k)>`` for all x, y.
    """
    channels = y.shape[1]
    return F.conv_transpose2d(y, _as_weight(kernel, channels), groups=channels)


def crop_center(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the centre ``size`` (H, W) of the last two axes of ``x``."""
    h, w = size
    top = (x.shape[-2] - h) // 2
    left = (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]


def fft_blur_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Circular 'same' convolution by FFT, kernel centred at ``(K // 2, K // 2)``.

    Used by the non-blind solvers (Richardson-Lucy, Wiener), which pad the image
    reflectively first so that the periodic boundary falls in discarded margins.
    """
    h, w = x.shape[-2:]
    kh, kw = kernel.shape[-2:]
    padded = torch.zeros((h, w), dtype=kernel.dtype, device=kernel.device)
    padded[:kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    otf = torch.fft.rfft2(padded)
    return torch.fft.irfft2(torch.fft.rfft2(x) * otf, s=(h, w))
