r"""3D blur forward model of a z-stack on the extended domain, its adjoint, and the 3D PSF register.

A widefield or confocal stack is the 3D convolution of the object with a 3D PSF of
``Kz x K x K`` voxels. As in 2D (:mod:`.forward`), the object is estimated on the extended
domain ``(Z + Kz - 1, H + K - 1, W + K - 1)`` and mapped to the ``Z x H x W`` observation by a
*valid* convolution, so no boundary condition is assumed along any axis (out-of-focus light
from planes above and below the stack is explained by the extra ``Kz - 1`` planes):

.. math::

    (A_k x)[l, i, j] = \sum_{w, u, v} k[w, u, v]\;
    x[l + K_z - 1 - w,\; i + K - 1 - u,\; j + K - 1 - v].

It is computed by FFT on the extended grid: the circular convolution's wrap-around lands only
in the first ``Kz - 1`` planes, ``K - 1`` rows and ``K - 1`` columns, which the valid crop
drops. The adjoint is the full correlation, ``A_k^T r = \tilde k \ast r`` zero-padded, mapping
the observation's grid back to the extended one.
"""

from __future__ import annotations

import math

import torch

__all__ = ["blur3d_same", "blur3d_valid", "blur3d_valid_adjoint", "kernel3d_offset", "register3d"]


def _extended(kernel: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Spectrum of ``kernel`` (Kz, K, K) zero-padded at the origin to ``shape``."""
    return torch.fft.rfftn(kernel.float(), s=shape, dim=(-3, -2, -1))


def blur3d_valid(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid 3D convolution of ``x`` (..., Z+Kz-1, H+K-1, W+K-1) with ``kernel`` (Kz, K, K).

    Returns (..., Z, H, W): each output voxel sees only voxels of ``x`` (module docstring).
    Computed in float32 by FFT on the extended grid.
    """
    shape = tuple(x.shape[-3:])
    full = torch.fft.irfftn(
        torch.fft.rfftn(x.float(), s=shape, dim=(-3, -2, -1)) * _extended(kernel, shape),
        s=shape,
        dim=(-3, -2, -1),
    )
    kz, ky, kx = kernel.shape
    return full[..., kz - 1 :, ky - 1 :, kx - 1 :]


def blur3d_valid_adjoint(y: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`blur3d_valid`: (..., Z, H, W) -> (..., Z+Kz-1, H+K-1, W+K-1).

    ``<blur3d_valid(x, k), y> == <x, blur3d_valid_adjoint(y, k)>`` for all x, y: the
    observation is placed where the valid crop took it from, and correlated with the kernel
    (the conjugate spectrum) on the extended grid, where the full correlation does not wrap.
    """
    kz, ky, kx = kernel.shape
    shape = (y.shape[-3] + kz - 1, y.shape[-2] + ky - 1, y.shape[-1] + kx - 1)
    placed = torch.zeros((*y.shape[:-3], *shape), dtype=torch.float32, device=y.device)
    placed[..., kz - 1 :, ky - 1 :, kx - 1 :] = y
    spectrum = torch.fft.rfftn(placed, dim=(-3, -2, -1)) * _extended(kernel, shape).conj()
    return torch.fft.irfftn(spectrum, s=shape, dim=(-3, -2, -1))


def blur3d_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Circular 'same' 3D convolution by FFT, the kernel centred at ``(Kz // 2, K // 2, K // 2)``.

    For the non-blind restoration, which pads the stack first so that the periodic boundary
    falls in discarded margins.
    """
    shape = tuple(x.shape[-3:])
    padded = torch.zeros(shape, dtype=torch.float32, device=x.device)
    kz, ky, kx = kernel.shape
    padded[:kz, :ky, :kx] = kernel
    padded = torch.roll(padded, shifts=(-(kz // 2), -(ky // 2), -(kx // 2)), dims=(0, 1, 2))
    otf = torch.fft.rfftn(padded)
    return torch.fft.irfftn(torch.fft.rfftn(x.float(), dim=(-3, -2, -1)) * otf, s=shape, dim=(-3, -2, -1))


def kernel3d_offset(kernel: torch.Tensor, mass: float = 0.9) -> tuple[int, int, int]:
    """Integer offset (planes, rows, columns) of a 3D kernel's centre of mass from its box's centre.

    Per axis, the rule of :func:`.forward.kernel_offset`: the rounded centre of mass of the
    kernel's marginal, limited so that moving the kernel back keeps the central ``mass`` of
    that marginal inside the box.
    """
    k = kernel.detach().double().cpu()
    tail = (1.0 - mass) / 2.0
    offsets = []
    for axis in range(3):
        marginal = k.sum(dim=tuple(a for a in range(3) if a != axis))
        size = marginal.numel()
        weights = marginal / marginal.sum()
        centre = float((weights * torch.arange(size, dtype=weights.dtype)).sum()) - (size - 1) / 2
        cdf = torch.cumsum(weights, 0)
        first = int((cdf <= tail).sum())
        last = int((cdf < 1.0 - tail).sum())
        offsets.append(min(max(math.floor(centre + 0.5), last - (size - 1)), first))
    return offsets[0], offsets[1], offsets[2]


def register3d(
    x: torch.Tensor, kernel: torch.Tensor, size: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A blind 3D estimate registered: the crop of ``x`` aligned with the observation, the kernel centred.

    The 3D form of :func:`.forward.register`: with the kernel's centre at ``c + s``
    (:func:`kernel3d_offset`), the crop starts at ``c - s`` on each axis, and the kernel moves
    by ``-s`` and is renormalised to unit sum. ``x`` is (..., Z+Kz-1, H+K-1, W+K-1).
    """
    shifts = kernel3d_offset(kernel)
    starts = [(x.shape[a - 3] - n) // 2 - s for a, (n, s) in enumerate(zip(size, shifts, strict=True))]
    image = x[(..., *(slice(s, s + n) for s, n in zip(starts, size, strict=True)))]
    centred = torch.zeros_like(kernel)
    to, source = [], []
    for n, s in zip(kernel.shape, shifts, strict=True):
        to.append(slice(max(0, -s), n - max(0, s)))
        source.append(slice(max(0, s), n - max(0, -s)))
    centred[tuple(to)] = kernel[tuple(source)]
    return image, centred / centred.sum()
