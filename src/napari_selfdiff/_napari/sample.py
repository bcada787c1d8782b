"""Sample data: the camera demo (blurred crop, true PSF, sharp image) and a widefield stack."""

from napari_selfdiff.samples.camera import make_demo_case
from napari_selfdiff.samples.widefield import make_microscopy_case


def blurred_camera():
    """Layers for File > Open Sample: blurred, ground truth and true PSF."""
    case = make_demo_case()
    info = {
        "source": "skimage.data.camera, 128 x 128 centre crop",
        "noise_sigma": case.noise_sigma,
        "kernel_seed": case.kernel_seed,
    }
    return [
        (case.blurred, {"name": "blurred camera", "metadata": {"napari_selfdiff": info}}, "image"),
        (case.sharp, {"name": "camera ground truth", "visible": False}, "image"),
        (case.psf, {"name": "true PSF", "colormap": "magma", "visible": False}, "image"),
    ]


def widefield_beads():
    """A 16 x 96 x 96 widefield stack of beads and filaments in micrometres, its object and true 3D PSF."""
    case = make_microscopy_case()
    optics = {
        "source": "synthetic: napari_selfdiff.samples.widefield.make_microscopy_case()",
        "wavelength_um": case.wavelength_um,
        "na": case.na,
        "immersion_index": case.immersion_index,
    }
    depth, _, width = case.blurred.shape
    spatial = {
        "scale": (case.z_step_um, case.pixel_size_um, case.pixel_size_um),
        "units": ("micrometer",) * 3,
        "axis_labels": ("z", "y", "x"),
    }
    # The PSF is shown right of the data, its focus on the stack's middle plane.
    psf_translate = (
        (depth // 2 - case.psf.shape[0] // 2) * case.z_step_um,
        0.0,
        (width + 4) * case.pixel_size_um,
    )
    psf_properties = {"name": "true 3D PSF", "colormap": "magma", "visible": False, **spatial}
    psf_properties.update(translate=psf_translate, metadata={"napari_selfdiff": optics})
    return [
        (
            case.blurred,
            {"name": "widefield beads", "metadata": {"napari_selfdiff": optics}, **spatial},
            "image",
        ),
        (case.sharp, {"name": "beads ground truth", "visible": False, **spatial}, "image"),
        (case.psf, psf_properties, "image"),
    ]
