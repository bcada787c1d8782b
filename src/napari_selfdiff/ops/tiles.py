r"""Overlapping tiles of an N-D array and their seamless blend (a partition of unity).

Each axis is cut into segments of at most ``tile`` samples. Around every inner cut ``c`` a
blend zone ``[c - o/2, c + o/2)`` (``o`` the ``overlap``) is shared by the two neighbours:
the left one's weight falls linearly from 1 to 0 across it while the right one's rises, so
the weights of all tiles sum to exactly 1 at every sample,

.. math::

    \hat x = \sum_t w_t\, x_t, \qquad w_t(p) = \prod_a r_{t,a}(p_a), \qquad \sum_t w_t = 1,

and a tile's result ``x_t`` enters the output only over its *write* region (segment plus half
the blend zones). The tile is computed on a larger *read* region, the write region widened by
``margin`` samples on each inner side, so the restoration near the tile's own edge (where it
does not see the data beyond) falls outside what it contributes. With a margin of a few PSF
sizes the tiled restoration matches the whole-array one to well below the noise (tested at
PSNR >= 45 dB), and its memory is bounded by the read region, not the array.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "axis_segments", "tile_grid"]


@dataclass(frozen=True)
class Tile:
    """One tile: where it reads, where it writes, and its blend weights along each axis.

    ``read``: the region of the array the tile is computed on (write region plus margins,
    clipped to the array); ``write``: the region its result is blended into; ``inner``: the
    write region relative to ``read``; ``ramps``: one 1-D weight vector per axis over
    ``write`` (their outer product is :meth:`weights`).
    """

    read: tuple[slice, ...]
    write: tuple[slice, ...]
    inner: tuple[slice, ...]
    ramps: tuple[np.ndarray, ...]

    def weights(self) -> np.ndarray:
        """The tile's blend weights over its write region (float32, in [0, 1])."""
        weights = np.ones((), np.float32)
        for ramp in self.ramps:
            weights = np.multiply.outer(weights, ramp)
        return weights

    @property
    def read_shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.read)


def axis_segments(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Cuts of ``[0, length)`` into near-equal segments of at most ``tile`` samples.

    Every segment is at least ``overlap`` long so that neighbouring blend zones never meet.

    Raises
    ------
    ValueError
        ``tile`` is smaller than ``overlap`` (or than 1).
    """
    if tile < max(1, overlap):
        raise ValueError(f"`tile` must be at least the overlap ({overlap}) and >= 1, got {tile}")
    count = max(1, math.ceil(length / tile))
    cuts = [round(i * length / count) for i in range(count + 1)]
    return list(itertools.pairwise(cuts))


def _axis_tiles(length: int, tile: int, overlap: int, margin: int) -> list[tuple[slice, slice, np.ndarray]]:
    """(read, write, ramp) of each segment of one axis."""
    half = overlap // 2
    zone = 2 * half
    rise = ((np.arange(zone) + 0.5) / zone).astype(np.float32) if zone else np.zeros(0, np.float32)
    segments = axis_segments(length, tile, overlap)
    out = []
    for index, (start, stop) in enumerate(segments):
        first, last = index == 0, index == len(segments) - 1
        write = slice(start if first else start - half, stop if last else stop + half)
        read = slice(
            0 if first else max(0, write.start - margin), length if last else min(length, write.stop + margin)
        )
        ramp = np.ones(write.stop - write.start, np.float32)
        if not first and zone:
            ramp[:zone] = rise
        if not last and zone:
            ramp[-zone:] = rise[::-1]
        out.append((read, write, ramp))
    return out


def tile_grid(
    shape: Sequence[int], tile: Sequence[int], overlap: Sequence[int], margin: Sequence[int]
) -> list[Tile]:
    """The tiles of an array of ``shape``, in C order (first axis slowest).

    Parameters
    ----------
    shape : sequence of int
        The array's shape (one entry per tiled axis).
    tile : sequence of int
        Largest segment per axis (the array's length: that axis is not cut).
    overlap : sequence of int
        Width of the blend zone around each cut, per axis (0: abutting tiles, no blend).
    margin : sequence of int
        Extra samples each tile reads beyond its write region on an inner side, per axis.

    Returns
    -------
    list of Tile
        Tiles whose :meth:`Tile.weights` sum to 1 at every position of the array.
    """
    if not (len(shape) == len(tile) == len(overlap) == len(margin)):
        raise ValueError("`shape`, `tile`, `overlap` and `margin` need one entry per axis")
    axes = [
        _axis_tiles(int(n), int(min(t, n)), int(o), int(m))
        for n, t, o, m in zip(shape, tile, overlap, margin, strict=True)
    ]
    tiles = []
    for combination in np.ndindex(*(len(a) for a in axes)):
        parts = [axes[a][i] for a, i in enumerate(combination)]
        read = tuple(p[0] for p in parts)
        write = tuple(p[1] for p in parts)
        inner = tuple(slice(w.start - r.start, w.stop - r.start) for r, w in zip(read, write, strict=True))
        tiles.append(Tile(read, write, inner, tuple(p[2] for p in parts)))
    return tiles
