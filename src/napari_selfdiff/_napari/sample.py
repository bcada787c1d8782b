"""Sample data: the demo case (blurred camera crop, its true PSF and sharp image)."""

from ..demo import make_demo_case


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
