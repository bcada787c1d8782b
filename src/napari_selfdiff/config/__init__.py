"""Frozen configuration dataclasses: the one source of defaults, and the provenance of a run.

:class:`DeblurConfig` holds one section per part of the solver (:mod:`.sections`), the
microscope (:mod:`.optics`) and the z-stack mode (:mod:`.stack3d`); named presets and the one
device default are in :mod:`.deblur`; the validation rules every section shares in :mod:`.rules`.
"""

from napari_selfdiff.config.deblur import (
    DEFAULT_KERNEL_SIZE,
    DEFAULT_PSF_WINDOW,
    MAX_TV_WEIGHT,
    PRESETS,
    DeblurConfig,
    Method,
    Restore,
    Scale,
    StackMode,
    default_config,
    default_preset_name,
    preset,
    preset_name,
)
from napari_selfdiff.config.optics import OpticsConfig
from napari_selfdiff.config.sections import (
    ClassicConfig,
    ComputeConfig,
    ImageNetConfig,
    KernelNetConfig,
    PsfRefitConfig,
    ScheduleConfig,
)
from napari_selfdiff.config.stack3d import Stack3dConfig

__all__ = [
    "DEFAULT_KERNEL_SIZE",
    "DEFAULT_PSF_WINDOW",
    "MAX_TV_WEIGHT",
    "PRESETS",
    "ClassicConfig",
    "ComputeConfig",
    "DeblurConfig",
    "ImageNetConfig",
    "KernelNetConfig",
    "Method",
    "OpticsConfig",
    "PsfRefitConfig",
    "Restore",
    "Scale",
    "ScheduleConfig",
    "Stack3dConfig",
    "StackMode",
    "default_config",
    "default_preset_name",
    "preset",
    "preset_name",
]
