"""The solver part of the blind-deconvolution form: a preset picker and the "custom" fields."""

from magicgui.widgets import ComboBox, Container, FloatSpinBox, SpinBox

from napari_selfdiff.config import PRESETS, DeblurConfig, default_preset_name
from napari_selfdiff.resources import resolve_device

__all__ = ["CUSTOM", "SolverFields", "available_devices"]

CUSTOM = "custom"


def available_devices() -> list[str]:
    """Device choices offered to the user: auto, cpu and what PyTorch detects."""
    import torch

    choices = ["auto", "cpu"]
    if torch.cuda.is_available():
        choices.append("cuda")
    if torch.backends.mps.is_available():
        choices.append("mps")
    return choices


class SolverFields(Container):
    """Preset picker plus the "custom" fields, read from and written to a DeblurConfig."""

    def __init__(self) -> None:
        default = default_preset_name(resolve_device("auto"))
        self.preset = ComboBox(
            label="preset",
            choices=[*[p for p in PRESETS if p != "tiny"], CUSTOM, "tiny"],
            value=default,
            tooltip="paper: the published settings (minutes on a GPU, hours on a CPU); fast: about a "
            "minute for 128 x 128 on a CPU; custom: set the networks below",
        )
        self.steps = SpinBox(
            label="T (outer steps)", min=1, max=1000, tooltip="noise levels of the schedule, one preview each"
        )
        self.inner_steps = SpinBox(
            label="S (inner steps)", min=1, max=10000, tooltip="optimiser steps at each noise level"
        )
        self.kernel_sparsity = FloatSpinBox(
            label="lambda_k (sparsity)", min=0, max=10, step=1e-4,
            tooltip="weight pushing the PSF towards few non-zero taps",
        )  # fmt: skip
        self.kernel_noise_scale = FloatSpinBox(
            label="mu (kernel noise)", min=0, max=10, step=0.01,
            tooltip="noise added to the PSF network's input at each step, relative to the image's",
        )  # fmt: skip
        self.lr = FloatSpinBox(
            label="learning rate",
            min=1e-6,
            max=1,
            step=1e-4,
            tooltip="step size of the image network's optimiser",
        )
        self.net_width = SpinBox(
            label="network width",
            min=2,
            max=256,
            tooltip="channels at the finest U-Net level; doubled at each level down",
        )
        self.depth = SpinBox(
            label="k-diff depth", min=1, max=8, tooltip="hidden layers of the kernel generator"
        )
        self.custom = [
            self.steps,
            self.inner_steps,
            self.kernel_sparsity,
            self.kernel_noise_scale,
            self.lr,
            self.net_width,
            self.depth,
        ]
        super().__init__(widgets=[self.preset, *self.custom], labels=True)
        self._base = default
        self._fill(DeblurConfig.preset(default))
        self.preset.changed.connect(self._on_preset)
        self._on_preset(self.preset.value)

    def _fill(self, config: DeblurConfig) -> None:
        self.steps.value = config.schedule.steps
        self.inner_steps.value = config.schedule.inner_steps
        self.kernel_sparsity.value = config.kernel_sparsity
        self.kernel_noise_scale.value = config.schedule.kernel_noise_scale
        self.lr.value = config.lr
        self.net_width.value = config.image_net.widths[0]
        self.depth.value = config.kernel_net.depth

    def _on_preset(self, name: str) -> None:
        if name != CUSTOM:
            self._base = name
            self._fill(DeblurConfig.preset(name))
        for widget in self.custom:
            widget.visible = name == CUSTOM

    def config(self, stack_mode: str) -> DeblurConfig:
        """The DeblurConfig the form describes."""
        base = DeblurConfig.preset(self._base)
        if self.preset.value != CUSTOM:
            return base.replace(stack_mode=stack_mode)
        levels = len(base.image_net.widths)
        return base.replace(
            **{
                "schedule.steps": self.steps.value,
                "schedule.inner_steps": self.inner_steps.value,
                "schedule.kernel_noise_scale": self.kernel_noise_scale.value,
                "kernel_sparsity": self.kernel_sparsity.value,
                "lr": self.lr.value,
                "image_net.widths": tuple(self.net_width.value * 2**i for i in range(levels)),
                "kernel_net.depth": self.depth.value,
                "stack_mode": stack_mode,
            }
        )
