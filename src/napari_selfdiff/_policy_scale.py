"""The scale decisions of a run, for :mod:`.policy` (the only importer).

Kept apart only to keep :mod:`.policy` short: which factor ``scale="auto"`` picks, and whether
a reduced-scale run can estimate its PSF on the region it is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._checks import Problem
from .config import DEFAULT_PSF_WINDOW, DeblurConfig
from .engine.planes import plane_groups
from .engine.stages.estimate_psf import reduced_kernel_size
from .errors import InputError

__all__ = ["CPU_HALF_SCALE_FROM", "LONG_BLUR", "auto_scale", "check_reduced"]

#: PSF size (px) from which ``scale="auto"`` estimates at half scale on any device.
LONG_BLUR = 31

#: PSF size (px) from which ``scale="auto"`` estimates at half scale on the CPU.
CPU_HALF_SCALE_FROM = 13


def auto_scale(problem: Problem, config: DeblurConfig, device: torch.device) -> int:
    """2 when one PSF is estimated, the half-scale image holds it and the blur is long enough."""
    layout, kernel_size = problem.layout, problem.kernel_size
    one_psf = len(plane_groups(problem.planes.shape[0], config)) == 1
    reduced = reduced_kernel_size(kernel_size, 2)
    fits = 2 * reduced <= min(layout.height, layout.width) // 2 and 4 * reduced <= DEFAULT_PSF_WINDOW
    wanted = kernel_size >= LONG_BLUR or (device.type == "cpu" and kernel_size >= CPU_HALF_SCALE_FROM)
    return 2 if one_psf and fits and wanted else 1


def check_reduced(
    height: int, width: int, kernel_size: int, factor: int, reduced: int, psf_window: Any, n_groups: int
) -> None:
    if n_groups != 1:
        raise InputError(
            "a reduced-scale run estimates one PSF: solve a stack with "
            "`stack_mode` 'shared' or 'shared-channels', or its planes one at a time"
        )
    if psf_window is not None and (
        isinstance(psf_window, bool)
        or not isinstance(psf_window, (int, np.integer))
        or psf_window < 4 * reduced
    ):
        raise InputError(
            f"`psf_window` must be an integer >= {4 * reduced} (four reduced kernels), got {psf_window!r}"
        )
    rows, cols = height // factor, width // factor
    if psf_window is not None:
        rows, cols = min(rows, int(psf_window)), min(cols, int(psf_window))
    if 2 * reduced > min(rows, cols):
        raise InputError(
            f"at 1/{factor} scale the {kernel_size} px PSF is {reduced} px, too large for the "
            f"{rows} x {cols} region it is estimated on (at least twice the kernel is needed): "
            "use a smaller `scale` or a larger `psf_window`"
        )
