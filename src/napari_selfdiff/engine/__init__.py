"""PyTorch engine: blind self-diffusion (DeblurSDI) and non-blind deconvolution.

Imports no napari, magicgui or Qt module, so it runs headless on GPU servers.
"""

from .results import Cancelled, DeblurResult, Progress, StepRecord
from .solver import deblur, drive, iter_deblur

__all__ = ["Cancelled", "DeblurResult", "Progress", "StepRecord", "deblur", "drive", "iter_deblur"]
