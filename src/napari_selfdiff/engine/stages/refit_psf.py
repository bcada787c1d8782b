"""Refit an upscaled PSF at full resolution on the window it was estimated on.

The window is restored with the PSF (Richardson-Lucy, :func:`.classic.restore_planes`; its
progress is yielded) and the kernel refitted on that restoration's strongest edges
(:func:`..psf_refit.refit_psf`), which recovers detail finer than the reduction factor.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from ...config import DeblurConfig
from ..classic import restore_planes
from ..events import Progress
from ..psf_refit import refit_psf

__all__ = ["refit_on_window"]


def refit_on_window(
    window: np.ndarray,
    psf: np.ndarray,
    config: DeblurConfig,
    device: torch.device,
    **run: Any,
) -> Generator[Progress, None, np.ndarray]:
    """``psf`` refitted at full resolution on (Z, C, H, W) ``window`` with ``config.psf_refit``.

    The refit is invariant to affine intensity maps, so it takes the window and its
    restoration in input intensities. ``run``: ``start`` and ``cancel`` of :func:`restore_planes`.
    """
    trial = yield from restore_planes(window, psf, config, device, **run)
    refit = config.psf_refit
    refitted = refit_psf(
        *(torch.as_tensor(array, device=device) for array in (window, trial, psf)),
        prior_weight=refit.prior_weight, edge_fraction=refit.edge_fraction,
        floor=refit.floor, reference_area=refit.reference_area, iterations=refit.iterations,
    )  # fmt: skip
    return refitted.cpu().numpy()
