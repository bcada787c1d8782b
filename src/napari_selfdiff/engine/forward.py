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

import math

import torch
import torch.nn.functional as F

__all__ = ["blur_valid", "blur_valid_adjoint", "crop_center", "fft_blur_same", "kernel_offset", "register"]


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


def kernel_offset(kernel: torch.Tensor, mass: float = 0.9) -> tuple[int, int]:
    """Integer offset (rows, columns) of a kernel's centre of mass from its box's centre.

    The centre of mass is where a blur by the kernel moves an image on average, so an
    estimate registered by it overlays the blurred input. The offset is limited so that
    moving the kernel back by it keeps the kernel's support inside the box: along each axis
    the support is the central ``mass`` of the kernel's marginal, so at most a tail of
    ``(1 - mass) / 2`` (a faint haze, the end of a trail) can leave the box. A kernel
    symmetric about the centre has offset (0, 0).
    """
    k = kernel.detach().double().cpu()
    tail = (1.0 - mass) / 2.0
    offsets = []
    for marginal in (k.sum(dim=1), k.sum(dim=0)):
        size = marginal.numel()
        weights = marginal / marginal.sum()
        centre = float((weights * torch.arange(size, dtype=weights.dtype)).sum()) - (size - 1) / 2
        cdf = torch.cumsum(weights, 0)
        first = int((cdf <= tail).sum())  # first index where the cumulative mass passes the tail
        last = int((cdf < 1.0 - tail).sum())  # first index where it reaches 1 - tail
        offsets.append(min(max(math.floor(centre + 0.5), last - (size - 1)), first))
    return offsets[0], offsets[1]


def _moved(size: int, shift: int) -> tuple[slice, slice]:
    """Destination and source slices of a shift by ``-shift`` along an axis of ``size``."""
    return slice(max(0, -shift), size - max(0, shift)), slice(max(0, shift), size - max(0, -shift))


def register(
    x: torch.Tensor, kernel: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Register a blind estimate: the crop aligned with the observation, the kernel centred.

    A blind estimate is defined up to a translation: ``x`` shifted by ``s`` and ``k`` by
    ``-s`` blur to the same observation, and the optimisation can leave the kernel anywhere in
    its K x K box (on the H100, two of ten Levin motion estimates of the paper preset came out
    shifted by 7 and 8 pixels, the edge of the evaluation's search window). With ``k``
    centred at ``c + s`` (:func:`kernel_offset`), ``c = (K - 1) / 2``, the valid convolution
    gives :math:`y[i] \approx x[i + c - s]`, so the crop that lines up with the observation
    starts at ``c - s`` instead of the centre crop's ``c``. The kernel moves by ``-s`` (the
    tails left out of its support may leave the box; the kernel is renormalised to sum one).
    The image then overlays the input, and the PSF is centred, as optics and deconvolution
    software expect.

    ``x`` is (..., H + K - 1, W + K - 1), ``kernel`` (K, K).
    """
    h, w = size
    rows, columns = kernel_offset(kernel)
    top = (x.shape[-2] - h) // 2 - rows
    left = (x.shape[-1] - w) // 2 - columns
    image = x[..., top : top + h, left : left + w]
    centred = torch.zeros_like(kernel)
    to_rows, from_rows = _moved(kernel.shape[-2], rows)
    to_columns, from_columns = _moved(kernel.shape[-1], columns)
    centred[to_rows, to_columns] = kernel[from_rows, from_columns]
    return image, centred / centred.sum()


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
