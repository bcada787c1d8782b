"""Degrade widget: blur a layer with a PSF layer or a generated kernel, plus noise."""

from magicgui.widgets import ComboBox, Container, FloatSpinBox, PushButton, SpinBox, create_widget
from napari.layers import Image
from napari.utils.notifications import show_error

import napari
from napari_selfdiff._napari._form import scrolling
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


class DegradeWidget(Container):
    """Blur an image layer by a PSF layer or a generated kernel and add Gaussian/Poisson noise.

    The result keeps the input's shape, dtype, scale and translation; the kernel used is
    stored in the layer metadata. Each click adds a new layer (never overwrites an earlier
    one); a bad input is a notification with its reason and adds nothing. The form sits in a
    scroll area, so the dock can be short.
    """

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        super().__init__()
        self.viewer = viewer
        self.image = create_widget(
            annotation=Image, label="image", options={"tooltip": "the sharp image to blur"}
        )
        self.psf = create_widget(
            annotation=Image | None, label="psf",
            options={"tooltip": "the PSF layer to blur with (kernel: PSF layer)"},
        )  # fmt: skip
        self.kernel = ComboBox(
            label="kernel", choices=KERNELS, value="PSF layer",
            tooltip="the PSF layer, or a generated kernel: camera shake (a random motion path), gaussian "
            "or disk",
        )  # fmt: skip
        self.kernel_size = SpinBox(
            label="kernel size",
            value=15,
            min=3,
            max=255,
            step=2,
            tooltip="odd side of a generated kernel (px)",
        )
        self.kernel_parameter = FloatSpinBox(
            label="sigma / radius (px)", value=2.0, min=0.1, max=100.0,
            tooltip="the gaussian's sigma or the disk's radius",
        )  # fmt: skip
        self.noise_sigma = FloatSpinBox(
            label="noise sigma", value=0.01, min=0.0, max=1.0, step=0.001,
            tooltip="Gaussian noise added, relative to the image's range",
        )  # fmt: skip
        self.poisson_photons = FloatSpinBox(
            label="photons at peak (0: none)", value=0.0, min=0.0, max=1e9,
            tooltip="Poisson (shot) noise: the photons counted at the brightest pixel; 0 for none",
        )  # fmt: skip
        self.seed = SpinBox(
            label="seed", value=0, min=0, max=2**31 - 1, tooltip="random seed of the noise and the kernel"
        )
        self.call_button = PushButton(
            text="Degrade", tooltip="add the blurred, noisy image as a new layer (the input is kept)"
        )
        self.call_button.changed.connect(self.__call__)
        fields = [
            self.image, self.psf, self.kernel, self.kernel_size, self.kernel_parameter, self.noise_sigma,
            self.poisson_photons, self.seed, self.call_button,
        ]  # fmt: skip
        self.form = Container(widgets=fields, labels=True)
        scrolling(self, [self.form.native])

    def reset_choices(self, *_: object) -> None:
        """The layer pickers follow the viewer's layers (napari calls this on the docked widget)."""
        super().reset_choices()
        self.form.reset_choices()

    def __call__(self, *_: object) -> Image | None:
        """Blur and add the new layer; None (and a notification) for a bad input."""
        try:
            data, properties, _ = _degrade(
                self.viewer, self.image.value, self.psf.value, self.kernel.value, self.kernel_size.value,
                self.kernel_parameter.value, self.noise_sigma.value, self.poisson_photons.value,
                self.seed.value,
            )  # fmt: skip
        except (ValueError, TypeError) as error:
            show_error(f"Degrade: {error}")
            return None
        return self.viewer.add_image(data, **properties)


#: The plugin manifest's name of the dock (napari passes the viewer to a class's ``__init__``).
degrade_widget = DegradeWidget


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
