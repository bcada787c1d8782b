"""Named presets of :class:`~napari_selfdiff.config.DeblurConfig`, and the one device default.

* ``"paper"``: Yang & Luo (arXiv 2510.27439): T = 30, S = 200, a 5-level U-Net 64 -> 1024 with
  attention; hours on a CPU, minutes on a GPU.
* ``"fast"``: T = 20, S = 50 and a 3-level U-Net 8 -> 32 without attention: about a minute for a
  128 x 128 image on two CPU cores.
* ``"tiny"``: tests and smoke runs only.

Every caller that has no preset of its own asks :func:`default_preset_name` (the CLI, batch,
the widget, the API), so the device -> preset rule lives here only. The measurements behind
the fast preset's choices are in ``docs/benchmarks/README.md``.
"""

from __future__ import annotations

from typing import Any

from .config import DeblurConfig, ImageNetConfig, KernelNetConfig, ScheduleConfig
from .errors import ConfigError

__all__ = ["PRESETS", "default_config", "default_preset_name", "preset", "preset_name"]


def _paper() -> DeblurConfig:
    return DeblurConfig()


def _fast() -> DeblurConfig:
    # A 3-level U-Net without attention, a low kernel learning rate, the gradient-weighted
    # data term, a kernel generator started near a centred Gaussian, the kernel frozen over the
    # last 40 % of the steps, T = 20 x S = 50, and restore="auto" (the noise-aware TV with the
    # estimated PSF): each choice measured in docs/benchmarks/README.md and
    # docs/benchmarks/validation/README.md.
    return DeblurConfig(
        schedule=ScheduleConfig(steps=20, inner_steps=50),
        image_net=ImageNetConfig(widths=(8, 16, 32), attention_levels=0),
        kernel_net=KernelNetConfig(hidden=500, depth=1, init_width=0.15),
        lr=1e-2,
        kernel_lr_ratio=0.05,
        gradient_weight=8.0,
        kernel_freeze_fraction=0.4,
        restore="auto",
    )


def _tiny() -> DeblurConfig:
    return DeblurConfig(
        schedule=ScheduleConfig(steps=3, inner_steps=5),
        image_net=ImageNetConfig(widths=(8, 16), attention_levels=1),
        kernel_net=KernelNetConfig(hidden=64, depth=1),
        lr=1e-2,
        kernel_lr_ratio=0.25,
        progress_every=1,
    )


PRESETS = {"paper": _paper, "fast": _fast, "tiny": _tiny}


def preset(name: str) -> DeblurConfig:
    """The preset called ``name`` (``"paper"``, ``"fast"`` or ``"tiny"``)."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ConfigError(f"`preset` must be one of {sorted(PRESETS)}, got {name!r}") from None
    return factory()


def default_preset_name(device: Any) -> str:
    """``"paper"`` on a CUDA GPU, ``"fast"`` elsewhere (the paper preset takes hours on a CPU).

    ``device`` is a ``torch.device`` or its type as a string (``"cuda"``, ``"cpu"``, ``"mps"``).
    """
    kind = getattr(device, "type", device)
    return "paper" if kind == "cuda" else "fast"


def default_config(device: Any) -> DeblurConfig:
    """The default preset for ``device`` (:func:`default_preset_name`)."""
    return preset(default_preset_name(device))


def preset_name(config: DeblurConfig) -> str | None:
    """The name of the preset ``config`` equals, or None for a configuration of its own."""
    return next((name for name, factory in PRESETS.items() if factory() == config), None)
