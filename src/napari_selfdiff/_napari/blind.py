"""Blind deconvolution dock widget: the sharp image and the PSF from one image layer."""

import math
from pathlib import Path
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
from napari.utils.notifications import show_error, show_info

import napari

from .._checks import make_problem
from .._device import describe_device, resolve_device
from ..api import iter_deblur
from ..batch import iter_batch
from ..config import DEFAULT_KERNEL_SIZE, DEFAULT_PSF_WINDOW, DeblurConfig, Method, Restore, StackMode
from ..engine.stages.noise_aware import verdict
from ..io.formats import INPUT_SUFFIXES
from ..noise import NoiseModel
from ..policy import plan_run
from ._layers import add_result_layer, beside, contrast_limits, layer_array, layer_axes, spatial_properties
from ._plot import EvolutionPlot
from ._runner import RunnerWidget
from ._solver_fields import SolverFields, available_devices


class BlindDeconvolutionWidget(RunnerWidget):
    """Estimate the sharp image and the PSF of an image layer by self-diffusion."""

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        super().__init__(viewer, labels=True)
        self.image = create_widget(
            annotation=Image,
            label="image",
            options={"tooltip": "blurred image: 2D, RGB or a (Z, Y, X) stack"},
        )
        self.kernel_size = SpinBox(
            label="kernel size",
            value=DEFAULT_KERNEL_SIZE,
            min=3,
            max=255,
            step=2,
            tooltip="odd side of the PSF to estimate, in pixels; at least the blur's extent",
        )
        self.solver = SolverFields()
        self.method = ComboBox(
            label="PSF method",
            choices=list(get_args(Method)),
            value=DeblurConfig().method,
            tooltip="classic: L0 alternating minimisation (seconds); selfdiff: the paper's two "
            "networks (minutes); auto: classic, and self-diffusion where the classic PSF is not reliable",
        )
        self.guard = CheckBox(
            label="do no harm",
            value=DeblurConfig().guard,
            tooltip="only denoise (not deconvolve) an image whose PSF does not agree with an "
            "independent estimate; the status line says when it happened",
        )
        self.camera_gain = FloatSpinBox(
            label="camera gain (e-/ADU)",
            value=0.0,
            min=0.0,
            max=1e4,
            step=0.1,
            tooltip="photon-limited images: the camera's electrons per grey level; 0: the noise is "
            "estimated from the image",
        )
        self.camera_offset = FloatSpinBox(
            label="camera offset (ADU)", value=0.0, min=0.0, max=1e6, tooltip="the camera's dark level"
        )
        self.read_noise = FloatSpinBox(
            label="read noise (e-)", value=0.0, min=0.0, max=1e4, tooltip="the camera's read noise"
        )
        self.psf_scale = ComboBox(
            label="PSF scale",
            choices=[("auto", "auto"), *((str(n), n) for n in range(1, 9))],
            value="auto",
            tooltip="1: estimate the PSF at full resolution. N > 1: estimate it on the image averaged "
            "down by N, refit it at full resolution and restore the image by Richardson-Lucy. "
            "auto: the plan under Run says which",
        )
        self.restore = ComboBox(
            label="restore",
            choices=list(get_args(Restore)),
            tooltip="the image returned: the network's (the paper), Richardson-Lucy's (RL-TV) or the "
            "noise-aware TV deconvolution's with the estimated PSF, or auto (noise-aware TV). "
            "Follows the preset",
        )
        self.psf_refit = CheckBox(
            label="refit PSF",
            value=DeblurConfig().psf_refit.enabled,
            tooltip="at PSF scale > 1: refit the upscaled PSF at full resolution on the strongest "
            "edges of a first restoration, then restore with it (recovers detail finer than the scale)",
        )
        self.stack_mode = ComboBox(
            label="stack mode",
            choices=list(get_args(StackMode)),
            value=DeblurConfig().stack_mode,
            tooltip="stacks: a PSF per plane; one PSF shared by all planes; or one shared PSF "
            "with the planes as channels of one image network (about the cost of one plane)",
        )
        self._follow_preset()
        self.solver.preset.changed.connect(self._follow_preset)
        self.device = ComboBox(label="device", choices=available_devices(), value="auto")
        self.device_info = Label(label="detected", value=describe_device(resolve_device("auto")))
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        self.ground_truth = create_widget(
            annotation=Image | None,
            label="ground truth",
            options={
                "tooltip": "optional sharp image: PSNR/SSIM shown per outer step (it never changes the run)"
            },
        )
        self.plan = Label(label="plan", value="")
        self.plot = EvolutionPlot()
        self.folder_in = FileEdit(
            mode="d",
            label="input folder",
            tooltip=f"apply to every image ({', '.join(INPUT_SUFFIXES)}) in this folder",
        )
        self.folder_out = FileEdit(mode="d", label="output folder")
        self.folder_button = PushButton(text="Apply to folder...")
        self.folder_button.changed.connect(self._on_folder_clicked)
        self.extend(
            [
                self.image,
                self.kernel_size,
                self.method,
                self.guard,
                self.camera_gain,
                self.camera_offset,
                self.read_noise,
                self.psf_scale,
                self.psf_refit,
                self.restore,
                self.solver,
                self.stack_mode,
                self.device,
                self.device_info,
                self.seed,
                self.ground_truth,
                *self._controls(),
                self.plan,
                self.folder_in,
                self.folder_out,
                self.folder_button,
            ]
        )
        self.native.layout().addWidget(self.plot)
        self._previews: dict[str, Image] = {}
        self._source = None
        self._factor = 1
        self._problem = None
        for widget in (self.image, self.kernel_size, self.method, self.guard, self.psf_scale,
                       self.psf_refit, self.restore, self.stack_mode, self.device,
                       self.solver.preset):  # fmt: skip
            widget.changed.connect(self._update_plan)
        self._update_plan()

    def _plan(self):
        """The run plan of the form's settings on the chosen layer (validates them)."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        key = (id(layer), id(layer.data), int(self.kernel_size.value))
        if self._problem is None or self._problem[0] != key:  # convert the layer once per choice
            self._problem = (key, make_problem(layer_array(layer), key[2], layer_axes(layer)))
        problem = self._problem[1]
        return plan_run(
            problem, self._config(), scale=self.psf_scale.value, psf_window=DEFAULT_PSF_WINDOW,
            device=self.device.value,
        )  # fmt: skip

    def _update_plan(self, *_: object) -> None:
        """Show the plan under Run, or why there is none yet."""
        try:
            self.plan.value = self._plan().describe()
        except (ValueError, TypeError) as error:
            self.plan.value = str(error)

    def _follow_preset(self, *_: object) -> None:
        """Show the chosen preset's restoration (the user may then change it)."""
        self.restore.value = self.solver.config(self.stack_mode.value).restore

    def _config(self) -> DeblurConfig:
        """The solver fields with this form's stack mode, restoration and PSF refit."""
        return self.solver.config(self.stack_mode.value).replace(
            method=self.method.value,
            restore=self.restore.value,
            guard=self.guard.value,
            **{"psf_refit.enabled": self.psf_refit.value},
        )

    def _noise(self) -> NoiseModel | None:
        """The camera's noise model, or None (estimated from the image) while the gain is 0."""
        if self.camera_gain.value <= 0:
            return None
        return NoiseModel.from_camera(self.camera_gain.value, self.camera_offset.value, self.read_noise.value)

    def prepare(self):
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        data = layer_array(layer)
        axes = layer_axes(layer)
        truth_layer = self.ground_truth.value
        truth = layer_array(truth_layer) if truth_layer is not None else None
        if truth is not None and truth.shape != data.shape:
            raise ValueError(f"ground truth shape {truth.shape} differs from the image shape {data.shape}")
        kernel_size = int(self.kernel_size.value)
        seed = int(self.seed.value)
        noise = self._noise()
        # Planned here, in the GUI thread, so a bad parameter is reported before any work; the
        # layer is converted afresh (the plan line's cached conversion may predate an edit).
        self._problem = None
        plan = self._plan()
        problem = self._problem[1]
        self.plan.value = plan.describe()
        self._source = layer
        self._factor = plan.factor
        self.plot.clear()

        def make_run(cancel):
            return iter_deblur(
                problem, kernel_size, plan=plan, seed=seed, ground_truth=truth, axes=axes, cancel=cancel,
                noise=noise,
            )  # fmt: skip

        return make_run, self._add_result

    def on_progress(self, event) -> None:
        if event.psf is None:
            return
        if math.isfinite(event.loss):  # the classic estimate reports no loss
            self.plot.add(event.step, event.loss, event.psnr, event.ssim)
        layer = self._source
        # The PSF preview sits beside the data at the image's pixel scale (times the reduction
        # of a reduced-scale estimate), never over it.
        psf_place = beside(layer, event.psf.ndim)
        if self._factor > 1 and event.stage == "estimate_psf":
            psf_place["scale"] = tuple(s * self._factor for s in psf_place["scale"])
        previews = [("psf", event.psf, {"colormap": "magma", **psf_place})]
        # A multiscale run's estimate is of a reduced window, not of the layer; the classic
        # estimate's events carry its PSF only.
        if self._factor == 1 and event.image is not None:
            extra = {"rgb": layer.rgb, **spatial_properties(layer, event.image.ndim)}
            previews.insert(0, ("image", event.image, extra))
        for key, data, extra in previews:
            preview = self._previews.get(key)
            if preview is None or preview not in self.viewer.layers:
                name = f"{layer.name} {'preview' if key == 'image' else 'PSF preview'}"
                self._previews[key] = self.viewer.add_image(data, name=name, **extra)
            else:
                preview.data = data
                preview.scale = extra["scale"]
                preview.contrast_limits = contrast_limits(data)

    def cleanup(self) -> None:
        for preview in self._previews.values():
            if preview in self.viewer.layers:
                self.viewer.layers.remove(preview)
        self._previews.clear()

    def _on_folder_clicked(self) -> None:
        """Deblur every image of the input folder with the form's settings, on Dask, in the background."""
        if self.running:
            return
        source, target = Path(self.folder_in.value), Path(self.folder_out.value)
        files = (
            sorted(path for path in source.iterdir() if path.suffix.lower() in INPUT_SUFFIXES)
            if source.is_dir()
            else []
        )
        if not files:
            show_error(f"napari-selfdiff: no image files ({', '.join(INPUT_SUFFIXES)}) in {str(source)!r}")
            return
        if source.resolve() == target.resolve():
            show_error("napari-selfdiff: choose an output folder other than the input folder")
            return
        config = self._config()
        kernel_size, device, seed = int(self.kernel_size.value), self.device.value, int(self.seed.value)
        scale, noise = self.psf_scale.value, self._noise()

        def make_run(cancel):
            return iter_batch(
                [str(f) for f in files], target, kernel_size, config,
                seed=seed, device=device, scale=scale, noise=noise, cancel=cancel,
            )  # fmt: skip

        def on_result(records) -> str:
            failed = [r for r in records if r["status"] == "failed"]
            message = (
                f"{len(records)} files: {len(records) - len(failed)} done or skipped, {len(failed)} failed"
            )
            show_info(f"napari-selfdiff: {message}; outputs and summary.md in {target}")
            return message

        self.start(make_run, on_result)

    def _add_result(self, result) -> None:
        layer = self._source
        metadata = add_result_layer(self.viewer, layer, result, "deblurred")
        self.viewer.add_image(
            result.psf, name=f"{layer.name} PSF", colormap="magma", metadata=metadata,
            **beside(layer, result.psf.ndim),
        )  # fmt: skip

    def finished_message(self, result) -> str:
        # The previews showed the network's image; say which one the layer holds, and what the
        # do-no-harm guard found.
        image = {"network": "network", "richardson_lucy": "RL-TV", "tv": "noise-aware TV"}[result.restore]
        message = f"{super().finished_message(result)}; {image} image"
        found = verdict(result.reliability, result.deconvolved, result.method)
        return message if found is None else f"{message}; {found}"
