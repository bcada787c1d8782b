"""The fields of the blind-deconvolution form: a basic part and an "Advanced" part.

Basic: the image, the kernel size (with its size in micrometres when the layer has a pixel
size), the quality/speed preset, the stack mode for stacks, the device. Advanced: everything
else, defaults read from :class:`~napari_selfdiff.config.deblur.DeblurConfig`. Tooltips say what a
field does; the measurements behind the defaults are in ``docs/benchmarks``.
"""

from typing import get_args

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.layers import Image

from napari_selfdiff._napari._solver_fields import SolverFields, available_devices
from napari_selfdiff.config import DEFAULT_KERNEL_SIZE, DeblurConfig, Method, OpticsConfig, Restore, StackMode
from napari_selfdiff.io.formats import INPUT_SUFFIXES
from napari_selfdiff.plan.policy import offered_stack_modes
from napari_selfdiff.plan.stack3d import kernel_3d
from napari_selfdiff.resources import describe_device, resolve_device

#: Each stack mode in a few words that fit the dock (the choice's label) ...
STACK_MODE_NAMES = {
    "per-plane": "2D, a PSF per plane",
    "shared": "2D, one PSF for all planes",
    "shared-channels": "2D, one PSF, one network",
    "3d": "3D, one 3D PSF",
}
#: ... and what it does, in the field's tooltip.
STACK_MODE_WORDS = {
    "per-plane": "2D, a PSF per plane: does not remove out-of-focus light from other planes",
    "shared": "2D, one PSF for all planes: does not remove out-of-focus light from other planes",
    "shared-channels": "2D, one PSF, the planes as channels of one network (fastest): does not remove "
    "out-of-focus light from other planes",
    "3d": "3D, one 3D PSF of 'PSF planes' x kernel size: removes out-of-focus light (needs the layer's "
    "z step in um)",
}


def kernel_hint(layer: Image | None, kernel_size: int, wavelength_um: float, na: float) -> str:
    """The kernel size in micrometres, and the in-focus widefield PSF's size in pixels."""
    if layer is None or str(layer.units[-1]) != "micrometer":
        return "the layer has no pixel size: kernel size in pixels only"
    pixel = float(layer.scale[-1])
    airy = 2.44 * wavelength_um / na  # diameter of the Airy disk's first dark ring
    return (
        f"{kernel_size} px = {kernel_size * pixel:.2f} um at {pixel:.3g} um/px; the in-focus PSF "
        f"(NA {na:g}, {wavelength_um:g} um) spans ~{airy:.2f} um = {airy / pixel:.1f} px"
    )


