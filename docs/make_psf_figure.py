"""Make docs/psf_example.png: aberrated PSFs from the optics module (README figure).

Run: python docs/make_psf_figure.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from napari_selfdiff.optics import noll_name, strehl_ratio, zernike_psf

OPTICS = {"wavelength": 0.52, "na": 1.4, "pixel_size": 0.04, "immersion_index": 1.518}
CASES = [{}, {4: 0.15}, {6: 0.15}, {8: 0.15}, {11: 0.15}, {9: 0.1, 14: 0.1}]


def main() -> Path:
    fig, axes = plt.subplots(2, len(CASES), figsize=(2.3 * len(CASES), 5))
    for column, coefficients in enumerate(CASES):
        psf = zernike_psf(coefficients, 41, **OPTICS)
        title = " + ".join(f"{noll_name(j)} {v}" for j, v in coefficients.items()) or "aberration-free"
        axes[0, column].imshow(psf, cmap="magma")
        axes[0, column].set_title(f"{title}\nStrehl {strehl_ratio(coefficients):.2f}", fontsize=8)
        stack = zernike_psf(coefficients, 41, z=np.linspace(-0.8, 0.8, 41), **OPTICS)
        axes[1, column].imshow(stack[:, 20, :] ** 0.5, cmap="magma", aspect="auto")
        axes[1, column].set_title("x-z section (sqrt)", fontsize=8)
    for axis in axes.ravel():
        axis.axis("off")
    fig.suptitle("zernike_psf: lambda 0.52 um, NA 1.4 oil, 40 nm pixels; z from -0.8 to 0.8 um", fontsize=9)
    fig.tight_layout()
    out = Path(__file__).with_name("psf_example.png")
    fig.savefig(out, dpi=100)
    return out


if __name__ == "__main__":
    print(main())
