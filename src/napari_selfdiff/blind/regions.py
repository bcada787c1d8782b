r"""Where to estimate a blur: the window of an image richest in edges that identify it.

A spatially invariant blur can be estimated from any part of the image, but not equally
well from every part. Flat regions say nothing about the kernel, and fine texture (hair,
foliage, noise) is blurred into a uniform grey whose gradients point every way and
cancel. The kernel is identified by *salient* edges: steps wider than the blur, each
smeared into a ramp whose profile is the kernel's projection across the edge. Xu and Jia
("Two-phase kernel estimation for robust motion deblurring", ECCV 2010, eq. 2) measure
that with

.. math::

    r(x) = \frac{\lVert \sum_{y \in N(x)} \nabla B(y) \rVert}
                {\sum_{y \in N(x)} \lVert \nabla B(y) \rVert + 0.5},

which is near 1 where the gradients around ``x`` agree in direction (an edge) and near 0
in flat or textured neighbourhoods (the 0.5 keeps small gradients from counting as
agreement). A window's score is the sum of ``r(x) |∇B(x)|`` over its pixels: the
gradient energy carried by coherent edges. Hu and Yang ("Good regions to deblur",
ECCV 2012) show that the choice of region matters for kernel accuracy (they learn a
selector; this is the simpler, training-free measure).

Intensities are first scaled to [0, 1] by the 0.5 and 99.5 percentiles, so the constant
0.5 means the same for 8-bit, 16-bit and float images. The neighbourhood ``N(x)`` is as
wide as the kernel (at least 5 pixels; Xu and Jia use a fixed 5 x 5): an edge has to stay
coherent over the blur's extent to tell the kernel's shape.
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_usefulness", "informative_window"]

#: Denominator constant of Xu and Jia's r-map, for intensities in [0, 1].
COHERENCE_FLOOR = 0.5


def _box_sums(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Sum of ``values`` over every ``rows`` x ``cols`` window fully inside the array."""
    integral = np.pad(values.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (
        integral[rows:, cols:] - integral[:-rows, cols:] - integral[rows:, :-cols] + integral[:-rows, :-cols]
    )


def _neighbourhood_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sum over the ``size`` x ``size`` neighbourhood of each pixel (reflected at the border)."""
    half = size // 2
    return _box_sums(np.pad(values, half, mode="reflect"), size, size)


def edge_usefulness(grey: np.ndarray, kernel_size: int) -> np.ndarray:
    """``r(x) |∇B(x)|`` of a (H, W) image: gradient magnitude on coherent edges (see module)."""
    low, high = np.percentile(grey, [0.5, 99.5])
    scaled = np.clip((grey - low) / max(high - low, np.finfo(np.float64).tiny), 0.0, 1.0)
    grad_y, grad_x = np.gradient(scaled)
    magnitude = np.hypot(grad_x, grad_y)
    size = max(5, kernel_size // 2 * 2 + 1)
    coherence = np.hypot(_neighbourhood_sums(grad_x, size), _neighbourhood_sums(grad_y, size)) / (
        _neighbourhood_sums(magnitude, size) + COHERENCE_FLOOR
    )
    return coherence * magnitude


def informative_window(planes: np.ndarray, size: int, kernel_size: int) -> tuple[slice, slice]:
    """(row, column) slices of the ``size`` x ``size`` window best suited to estimate the blur.

    Parameters
    ----------
    planes : numpy.ndarray
        (..., H, W) image; leading axes (planes sharing one PSF, colour channels) are
        averaged into one grey image first.
    size : int
        Window side; a side at least the image's gives the whole extent on that axis.
    kernel_size : int
        Side of the PSF to be estimated (sets the neighbourhood of the edge measure).

    Returns
    -------
    tuple of slice
        The window with the largest sum of :func:`edge_usefulness`; among equal scores
        (an image without edges) the one nearest the centre.
    """
    grey = np.asarray(planes, dtype=np.float64).reshape(-1, *planes.shape[-2:]).mean(axis=0)
    height, width = grey.shape
    rows, cols = min(size, height), min(size, width)
    scores = _box_sums(edge_usefulness(grey, kernel_size), rows, cols)
    best = np.flatnonzero(scores >= scores.max() * (1 - 1e-9))
    tops, lefts = np.unravel_index(best, scores.shape)
    off_centre = np.hypot(tops - (height - rows) / 2, lefts - (width - cols) / 2)
    top, left = int(tops[np.argmin(off_centre)]), int(lefts[np.argmin(off_centre)])
    return slice(top, top + rows), slice(left, left + cols)
