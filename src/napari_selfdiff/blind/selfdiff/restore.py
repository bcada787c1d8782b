"""Restore the image with the estimated PSF(s) by Richardson-Lucy (RL-TV).

``config.restore_iterations`` and ``config.restore_tv_weight`` (:func:`..classic.restore_planes`),
one PSF per plane group. Used after a full-scale estimate when the plan restores by
Richardson-Lucy, and always after a reduced-scale estimate.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

import numpy as np
import torch

from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.inputs import plane_groups
from napari_selfdiff.restoration.classic import restore_planes
from napari_selfdiff.results import Progress

__all__ = ["restore_groups"]


def restore_groups(
    planes: np.ndarray,
    psfs: list[np.ndarray],
    config: DeblurConfig,
    device: torch.device,
    *,
    start: float | None = None,
    cancel: threading.Event | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """(Z, C, H, W) ``planes`` restored group by group, each with its PSF, in input intensities."""
    restored = np.empty_like(planes)
    for members, psf in zip(plane_groups(planes.shape[0], config), psfs, strict=True):
        restored[members] = yield from restore_planes(
            planes[members], psf, config, device, start=start, cancel=cancel
        )
    return restored
