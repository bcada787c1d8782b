"""Networks of the blind solver: the U-Net image denoiser and the kernel generator."""

from napari_selfdiff.blind.selfdiff.nets.kernel_generator import KernelGenerator
from napari_selfdiff.blind.selfdiff.nets.unet import UNet

__all__ = ["KernelGenerator", "UNet"]
