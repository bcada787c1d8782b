"""Networks of the blind solver: the U-Net image denoiser and the kernel generator."""

from .kernel_generator import KernelGenerator
from .unet import UNet

__all__ = ["KernelGenerator", "UNet"]
