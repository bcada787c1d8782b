"""Memory estimate of a blind run and the out-of-memory message users see.

The estimate counts what autograd keeps for the backward pass of one inner iteration:
per U-Net level and image, about ``ACTIVATIONS_PER_LEVEL`` float32 feature maps of the
level's width (conv, BatchNorm and ReLU outputs of the encoder and decoder pairs, the
skip connection and the upsampled map), the attention matrices of the non-local blocks
(N^2 entries for N positions), and the parameters with their gradients and Adam moments.
It is meant to be right within a factor of about two, enough to refuse a run that cannot
fit and to tell the user by how much.
"""

from __future__ import annotations

from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.errors import OutOfMemory

__all__ = ["OutOfMemory", "estimate_bytes", "out_of_memory_message"]

ACTIVATIONS_PER_LEVEL = 14
FLOAT_BYTES = 4


def estimate_bytes(
    batch: int, channels: int, height: int, width: int, kernel_size: int, config: DeblurConfig
) -> int:
    """Approximate peak device memory in bytes of one blind solve on a (B, C, H, W) observation."""
    widths = config.image_net.widths
    levels = len(widths)
    multiple = 2 ** (levels - 1)
    he = -(-(height + kernel_size - 1) // multiple) * multiple
    we = -(-(width + kernel_size - 1) // multiple) * multiple
    activations = 0
    parameters = 0
    previous = channels
    for level, width_l in enumerate(widths):
        pixels = (he >> level) * (we >> level)
        activations += ACTIVATIONS_PER_LEVEL * batch * width_l * pixels
        if level >= levels - config.image_net.attention_levels:
            activations += 3 * batch * pixels * pixels  # scores, softmax, its gradient
        parameters += 9 * (previous * width_l + width_l * width_l)
        previous = width_l
    parameters *= 2  # decoder pairs
    k2 = kernel_size * kernel_size
    hidden = config.kernel_net.hidden
    parameters += k2 * hidden + (config.kernel_net.depth - 1) * hidden * hidden + hidden * k2
    fft = 6 * batch * channels * he * we  # complex spectra of the FFT blur, forward and backward
    return FLOAT_BYTES * (activations + fft + 4 * parameters)  # parameters, gradients, 2 Adam moments


def out_of_memory_message(needed: int, available: int | None, device: str) -> str:
    """Plain-words message with the estimate and what to do."""
    gib = 1024**3
    have = f", {available / gib:.1f} GiB free" if available is not None else ""
    elsewhere = "" if device.startswith("cpu") else ", or device='cpu'"
    return (
        f"not enough memory on {device}: this run needs about {needed / gib:.1f} GiB{have}. "
        "Options: the 'fast' preset (smaller networks), overlapping tiles sharing one PSF "
        "(on_out_of_memory='tile'; CLI --tile-on-oom), a smaller image crop or kernel size, "
        f"stack_mode='shared-channels' or 'per-plane' instead of 'shared' for stacks{elsewhere}."
    )
