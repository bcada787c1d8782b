"""Degrade widget: blur a layer with a PSF layer or a generated kernel, plus noise."""

from typing import Optional

from magicgui import magic_factory
from napari.layers import Image
from napari.types import LayerDataTuple
from napari.utils.notifications import show_error

import napari
from napari_selfdiff._napari._layers import layer_array, layer_axes, spatial_properties
from napari_selfdiff.optics import blur, disk_kernel, gaussian_kernel, motion_kernel

KERNELS = ("PSF layer", "camera shake", "gaussian", "disk")


def make_kernel(kind: str, size: int, parameter: float, seed: int):
    """The generated kernel of the form (size, sigma or radius, seed)."""
    if kind == "camera shake":
        return motion_kernel(size, seed=seed)
    if kind == "gaussian":
        return gaussian_kernel(size, parameter)
    return disk_kernel(size, parameter)


def unique_name(viewer: "napari.viewer.Viewer", base: str) -> str:
    """``base``, or ``base 2``, ``base 3``... : a name no layer of ``viewer`` has yet."""
    name, count = base, 1
    while name in viewer.layers:
        count += 1
        name = f"{base} {count}"
    return name


@magic_factory(
    kernel={"choices": KERNELS},
    kernel_size={"min": 3, "max": 255, "step": 2},
    kernel_parameter={"label": "sigma / radius (px)", "min": 0.1, "max": 100.0},
    noise_sigma={"min": 0.0, "max": 1.0, "step": 0.001},
    poisson_photons={"label": "photons at peak (0: none)", "min": 0.0, "max": 1e9},
    seed={"min": 0, "max": 2**31 - 1},
    call_button="Degrade",
)
def degrade_widget(
    viewer: "napari.viewer.Viewer",
    image: Image,
    psf: Optional[Image] = None,  # noqa: UP045 - magicgui reads Optional for "None allowed"
    kernel: str = "PSF layer",
    kernel_size: int = 15,
    kernel_parameter: float = 2.0,
    noise_sigma: float = 0.01,
    poisson_photons: float = 0.0,
    seed: int = 0,
) -> LayerDataTuple:
    """Blur ``image`` by a PSF layer or a generated kernel and add Gaussian/Poisson noise.

    The result keeps the input's shape, dtype, scale and translation; the kernel used is
    stored in the layer metadata. Each click adds a new layer (never overwrites an earlier
    one); a bad input is a notification with its reason and adds nothing.
    """
    try:
        return _degrade(
            viewer, image, psf, kernel, kernel_size, kernel_parameter, noise_sigma, poisson_photons, seed
        )
    except (ValueError, TypeError) as error:
        show_error(f"Degrade: {error}")
        return None


def _degrade(viewer, image, psf, kernel, kernel_size, kernel_parameter, noise_sigma, poisson_photons, seed):
    if image is None:
        raise ValueError("choose an image layer")
    if kernel == "PSF layer":
        if psf is None:
            raise ValueError("choose a PSF layer, or a generated kernel")
        psf_array = layer_array(psf)
        psf_name = psf.name
    else:
        psf_array = make_kernel(kernel, kernel_size, kernel_parameter, seed)
        psf_name = kernel
    data = blur(
        layer_array(image),
        psf_array,
        noise_sigma=noise_sigma,
        poisson_photons=poisson_photons or None,
        seed=seed,
        axes=layer_axes(image),
    )
    metadata = {
        "napari_selfdiff": {
            "method": "degrade",
            "psf": psf_name,
            "noise_sigma": noise_sigma,
            "poisson_photons": poisson_photons or None,
            "seed": seed,
            "psf_array": psf_array.tolist(),
        }
    }
    return (
        data,
        {
            "name": unique_name(viewer, f"{image.name} degraded"),
            "rgb": image.rgb,
            "metadata": metadata,
            **spatial_properties(image),
        },
        "image",
    )
