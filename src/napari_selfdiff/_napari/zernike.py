"""Zernike PSF dock widget: physical parameters and a coefficient table, live PSF layer.

Opened, it adds no layer: the PSF and pupil phase layers appear when asked ("Show PSF", a
changed field, an image chosen), beside that image, and the view follows them.
"""

import numpy as np
from magicgui.widgets import CheckBox, Container, FloatSpinBox, Label, PushButton, SpinBox, create_widget
from napari.layers import Image
from qtpy.QtCore import QTimer

import napari
from napari_selfdiff._napari._form import scrolling_form
from napari_selfdiff._napari._layers import beside
from napari_selfdiff.optics import (
    noll_name,
    nyquist_pixel_size,
    random_aberration,
    rms_wavefront_error,
    strehl_ratio,
    zernike_psf,
)
from napari_selfdiff.optics.pupil import pupil_coordinates, wavefront

#: Noll terms offered in the table: tip/tilt to quadrafoil (radial order <= 4).
TABLE_TERMS = tuple(range(2, 16))
DEBOUNCE_MS = 150
PSF_LAYER = "Zernike PSF"
PHASE_LAYER = "Zernike pupil phase"


class ZernikePsfWidget(Container):
    """Generate a PSF from wavelength, NA, immersion, pixel size and Zernike coefficients."""

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        self.viewer = viewer
        self.source = create_widget(
            annotation=Image | None,
            label="for image",
            options={
                "tooltip": "image layer whose pixel size, z step, wavelength and NA (when its metadata has "
                "them) the PSF takes; the PSF is shown beside it, at its scale"
            },
        )
        self.take_button = PushButton(
            text="Take optics from image",
            tooltip="read the pixel size and z step (layer scale, um), the wavelength and NA (metadata) and, "
            "after a blind run with the Zernike model, the aberrations it found",
        )
        self.show_button = PushButton(
            text="Show PSF", tooltip="add the PSF and its pupil phase as layers (beside the image chosen)"
        )
        self.wavelength = FloatSpinBox(label="wavelength (um)", value=0.52, min=0.2, max=2.0, step=0.01)
        self.na = FloatSpinBox(label="NA", value=1.4, min=0.05, max=1.7, step=0.05)
        self.immersion = FloatSpinBox(label="immersion index", value=1.518, min=1.0, max=2.0, step=0.001)
        self.pixel_size = FloatSpinBox(label="pixel size (um)", value=0.065, min=0.001, max=10.0, step=0.005)
        self.psf_size = SpinBox(label="size (px)", value=33, min=3, max=255, step=2)
        self.oversample = SpinBox(
            label="oversample",
            value=1,
            min=1,
            max=15,
            step=2,
            tooltip="odd sub-pixels per pixel; the PSF is integrated over each pixel",
        )
        self.three_d = CheckBox(label="3D through focus", value=False)
        self.z_start = FloatSpinBox(label="z start (um)", value=-1.0, min=-100, max=100, step=0.1)
        self.z_stop = FloatSpinBox(label="z stop (um)", value=1.0, min=-100, max=100, step=0.1)
        self.z_step = FloatSpinBox(label="z step (um)", value=0.2, min=0.001, max=50, step=0.05)
        self.coefficients = {
            j: FloatSpinBox(
                label=f"Z{j} {noll_name(j)}",
                value=0.0,
                min=-5.0,
                max=5.0,
                step=0.001,
                tooltip=f"Noll j = {j}, waves RMS",
            )
            for j in TABLE_TERMS
        }
        self.rms = FloatSpinBox(label="random RMS (waves)", value=0.1, min=0.0, max=2.0, step=0.01)
        self.seed = SpinBox(label="random seed", value=0, min=0, max=2**31 - 1)
        self.random_button = PushButton(
            text="random aberration", tooltip="draw seeded random coefficients (Noll 4-15) of the RMS above"
        )
        self.reset_button = PushButton(text="reset", tooltip="set every coefficient to 0 (a perfect pupil)")
        self.summary = Label(value="")
        optics = [
            self.source,
            self.take_button,
            self.wavelength,
            self.na,
            self.immersion,
            self.pixel_size,
            self.psf_size,
            self.oversample,
            self.three_d,
            self.z_start,
            self.z_stop,
            self.z_step,
        ]
        super().__init__()
        self.summary.native.setWordWrap(True)
        buttons = [self.show_button, self.rms, self.seed, self.random_button, self.reset_button]
        basic = [*optics, *buttons, self.summary]
        # The coefficient table (14 rows) in a section of its own, in a scroll area: the dock
        # stays usable on a small screen.
        self.form, self.table, self.table_section = scrolling_form(
            self, basic, list(self.coefficients.values()), title="Zernike coefficients (waves RMS)"
        )
        self.table_section.expand(animate=False)
        self._timer = QTimer(self.native)  # dies with the widget: no update after the dock closes
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.update_psf)
        for widget in (*optics, *self.coefficients.values()):
            if widget is not self.take_button:
                widget.changed.connect(self._schedule)
        self.take_button.changed.connect(self.take_from_image)
        self.show_button.changed.connect(self.update_psf)
        self.source.changed.connect(self.take_from_image)
        self.three_d.changed.connect(self._show_z)
        self.random_button.changed.connect(self.randomise)
        self.reset_button.changed.connect(self.reset)
        self._show_z(False)
        self.update_psf(show=False)  # the summary only: no layer until asked

    def reset_choices(self, *_: object) -> None:
        """The image picker follows the viewer's layers (napari calls this on the docked widget)."""
        super().reset_choices()
        self.form.reset_choices()

    def take_from_image(self, *_: object) -> None:
        """Pixel size, z step (layer scale, micrometres), wavelength and NA (layer metadata)."""
        layer = self.source.value
        if layer is None:
            return
        units = [str(unit) for unit in layer.units]
        if units[-1] != "micrometer":
            self.summary.value = f"{layer.name!r} has no pixel size in micrometres: set it by hand"
            return
        with self.pixel_size.changed.blocked():
            self.pixel_size.value = float(layer.scale[-1])
        if layer.ndim >= 3 and not layer.rgb and units[-3] == "micrometer":
            with self.z_step.changed.blocked():
                self.z_step.value = float(layer.scale[-3])
        optics = layer.metadata.get("napari_selfdiff", {}) if isinstance(layer.metadata, dict) else {}
        # A blind run with the Zernike model: its microscope and the aberrations it found.
        used = (optics.get("config") or {}).get("optics") or {}
        found = (optics.get("aberrations") or [{}])[0].get("coefficients_waves")
        for key, widget in (
            ("wavelength_um", self.wavelength),
            ("wavelength", self.wavelength),
            ("na", self.na),
            ("immersion_index", self.immersion),
        ):
            value = optics.get(key, used.get(key))
            if isinstance(value, (int, float)):
                with widget.changed.blocked():
                    widget.value = float(value)
        if found:
            self._set({int(j): float(v) for j, v in found.items()})
        self.update_psf()
        if found:
            self.summary.value = f"aberrations estimated blind on {layer.name!r}; {self.summary.value}"

    def _place(self, shape: tuple[int, ...], scale: tuple[float, ...]) -> dict:
        """Beside the chosen image at the PSF's own sampling; a 3D PSF centred on the plane shown."""
        layer, ndim = self.source.value, len(shape)
        if layer is None:
            labels = ("z", "y", "x")[-ndim:]
            return {"scale": scale, "units": ("micrometer",) * ndim, "axis_labels": labels}
        spatial = layer.ndim if not layer.rgb else 2
        place = beside(layer, min(ndim, spatial))
        place["scale"] = scale
        if ndim == 3:  # centred on the plane shown (z = 0 for a 2D image)
            z = float(self.viewer.dims.point[-3]) if self.viewer.dims.ndim >= 3 else 0.0
            z -= (shape[0] // 2) * scale[0]
            place["translate"] = (z, *place["translate"][-2:])
            place["units"] = (place["units"][0] if spatial >= 3 else "micrometer", *place["units"][-2:])
            place["axis_labels"] = ("z", "y", "x")
        return place

    def _show_z(self, on: bool) -> None:
        for widget in (self.z_start, self.z_stop, self.z_step):
            widget.visible = bool(on)

    def _schedule(self, *_: object) -> None:
        self._timer.start()  # restarts: one update after the last change (debounce)

    def coefficient_values(self) -> dict[int, float]:
        return {j: float(w.value) for j, w in self.coefficients.items() if w.value}

    def randomise(self) -> None:
        """Draw a seeded random aberration over Noll 4..15 with the chosen RMS."""
        drawn = random_aberration(self.rms.value, seed=int(self.seed.value))
        self._set(drawn)
        self.seed.value = int(self.seed.value) + 1  # next click gives a new draw

    def reset(self) -> None:
        self._set({})

    def _set(self, values: dict[int, float]) -> None:
        for j, widget in self.coefficients.items():
            with widget.changed.blocked():
                widget.value = float(np.clip(values.get(j, 0.0), widget.min, widget.max))
        self.update_psf()

    def update_psf(self, *_: object, show: bool = True) -> None:
        """Recompute the PSF and the pupil phase and update (or, with ``show``, add) their layers."""
        self._timer.stop()
        coefficients = self.coefficient_values()
        z = None
        if self.three_d.value:
            if self.z_step.value <= 0 or self.z_stop.value < self.z_start.value:
                self.summary.value = "z range: need start <= stop and step > 0"
                return
            z = np.arange(self.z_start.value, self.z_stop.value + self.z_step.value / 2, self.z_step.value)
        try:
            import warnings

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                psf = zernike_psf(
                    coefficients,
                    int(self.psf_size.value),
                    wavelength=self.wavelength.value,
                    na=self.na.value,
                    pixel_size=self.pixel_size.value,
                    immersion_index=self.immersion.value,
                    z=z,
                    oversample=int(self.oversample.value),
                )
        except ValueError as error:
            self.summary.value = str(error)
            return
        strehl, rms = strehl_ratio(coefficients), rms_wavefront_error(coefficients)
        nyquist = nyquist_pixel_size(self.wavelength.value, self.na.value)
        sampled = "Nyquist-sampled" if not caught else "UNDERSAMPLED: raise oversample"
        self.summary.value = (
            f"Strehl {strehl:.3f} · RMS {rms:.3f} waves · Nyquist pixel {nyquist:.4f} um ({sampled})"
        )
        metadata = {
            "napari_selfdiff": {
                "method": "zernike_psf",
                "coefficients_waves_rms": coefficients,
                "wavelength_um": self.wavelength.value,
                "na": self.na.value,
                "immersion_index": self.immersion.value,
                "pixel_size_um": self.pixel_size.value,
                "strehl_ratio": strehl,
                "rms_wavefront_waves": rms,
                "z_um": None if z is None else z.tolist(),
            }
        }
        scale = (
            (self.pixel_size.value,) * 2
            if z is None
            else (float(self.z_step.value), *(self.pixel_size.value,) * 2)
        )
        if not show:
            return
        place = self._place(psf.shape, scale)
        new = PSF_LAYER not in self.viewer.layers
        self._show(PSF_LAYER, psf, {"colormap": "magma", "metadata": metadata, **place})
        grid = 129
        rho, theta = pupil_coordinates(grid, grid // 2)
        phase = np.where(rho <= 1, wavefront(coefficients, rho, theta), np.nan)
        # Shown beside the PSF: translated right by the PSF's width plus a margin.
        offset = (self.psf_size.value + 4) * self.pixel_size.value
        pupil_scale = self.psf_size.value * self.pixel_size.value / grid
        origin = place.get("translate", (0.0, 0.0))[-2:]
        self._show(
            PHASE_LAYER,
            phase,
            {
                "colormap": "twilight_shifted",
                "scale": (pupil_scale, pupil_scale),
                "translate": (origin[0], origin[1] + offset),
                "units": place["units"][-2:],
                "axis_labels": place.get("axis_labels", ("y", "x"))[-2:],
            },
        )
        if new:
            self.viewer.reset_view()  # the new layers sit beside the data: the view follows them

    def _show(self, name: str, data: np.ndarray, properties: dict) -> None:
        limits = (
            (-max(np.nanmax(np.abs(data)), 1e-3), max(np.nanmax(np.abs(data)), 1e-3))
            if name == PHASE_LAYER
            else (float(data.min()), float(data.max()) or 1.0)
        )
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            if layer.data.ndim == data.ndim:
                layer.data = data
                layer.scale = properties["scale"]
                layer.units = properties["units"]
                if "axis_labels" in properties:
                    layer.axis_labels = properties["axis_labels"]
                if "translate" in properties:
                    layer.translate = properties["translate"]
                layer.contrast_limits = limits
                if "metadata" in properties:
                    layer.metadata = properties["metadata"]
                return
            self.viewer.layers.remove(layer)
        self.viewer.add_image(data, name=name, contrast_limits=limits, **properties)
