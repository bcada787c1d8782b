r"""Coarse-to-fine start: the first outer steps solve a half-resolution problem.

At the high noise levels of the first outer steps the estimates only carry coarse
structure, so those steps can run on an observation downsampled by two at a quarter of the
cost per iteration (``ScheduleConfig.coarse_fraction``). The networks and their Adam state
are the same at both levels: the U-Net is fully convolutional, and the kernel generator
keeps producing the full K x K kernel, which is mapped to the coarse grid by a fixed
linear restriction. At the switch the coarse image estimate is interpolated to the fine
extended domain and the loop continues unchanged.

Geometry (1-D; the 2-D maps are separable). The coarse observation samples the fine one at
even pixels after a [1, 2, 1] / 4 tent filter, ``y_c[i] ~ y[2 i]``. With the kernel
centres ``c = (K - 1) / 2`` and ``c_c = (K_c - 1) / 2``, coarse kernel tap u sits at fine tap
``c + 2 (u - c_c)``, and ``c_c = ceil(c / 2)`` is the least that covers every fine tap. With the
valid convolution of :mod:`.forward`,

.. math::

    y[2i] = \sum_v k[v]\, x[2i + K - 1 - v], \qquad
    y_c[i] = \sum_u k_c[u]\, x_c[i + K_c - 1 - u],

agree when coarse image pixel j sits at fine extended pixel ``2 j + s`` with
``s = c - 2 c_c``. The image and observation are restricted by the normalised tent
(weights 1/4, 1/2, 1/4, reflected at the borders); the kernel by the unnormalised one
(1/2, 1, 1/2, zero outside the kernel), so every fine tap's mass lands on the coarse grid
once and the coarse kernel still sums to one. The prolongation is linear interpolation at
coarse coordinate ``(j - s) / 2``, clamped at the borders.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "Level",
    "coarse_kernel_size",
    "coarse_level",
    "coarse_offset",
    "fine_level",
    "prolongation",
    "restriction",
]


def coarse_kernel_size(kernel_size: int) -> int:
    """Side of the coarse-level kernel: the smallest odd side whose taps cover the fine kernel.

    Coarse taps sit at every other fine tap, symmetric about the centre ``c = (K - 1) / 2``;
    the outermost must reach fine tap 0 (c even) or -1 (c odd, so that tap 0 is shared
    between two coarse taps), hence ``c_c = ceil(c / 2)``: 9 for 15 and 17, 11 for 21.
    """
    centre = (kernel_size - 1) // 2
    return 2 * ((centre + 1) // 2) + 1


def coarse_offset(kernel_size: int) -> int:
    """Fine extended pixel ``s = c - 2 c_c`` (0 or -1) of coarse extended pixel 0."""
    return (kernel_size - 1) // 2 - 2 * ((coarse_kernel_size(kernel_size) - 1) // 2)


def _reflect(index: int, length: int) -> int:
    """Index reflected into ``[0, length)`` about the edge pixels (numpy's "reflect" padding)."""
    if length == 1:
        return 0
    period = 2 * (length - 1)
    index %= period
    return index if index < length else period - index


def restriction(n_fine: int, n_coarse: int, offset: int, *, reflect: bool) -> torch.Tensor:
    """(n_coarse, n_fine) tent restriction: row i averages fine pixels ``2 i + offset + (-1, 0, 1)``.

    With ``reflect`` the weights are 1/4, 1/2, 1/4 and taps outside ``[0, n_fine)`` are
    reflected back (image and observation); without it they are 1/2, 1, 1/2 and taps
    outside are dropped (a kernel, which is zero there): each fine tap then contributes a
    total weight of one.
    """
    matrix = torch.zeros((n_coarse, n_fine), dtype=torch.float64)
    scale = 0.5 if reflect else 1.0
    for i in range(n_coarse):
        for step, weight in ((-1, 0.5), (0, 1.0), (1, 0.5)):
            j = 2 * i + offset + step
            if reflect:
                j = _reflect(j, n_fine)
            elif not 0 <= j < n_fine:
                continue
            matrix[i, j] += scale * weight
    return matrix.float()


def prolongation(n_coarse: int, n_fine: int, offset: int) -> torch.Tensor:
    """(n_fine, n_coarse) linear interpolation at coarse coordinate ``(j - offset) / 2``, clamped."""
    position = ((torch.arange(n_fine, dtype=torch.float64) - offset) / 2).clamp(0, n_coarse - 1)
    low = position.floor().long().clamp(max=n_coarse - 1)
    high = (low + 1).clamp(max=n_coarse - 1)
    fraction = position - low
    matrix = torch.zeros((n_fine, n_coarse), dtype=torch.float64)
    rows = torch.arange(n_fine)
    matrix[rows, low] += 1 - fraction
    matrix[rows, high] += fraction
    return matrix.float()


def _apply(rows: torch.Tensor, cols: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``rows @ x @ cols.T`` over the last two axes of ``x``."""
    return torch.einsum("ah,...hw,bw->...ab", rows, x, cols)


@dataclass(frozen=True)
class Level:
    """One resolution of the problem.

    Attributes
    ----------
    y : torch.Tensor
        Observation at this level, (P, B, C, h, w).
    kernel_size : int
        Side of the kernel at this level.
    weight : float
        Factor on the data term (fine pixels per level pixel), so that the balance between
        the data term (a sum over pixels) and the kernel sparsity term is the same at
        every level.
    kernel_maps, image_maps : tuple of torch.Tensor or None
        Row and column matrices taking the fine kernel to this level, and this level's
        extended image to the fine extended domain; None at the fine level (identity).
    """

    y: torch.Tensor
    kernel_size: int
    weight: float = 1.0
    kernel_maps: tuple[torch.Tensor, torch.Tensor] | None = None
    image_maps: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def extended_shape(self) -> tuple[int, int]:
        """Shape (h + k - 1, w + k - 1) of this level's image estimate."""
        pad = self.kernel_size - 1
        return self.y.shape[-2] + pad, self.y.shape[-1] + pad

    def kernel(self, fine: torch.Tensor) -> torch.Tensor:
        """Map fine kernels (..., K, K) to this level (differentiable, sum preserved)."""
        return fine if self.kernel_maps is None else _apply(*self.kernel_maps, fine)

    def to_fine(self, image: torch.Tensor) -> torch.Tensor:
        """Map this level's extended images (..., h', w') to the fine extended domain."""
        return image if self.image_maps is None else _apply(*self.image_maps, image)


def fine_level(y: torch.Tensor, kernel_size: int) -> Level:
    """The problem itself."""
    return Level(y, kernel_size)


def coarse_level(y: torch.Tensor, kernel_size: int) -> Level:
    """The half-resolution problem of observation ``y`` (P, B, C, H, W) and kernel side K."""
    height, width = y.shape[-2:]
    coarse_size = coarse_kernel_size(kernel_size)
    offset = coarse_offset(kernel_size)
    coarse_h, coarse_w = (height + 1) // 2, (width + 1) // 2
    device = y.device

    def tents(n_fine: int, n_coarse: int) -> torch.Tensor:
        return restriction(n_fine, n_coarse, 0, reflect=True).to(device)

    y_coarse = _apply(tents(height, coarse_h), tents(width, coarse_w), y)
    kernel_map = restriction(kernel_size, coarse_size, offset, reflect=False).to(device)
    pad, coarse_pad = kernel_size - 1, coarse_size - 1
    image_maps = (
        prolongation(coarse_h + coarse_pad, height + pad, offset).to(device),
        prolongation(coarse_w + coarse_pad, width + pad, offset).to(device),
    )
    return Level(
        y_coarse,
        coarse_size,
        weight=(height * width) / (coarse_h * coarse_w),
        kernel_maps=(kernel_map, kernel_map),
        image_maps=image_maps,
    )
