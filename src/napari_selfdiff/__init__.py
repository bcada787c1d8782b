"""napari-selfdiff: blind deconvolution by self-diffusion, and Zernike PSFs.

The public API is re-exported lazily (PEP 562) so that ``import napari_selfdiff`` imports
neither torch nor Qt.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "deblur": "napari_selfdiff.api",
    "iter_deblur": "napari_selfdiff.api",
    "deblur_large": "napari_selfdiff.large",
    "deconvolve": "napari_selfdiff.restoration.nonblind",
    "iter_deconvolve": "napari_selfdiff.restoration.nonblind",
    "resolve_scale": "napari_selfdiff.plan.policy",
    "plan_run": "napari_selfdiff.plan.policy",
    "RunPlan": "napari_selfdiff.plan.policy",
    "DeblurResult": "napari_selfdiff.results",
    "Progress": "napari_selfdiff.results",
    "Cancelled": "napari_selfdiff.errors",
    "DeblurConfig": "napari_selfdiff.config.deblur",
    "InputError": "napari_selfdiff.errors",
    "ConfigError": "napari_selfdiff.errors",
    "OutOfMemory": "napari_selfdiff.errors",
    "NoiseModel": "napari_selfdiff.noise",
    "estimate_noise": "napari_selfdiff.noise",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_selfdiff' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
