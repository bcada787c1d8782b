"""A run retried in overlapping tiles sharing one PSF per plane group (see :mod:`..tiling`)."""

from __future__ import annotations

import threading
from collections.abc import Generator

import numpy as np
import torch

from ...config import DeblurConfig
from ..events import Progress, StepRecord, renumbered
from ..planes import plane_groups, solve_planes
from ..regions import informative_window
from ..tiling import blend_tiles, tile_slices

__all__ = ["solve_tiled"]


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
