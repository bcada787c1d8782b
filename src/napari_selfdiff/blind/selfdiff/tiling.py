"""Overlapping tiles for images too large for the device: one PSF, blended tiles.

When a blind solve of the whole image does not fit in memory, the run can be retried
tiled (``on_out_of_memory="tile"``):

1. the PSF is estimated blind on one tile of each group of planes: a spatially invariant
   blur is the model, so one region identifies it, and the tile chosen is the one richest
   in coherent edges (:func:`.regions.informative_window`), which identify it best;
2. every tile, the centre one included, is deconvolved by non-blind self-diffusion with
   that PSF (the image network alone is trained: the same loop with a fixed kernel);
3. the tiles are blended with weights that ramp linearly across the overlaps, so no seam
   is left where neighbouring estimates differ slightly.

The overlap is at least twice the kernel size: each tile's border of half a kernel is
poorly determined (it depends on pixels outside the tile) and falls inside the ramp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Iterator

import numpy as np
import torch

from napari_selfdiff.blind.regions import informative_window
from napari_selfdiff.blind.selfdiff.planes import solve_planes
from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.inputs import plane_groups
from napari_selfdiff.results import Progress, StepRecord, renumbered

__all__ = ["blend_tiles", "choose_tile", "solve_tiled", "tile_slices", "tile_starts", "tile_weight"]


#: Tiles are multiples of this many pixels (the U-Net pools down four times in the paper preset).
TILE_MULTIPLE = 16


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``[0, length)``, overlapping by >= ``overlap``."""
    if tile >= length:
        return [0]
    count = int(np.ceil((length - overlap) / (tile - overlap)))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_slices(shape: tuple[int, int], tile: int, overlap: int) -> Iterator[tuple[slice, slice]]:
    """(row, column) slices of the overlapping tiles of a (H, W) image, row-major."""
    height, width = shape
    for top in tile_starts(height, tile, overlap):
        for left in tile_starts(width, tile, overlap):
            yield slice(top, min(top + tile, height)), slice(left, min(left + tile, width))


def tile_weight(shape: tuple[int, int], overlap: int) -> np.ndarray:
    """Blending weight of one tile: 1 inside, a linear ramp over ``overlap`` pixels at each edge.

    The ramp never reaches zero (it starts at 1 / (overlap + 1)), so every pixel of the image
    has a positive total weight even at the image's own border.
    """

    def ramp(n: int) -> np.ndarray:
        edge = np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)).astype(np.float64)
        return np.minimum(edge / (overlap + 1), 1.0)

    return np.outer(ramp(shape[0]), ramp(shape[1]))


def blend_tiles(
    shape: tuple[int, ...], pieces: Iterable[tuple[tuple[slice, slice], np.ndarray]], overlap: int
) -> np.ndarray:
    """Weighted average of tile estimates ``(slices, array[..., h, w])`` into an array of ``shape``."""
    total = np.zeros(shape, dtype=np.float64)
    weights = np.zeros(shape[-2:], dtype=np.float64)
    for (rows, cols), piece in pieces:
        weight = tile_weight(piece.shape[-2:], overlap)
        total[..., rows, cols] += piece * weight
        weights[rows, cols] += weight
    return total / weights


def choose_tile(side: int, kernel_size: int, fits: Callable[[int], bool]) -> int:
    """Largest tile side (a multiple of :data:`TILE_MULTIPLE`, below ``side``) that ``fits``.

    Raises
    ------
    ValueError
        Even a tile of four kernel sizes does not fit.
    """
    smallest = max(4 * kernel_size, 2 * TILE_MULTIPLE)
    tile = (side - 1) // TILE_MULTIPLE * TILE_MULTIPLE
    while tile >= smallest:
        if fits(tile):
            return tile
        tile -= TILE_MULTIPLE
    raise ValueError(f"even a {smallest} x {smallest} tile (four kernel sizes) does not fit in memory")


def solve_tiled(
    planes: np.ndarray,
    kernel_size: int,
    config: DeblurConfig,
    device: torch.device,
    seed: int,
    tile: int,
    overlap: int,
    *,
    batch_planes: int,
    network_tiles: bool = True,
    start: float,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, tuple[np.ndarray | None, list[np.ndarray], list[StepRecord]]]:
    """Blind PSF on the most informative tile of each group, then every tile non-blind, blended.

    Without ``network_tiles`` (the image is then restored by Richardson-Lucy) only the PSFs
    are estimated and the estimates returned are None. Progress events count the sub-runs
    (per group: one blind, then one per tile) as parts.
    """
    height, width = planes.shape[-2:]
    groups = plane_groups(planes.shape[0], config)
    slices = list(tile_slices((height, width), tile, overlap)) if network_tiles else []
    total = len(groups) * (1 + len(slices))
    estimates = np.empty_like(planes) if network_tiles else None
    psfs: list[np.ndarray] = []
    pupils: list[np.ndarray] = []
    history: list[StepRecord] = []
    parts = iter(range(total))
    common = dict(batch_planes=batch_planes, start=start, cancel=cancel)
    for group_index, members in enumerate(groups):
        group = planes[members]
        blind_rows, blind_cols = informative_window(group, tile, kernel_size)
        _, group_psfs, records, group_pupils = yield from renumbered(
            solve_planes(group[..., blind_rows, blind_cols], kernel_size, config, device,
                         seed + group_index, **common),
            next(parts), total, "estimate_psf",
        )  # fmt: skip
        history.extend(records)
        pieces = []
        for rows, cols in slices:
            tile_estimate, _, records, _ = yield from renumbered(
                solve_planes(group[..., rows, cols], kernel_size, config, device, seed + group_index,
                             fixed_psf=group_psfs[0], **common),
                next(parts), total, "tile",
            )  # fmt: skip
            history.extend(records)
            pieces.append(((rows, cols), tile_estimate))
        if estimates is not None:
            estimates[members] = blend_tiles(group.shape, pieces, overlap)
        psfs.append(group_psfs[0])
        pupils.extend(group_pupils)
    return estimates, psfs, history, pupils
