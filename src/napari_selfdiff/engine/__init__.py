"""PyTorch engine: the self-diffusion loop, its stages and the classic restorations.

Imports no napari, magicgui or Qt module, so it runs headless on GPU servers. The public
entry points are in :mod:`napari_selfdiff.api`.
"""

from .events import DeblurResult, Progress, StepRecord, drive

__all__ = ["DeblurResult", "Progress", "StepRecord", "drive"]
