"""A restoration run over a large array in overlapping tiles, its output streamed plane by plane.

:func:`iter_restore_tiled` reads each tile's region from the source (a NumPy array, a memory
map, a Zarr or Dask array: anything sliced into a NumPy block), restores it with the given
function, blends its write region into an accumulator with the weights of
:mod:`napari_selfdiff.ops.tiles` and hands every plane of the first axis to ``emit`` as soon
as no later tile can touch it. Memory is bounded by one tile's working copies plus the planes
still open (one z block and its overlap), never by the array: the output is written as it is
produced. The restoration function decides the algorithm (the noise-aware TV per plane, 3D
Richardson-Lucy); it must use settings fitted to the whole array (intensity map, noise, TV
weight), not to the tile, for the tiles to solve one problem without seams.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from napari_selfdiff.errors import Cancelled
from napari_selfdiff.ops.tiles import Tile
from napari_selfdiff.results import Progress

__all__ = ["iter_restore_tiled", "restore_tiled"]


def iter_restore_tiled(
    source: Any,
    restore: Callable[[np.ndarray], np.ndarray],
    tiles: list[Tile],
    emit: Callable[[int, np.ndarray], None],
    *,
    start: float | None = None,
    cancel: threading.Event | None = None,
    stage: str = "restore",
) -> Generator[Progress, None, None]:
    """Restore a (Z, H, W) ``source`` tile by tile; ``emit(z, plane)`` each finished plane in order.

    Parameters
    ----------
    source : array-like
        (Z, H, W) data; ``source[tile.read]`` must give the block (a NumPy array, memory map,
        Zarr or Dask array).
    restore : callable
        ``restore(block) -> block`` of the same shape, float (the block is float64).
    tiles : list of Tile
        From :func:`~napari_selfdiff.ops.tiles.tile_grid` over the source's shape, in C order.
    emit : callable
        Receives ``(index, plane)``: each output plane, (H, W) float32, once, in order of ``index``.
    start : float, optional
        ``time.perf_counter()`` of the run's start, for the events' elapsed time.
    cancel : threading.Event, optional
        Checked before each tile; :class:`Cancelled` is raised when set.
    stage : str
        The events' stage name.

    Yields
    ------
    Progress
        One per tile (``inner`` of ``n_inner`` tiles).
    """
    start = time.perf_counter() if start is None else start
    plane_shape = tuple(s.stop for s in tiles[-1].write[1:])
    open_planes: dict[int, np.ndarray] = {}
    emitted = 0
    for index, tile in enumerate(tiles):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the run was cancelled")
        block = np.asarray(source[tile.read], dtype=np.float64)
        result = np.asarray(restore(block))[tile.inner] * tile.weights()
        for offset, z in enumerate(range(tile.write[0].start, tile.write[0].stop)):
            if z not in open_planes:
                open_planes[z] = np.zeros(plane_shape, np.float32)
            open_planes[z][tile.write[1:]] += result[offset]
        del block, result
        following = tiles[index + 1].write[0].start if index + 1 < len(tiles) else None
        while emitted in open_planes and (following is None or emitted < following):
            emit(emitted, open_planes.pop(emitted))
            emitted += 1
        yield Progress(
            0, 1, 1, 1, index + 1, len(tiles), float("nan"), time.perf_counter() - start, stage=stage
        )


def restore_tiled(source: Any, restore: Callable[[np.ndarray], np.ndarray], tiles: list[Tile]) -> np.ndarray:
    """:func:`iter_restore_tiled` into one float32 array (for small inputs and tests)."""
    first = tiles[-1]
    out = np.empty(tuple(s.stop for s in first.write), np.float32)

    def emit(index: int, plane: np.ndarray) -> None:
        out[index] = plane

    for _ in iter_restore_tiled(source, restore, tiles, emit):
        pass
    return out
