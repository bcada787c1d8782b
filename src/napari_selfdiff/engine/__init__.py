"""PyTorch engine: blind self-diffusion (DeblurSDI) and non-blind deconvolution.

Imports no napari, magicgui or Qt module, so it runs headless on GPU servers.
"""

from .blind import deblur, iter_deblur, resolve_scale
from .results import Cancelled, DeblurResult, Progress, StepRecord
from .solver import drive

__all__ = [
    "Cancelled",
    "DeblurResult",
    "Progress",
    "StepRecord",
    "deblur",
    "drive",
    "iter_deblur",
    "resolve_scale",
]
