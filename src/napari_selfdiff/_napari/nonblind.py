"""Non-blind deconvolution dock widget: image layer + PSF layer -> sharp image."""

from magicgui.widgets import ComboBox, FloatSpinBox, SpinBox, create_widget
from napari.layers import Image

import napari

from ..engine.nonblind import METHODS, iter_deconvolve
from ._layers import add_result_layer, layer_array, layer_axes
from ._runner import RunnerWidget
from ._solver_fields import SolverFields, available_devices


class NonBlindDeconvolutionWidget(RunnerWidget):
    """Deconvolve an image layer by a known PSF layer (self-diffusion, Richardson-Lucy, Wiener)."""

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        super().__init__(viewer, labels=True)
        self.image = create_widget(annotation=Image, label="image")
        self.psf = create_widget(
            annotation=Image, label="PSF", options={"tooltip": "2D PSF layer with odd sides"}
        )
        self.method = ComboBox(label="method", choices=list(METHODS), value="richardson_lucy")
        self.iterations = SpinBox(label="RL iterations", value=30, min=1, max=10000)
        self.balance = FloatSpinBox(label="Wiener balance", value=1e-2, min=1e-8, max=10, step=1e-3)
        self.solver = SolverFields()
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        self.extend(
            [
                self.image,
                self.psf,
                self.method,
                self.iterations,
                self.balance,
                self.solver,
                self.device,
                self.seed,
                *self._controls(),
            ]
        )
        self.method.changed.connect(self._on_method)
        self._on_method(self.method.value)
        self._source = None

    def _on_method(self, method: str) -> None:
        self.iterations.visible = method == "richardson_lucy"
        self.balance.visible = method == "wiener"
        self.solver.visible = method == "selfdiff"

    def prepare(self):
        layer, psf_layer = self.image.value, self.psf.value
        if layer is None or psf_layer is None:
            raise ValueError("choose an image layer and a PSF layer first")
        data, axes = layer_array(layer), layer_axes(layer)
        psf = layer_array(psf_layer)
        from .._checks import check_psf

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

    def _add_result(self, result) -> None:
        add_result_layer(self.viewer, self._source, result, result.method)
