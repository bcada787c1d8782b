"""Non-blind deconvolution dock widget: image layer + PSF layer -> sharp image."""

from magicgui.widgets import ComboBox, FloatSpinBox, SpinBox, create_widget
from napari.layers import Image

import napari
from napari_selfdiff._napari._layers import add_result_layer, layer_array, layer_axes
from napari_selfdiff._napari._psf_match import match_psf
from napari_selfdiff._napari._runner import RunnerWidget
from napari_selfdiff._napari._solver_fields import SolverFields, available_devices
from napari_selfdiff.inputs import check_psf
from napari_selfdiff.restoration.nonblind import METHODS, iter_deconvolve


class NonBlindDeconvolutionWidget(RunnerWidget):
    """Deconvolve an image layer by a known PSF layer (self-diffusion, Richardson-Lucy, Wiener)."""

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        super().__init__(viewer)
        self.image = create_widget(
            annotation=Image,
            label="image",
            options={"tooltip": "the blurred image: 2D, RGB or a (Z, Y, X) stack"},
        )
        self.psf = create_widget(
            annotation=Image,
            label="PSF",
            options={
                "tooltip": "the PSF layer: 2D, or 3D (its in-focus plane is used); resampled to the "
                "image's pixel size when its own differs"
            },
        )
        self.method = ComboBox(
            label="method", choices=list(METHODS), value="richardson_lucy",
            tooltip="richardson_lucy: Richardson-Lucy with a TV term; wiener: one step, fast; selfdiff: "
            "the image network with the PSF held fixed (minutes)",
        )  # fmt: skip
        self.iterations = SpinBox(
            label="RL iterations", value=30, min=1, max=10000, tooltip="Richardson-Lucy iterations"
        )
        self.balance = FloatSpinBox(
            label="Wiener balance", value=1e-2, min=1e-8, max=10, step=1e-3,
            tooltip="Wiener filter's noise-to-signal balance: larger is smoother",
        )  # fmt: skip
        self.solver = SolverFields()
        self.device = ComboBox(
            label="device", choices=available_devices(), value="auto", tooltip="where the run computes"
        )
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1, tooltip="random seed of the network")
        self.run_button.tooltip = "deconvolve the image by the PSF layer, in the background"
        basic = [self.image, self.psf, self.method, self.iterations, self.balance, *self._controls()]
        self._lay_out(basic, [self.solver, self.device, self.seed])
        self.method.changed.connect(self._on_method)
        self._on_method(self.method.value)
        self._source = None
        self._notes: list[str] = []
        self.viewer.layers.events.inserted.connect(self._default_psf)
        self.image.changed.connect(self._default_psf)
        self._default_psf()

    def _on_method(self, method: str) -> None:
        self.iterations.visible = method == "richardson_lucy"
        self.balance.visible = method == "wiener"
        self.solver.visible = method == "selfdiff"

    def prepare(self):
        layer, psf_layer = self.image.value, self.psf.value
        if layer is None or psf_layer is None:
            raise ValueError("choose an image layer and a PSF layer first")
        data, axes = layer_array(layer), layer_axes(layer)
        if psf_layer is layer:
            raise ValueError("the PSF layer is the image itself: choose the PSF layer")
        psf, self._notes = match_psf(layer, psf_layer)
        check_psf(psf)
        method = self.method.value
        options = {
            "iterations": int(self.iterations.value),
            "balance": float(self.balance.value),
            "config": self.solver.config("per-plane") if method == "selfdiff" else None,
            "device": self.device.value,
            "seed": int(self.seed.value),
            "axes": axes,
        }
        self._source = layer

        def make_run(cancel):
            return iter_deconvolve(data, psf, method, cancel=cancel, **options)

        return make_run, self._add_result

    def _add_result(self, result) -> str:
        add_result_layer(self.viewer, self._source, result, result.method)
        return "; ".join([self.finished_message(result), *self._notes])

    def _default_psf(self, *_: object) -> None:
        """Pre-select a layer named like a PSF (never the image itself)."""
        if not self._alive:
            return
        self.psf.reset_choices()
        current = self.psf.value
        if current is not None and current is not self.image.value:
            return
        named = [lay for lay in self.viewer.layers if "psf" in lay.name.lower() and isinstance(lay, Image)]
        others = [lay for lay in self.viewer.layers if isinstance(lay, Image) and lay is not self.image.value]
        for candidate in (named or others)[-1:]:
            self.psf.value = candidate