class BlindForm:
    """Creates the form's fields as attributes (mixed into the widget)."""

    def _make_fields(self) -> tuple[list, list]:
        """Create every field; return the basic and the advanced ones, in order."""
        defaults = DeblurConfig()
        self.image = create_widget(
            annotation=Image,
            label="image",
            options={"tooltip": "the blurred image: 2D, RGB or a (Z, Y, X) stack"},
        )
        self.kernel_size = SpinBox(
            label="kernel size (px)", value=DEFAULT_KERNEL_SIZE, min=3, max=255, step=2,
            tooltip="odd side of the PSF to estimate, in pixels: at least the blur's extent",
        )  # fmt: skip
        self.kernel_hint = Label(label="", value="")
        self.kernel_depth = SpinBox(
            label="PSF planes", value=7, min=3, max=63, step=2,
            tooltip="3D stack mode: odd number of planes of the 3D PSF (its depth is this times the z step)",
        )  # fmt: skip
        self.solver = SolverFields()
        self.solver.preset.label = "quality / speed"
        self.stack_mode = ComboBox(
            label="stack mode",
            choices=[(STACK_MODE_NAMES.get(mode, mode), mode) for mode in get_args(StackMode)],
            value=defaults.stack_mode,
            tooltip="how the planes of a (Z, Y, X) stack are deblurred:\n"
            + "\n".join(f"- {words}" for words in STACK_MODE_WORDS.values()),
        )
        self.device = ComboBox(
            label="device", choices=available_devices(), value="auto", tooltip="where the run computes"
        )
        self.device_info = Label(label="detected", value=describe_device(resolve_device("auto")))
        self.plan = Label(label="plan", value="")
        self.estimate = Label(label="estimate", value="")
        self.roi_button = PushButton(
            text="Preview on region",
            tooltip="run on a region first: the rectangle drawn in a Shapes layer (the selected one, else "
            "the last), or a 256 x 256 square at the centre of the view; a stack's 3 planes around the one "
            "shown. The result is added over the image at the region's place",
        )
        self.region_estimate = Label(label="", value="")
        self.apply_button = PushButton(
            text="Apply PSF to whole image", enabled=False,
            tooltip="restore the whole layer with the PSF found by the region preview (RL-TV, no new "
            "PSF estimate); enabled after a preview",
        )  # fmt: skip
        self.method = ComboBox(
            label="PSF method", choices=list(get_args(Method)), value=defaults.method,
            tooltip="classic: L0 alternating minimisation (seconds); selfdiff: the paper's two networks "
            "(minutes); auto: classic, and self-diffusion where the classic PSF is not reliable",
        )  # fmt: skip
        self.guard = CheckBox(
            label="do no harm", value=defaults.guard,
            tooltip="only denoise (not deconvolve) an image whose PSF does not agree with an independent "
            "estimate; the status line says when it happened",
        )  # fmt: skip
        self.camera_gain = FloatSpinBox(
            label="camera gain (e-/ADU)", value=0.0, min=0.0, max=1e4, step=0.1,
            tooltip="the camera's electrons per grey level; 0: the noise is estimated from the image",
        )  # fmt: skip
        self.camera_offset = FloatSpinBox(
            label="camera offset (ADU)", value=0.0, min=0.0, max=1e6, tooltip="the camera's dark level"
        )
        self.read_noise = FloatSpinBox(
            label="read noise (e-)", value=0.0, min=0.0, max=1e4, tooltip="the camera's read noise"
        )
        self.psf_scale = ComboBox(
            label="PSF scale", choices=[("auto", "auto"), *((str(n), n) for n in range(1, 9))], value="auto",
            tooltip="1: estimate the PSF at full resolution; N > 1: on the image averaged down by N, then "
            "refitted at full resolution (faster for large PSFs); auto: the plan says which",
        )  # fmt: skip
        self.psf_refit = CheckBox(
            label="refit PSF", value=defaults.psf_refit.enabled,
            tooltip="at PSF scale > 1: refit the upscaled PSF at full resolution on the strongest edges",
        )  # fmt: skip
        self.restore = ComboBox(
            label="restore", choices=list(get_args(Restore)),
            tooltip="how the sharp image is made from the PSF: the network's image, Richardson-Lucy with "
            "TV (RL-TV), the noise-aware TV deconvolution, or auto; follows the preset",
        )  # fmt: skip
        self.psf_model = ComboBox(
            label="PSF model",
            choices=[("free: any kernel", "free"), ("Zernike pupil: reports the aberrations", "zernike")],
            value=defaults.kernel_net.model,
            tooltip="free: any non-negative kernel; Zernike: an optical PSF |FT(pupil)|^2 whose aberrations "
            "(waves RMS) are estimated and reported (self-diffusion at full scale; with a pixel size in um "
            "the pupil's sampling follows from NA and wavelength)",
        )
        self.wavelength = FloatSpinBox(
            label="wavelength (um)", value=0.52, min=0.2, max=2.0, step=0.01,
            tooltip="emission wavelength: the kernel size hint and the Zernike PSF model",
        )  # fmt: skip
        self.na = FloatSpinBox(
            label="NA", value=1.4, min=0.05, max=1.7, step=0.05,
            tooltip="objective numerical aperture: the kernel size hint and the Zernike PSF model",
        )  # fmt: skip
        self.immersion = FloatSpinBox(
            label="immersion index", value=1.518, min=1.0, max=2.0, step=0.001,
            tooltip="refractive index of the immersion medium (Zernike PSF model; NA at most this)",
        )  # fmt: skip
        self.seed = SpinBox(
            label="seed", value=0, min=0, max=2**31 - 1, tooltip="random seed of the networks"
        )
        self.ground_truth = create_widget(
            annotation=Image | None, label="ground truth",
            options={"tooltip": "optional sharp image: PSNR/SSIM plotted per step (never changes the run)"},
        )  # fmt: skip
        self.folder_in = FileEdit(
            mode="d",
            label="input folder",
            tooltip=f"apply to every image ({', '.join(INPUT_SUFFIXES)}) in it",
        )
        self.folder_out = FileEdit(mode="d", label="output folder", tooltip="where the results are written")
        self.folder_in.choose_btn.tooltip = "choose the folder of images to deblur"
        self.folder_out.choose_btn.tooltip = "choose the folder the results are written to"
        self.folder_button = PushButton(
            text="Apply to folder...",
            tooltip="deblur every image of the input folder with these settings, in the background; the "
            "results and a summary.md are written to the output folder",
        )
        for label in (self.plan, self.estimate, self.kernel_hint, self.region_estimate):
            label.native.setWordWrap(True)
        basic = [
            self.image, self.kernel_size, self.kernel_hint, self.solver, self.stack_mode, self.kernel_depth,
            self.device,
            *self._controls(), self.plan, self.estimate, self.roi_button, self.region_estimate,
            self.apply_button,
        ]  # fmt: skip
        advanced = [
            self.method, self.guard, self.psf_scale, self.psf_refit, self.restore, self.camera_gain,
            self.camera_offset, self.read_noise, self.psf_model, self.wavelength, self.na, self.immersion,
            self.device_info, self.seed,
            self.ground_truth, self.folder_in, self.folder_out, self.folder_button,
        ]  # fmt: skip
        return basic, advanced

    def _kernel_size(self) -> int | tuple[int, int, int]:
        """K, or (Kz, K, K) in the 3D stack mode."""
        size = int(self.kernel_size.value)
        return (int(self.kernel_depth.value), size, size) if self.stack_mode.value == "3d" else size

    def _voxel(self) -> dict[str, float]:
        """The layer's z step and pixel size (um) for a 3D run; empty otherwise."""
        layer = self.image.value
        if self.stack_mode.value != "3d" or layer is None or layer.ndim != 3:
            return {}
        units = [str(unit) for unit in layer.units]
        if units[-1] != "micrometer" or units[-3] != "micrometer":
            return {}
        return {"z_step": float(layer.scale[-3]), "pixel_size": float(layer.scale[-1])}

    def _offer_stack_modes(self, *_: object) -> None:
        """The stack modes the policy offers for the chosen layer, its default selected.

        Also the microscope (wavelength, NA, immersion) from the layer's metadata when it has them:
        with them and a z step the policy proposes 3D (the physical pupil fit) and its PSF depth.
        """
        layer = self.image.value
        known = (layer.metadata.get("napari_selfdiff") or {}) if layer is not None else {}
        for key, widget in (
            ("wavelength_um", self.wavelength),
            ("na", self.na),
            ("immersion_index", self.immersion),
        ):
            if isinstance(known.get(key), (int, float)):
                widget.value = float(known[key])
        z_step = None
        if layer is not None and layer.ndim == 3 and not layer.rgb and str(layer.units[-3]) == "micrometer":
            z_step = float(layer.scale[-3])
        optics_known = all(isinstance(known.get(key), (int, float)) for key in ("wavelength_um", "na"))
        modes = ()
        if layer is not None and layer.ndim == 3:
            modes = offered_stack_modes("ZYX", z_step, optics_known=optics_known)
        if modes:
            self.stack_mode.choices = [(STACK_MODE_NAMES[mode], mode) for mode in modes]
            self.stack_mode.value = modes[0]
        optics = self.optics() if self.na.value <= self.immersion.value else None
        if modes[:1] == ("3d",) and optics is not None:
            box = kernel_3d(int(self.kernel_size.value), optics, z_step, layer.data.shape[0])
            self.kernel_depth.value = max(self.kernel_depth.min, min(box[0], self.kernel_depth.max))

    def optics(self) -> OpticsConfig | None:
        """The microscope of this form and the layer's pixel size (um), or None without one in um.

        Raises ``ConfigError`` for an NA above the immersion index (the form says so on Run).
        """
        layer = self.image.value
        if layer is None or str(layer.units[-1]) != "micrometer":
            return None
        return OpticsConfig(
            na=self.na.value, wavelength=self.wavelength.value, pixel_size=float(layer.scale[-1]),
            immersion_index=self.immersion.value,
        )  # fmt: skip
