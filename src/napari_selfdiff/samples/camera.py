"""The end-to-end demonstration case, shared by the CLI demo and napari's sample data.

A 128 x 128 crop of scikit-image's ``camera`` image (shipped with scikit-image), blurred
by a seeded 15 x 15 camera-shake kernel with Gaussian noise sigma = 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.optics import blur, motion_kernel

__all__ = ["DemoCase", "make_demo_case", "save_figure"]


@dataclass(frozen=True)
class DemoCase:
    """A synthetic blind-deblurring case with its ground truth."""

    sharp: np.ndarray
    blurred: np.ndarray
    psf: np.ndarray
    noise_sigma: float
    kernel_seed: int


def make_demo_case(
    size: int = 128, kernel_size: int = 15, noise_sigma: float = 0.01, kernel_seed: int = 1, seed: int = 0
) -> DemoCase:
    """Centre crop of ``skimage.data.camera()`` in [0, 1] blurred by a camera-shake kernel."""
    from skimage import data

    image = data.camera().astype(np.float64) / 255.0
    top = (image.shape[0] - size) // 2
    left = (image.shape[1] - size) // 2
    sharp = image[top : top + size, left : left + size]
    psf = motion_kernel(kernel_size, seed=kernel_seed)
    blurred = blur(sharp, psf, noise_sigma=noise_sigma, seed=seed)
    return DemoCase(
        sharp.astype(np.float32), blurred.astype(np.float32), psf.astype(np.float32), noise_sigma, kernel_seed
    )


def save_figure(
    path: str | Path, case: DemoCase, estimate: np.ndarray, psf: np.ndarray, scores: dict[str, Any]
) -> Path:
    """Blurred | deblurred | ground truth, and true vs estimated PSF, with the scores in titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(17, 3.8), gridspec_kw={"width_ratios": [3, 3, 3, 1.4, 1.4]})
    panels = [
        (case.blurred, f"blurred\nPSNR {scores['psnr_blurred']:.2f} dB, SSIM {scores['ssim_blurred']:.3f}"),
        (estimate, f"deblurred\nPSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.3f}"),
        (case.sharp, "ground truth"),
    ]
    for axis, (image, title) in zip(axes[:3], panels, strict=True):
        axis.imshow(image, cmap="gray", vmin=0, vmax=1)
        axis.set_title(title, fontsize=10)
    axes[3].imshow(case.psf, cmap="magma")
    axes[3].set_title("true PSF", fontsize=10)
    axes[4].imshow(psf, cmap="magma")
    axes[4].set_title(f"estimated PSF\nMNC {scores['mnc']:.3f}", fontsize=10)
    for axis in axes:
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
