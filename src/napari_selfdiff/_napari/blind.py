"""Blind deconvolution dock widget: the sharp image and the PSF from one image layer.

The time estimate under the plan is measured on this machine: when the settings or the layer
change, a short probe times the plan's own kernels on the layer in the background
(:func:`~napari_selfdiff.plan.estimate.calibrate`, a few seconds, cached a few minutes), and
the region preview gets its own estimate from the same measurement.
"""

import logging
import math
import threading
from pathlib import Path

import numpy as np
from napari.layers import Image, Shapes
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer

import napari
from napari_selfdiff._napari._blind_form import BlindForm, kernel_hint
from napari_selfdiff._napari._layers import (
    add_result_layer,
    beside,
    contrast_limits,
    layer_array,
    layer_axes,
    spatial_properties,
)
from napari_selfdiff._napari._plot import EvolutionPlot
from napari_selfdiff._napari._roi import camera, offset_translate, region
from napari_selfdiff._napari._runner import RunnerWidget, in_form_words
from napari_selfdiff.api import iter_deblur
from napari_selfdiff.batch.runner import iter_batch
from napari_selfdiff.blind.guarded import verdict
from napari_selfdiff.config import DEFAULT_PSF_WINDOW, DeblurConfig
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.inputs import make_problem
from napari_selfdiff.io.formats import INPUT_SUFFIXES
from napari_selfdiff.noise import NoiseModel
from napari_selfdiff.plan.estimate import cached_calibration, calibrate, estimate_run
from napari_selfdiff.plan.policy import plan_run
from napari_selfdiff.progress_text import format_seconds
from napari_selfdiff.restoration.nonblind import iter_deconvolve

logger = logging.getLogger(__name__)
#: Wait this long after the last change of the settings before measuring (milliseconds).
CALIBRATE_AFTER_MS = 800


class BlindDeconvolutionWidget(BlindForm, RunnerWidget):
    """Estimate the sharp image and the PSF of an image layer by self-diffusion."""

    #: Measure the machine's speed on the layer when the settings change (tests turn it off).
    auto_calibrate = True

    def __init__(self, viewer: "napari.viewer.Viewer") -> None:
        super().__init__(viewer)
        self._calibration: threading.Event | None = None  # the probe in flight
        self._probed: tuple | None = None  # what the last probe measured (or failed on)
        self._probe_timer = QTimer(self.native)
        self._probe_timer.setSingleShot(True)
        self._probe_timer.setInterval(CALIBRATE_AFTER_MS)
        self._probe_timer.timeout.connect(self._calibrate)
        self._region_timer = QTimer(self.native)
        self._region_timer.setSingleShot(True)
        self._region_timer.setInterval(300)
        self._region_timer.timeout.connect(self._update_region_estimate)
        basic, advanced = self._make_fields()
        self.plot = EvolutionPlot()
        self._lay_out(basic, advanced, below=(self.plot,))
        self._follow_preset()
        self.solver.preset.changed.connect(self._follow_preset)
        self.folder_button.changed.connect(self._on_folder_clicked)
        self.roi_button.changed.connect(lambda: self._run_prepared(self._prepare_region))
        self.apply_button.changed.connect(lambda: self._run_prepared(self._prepare_apply))
        self._previews: dict[str, Image] = {}
        self._source = None
        self._factor = 1
        self._problem = None
        self._region_psf = None
        self._region = None
        for widget in (self.image, self.kernel_size, self.method, self.guard, self.psf_scale,
                       self.psf_refit, self.restore, self.stack_mode, self.device,
                       self.solver.preset, self.wavelength, self.na, self.psf_model,
                       self.immersion, self.kernel_depth, self.solver.steps, self.solver.inner_steps,
                       self.solver.net_width):  # fmt: skip
            widget.changed.connect(self._update_plan)
        self.image.changed.connect(self._offer_stack_modes)
        self.native.destroyed.connect(self._stop_calibration)
        # The region a preview would run on follows the Shapes rectangles and the view.
        viewer.layers.events.inserted.connect(self._watch_shapes)
        viewer.layers.events.removed.connect(self._region_later)
        viewer.dims.events.current_step.connect(self._region_later)
        camera(viewer).events.center.connect(self._region_later)
        for layer in viewer.layers:
            self._watch_shapes(layer=layer)
        self._offer_stack_modes()
        self._update_plan()

    def _watch_shapes(self, event=None, layer=None) -> None:
        layer = event.value if event is not None else layer
        if isinstance(layer, Shapes):
            layer.events.data.connect(self._region_later)
            layer.events.highlight.connect(self._region_later)  # the selection
        self._region_later()

    def _region_later(self, *_: object) -> None:
        """The region estimate, once the view or the rectangles stop changing."""
        if self._alive:
            self._region_timer.start()

    def _plan(self, data: np.ndarray | None = None):
        """The run plan of the form's settings on the chosen layer, or on ``data`` (validates them)."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        kernel_size = self._kernel_size()
        if data is not None:
            problem = make_problem(data, kernel_size, layer_axes(layer))
        else:
            key = (id(layer), id(layer.data), kernel_size)
            if self._problem is None or self._problem[0] != key:  # convert the layer once per choice
                self._problem = (key, make_problem(layer_array(layer), kernel_size, layer_axes(layer)))
            problem = self._problem[1]
        plan = plan_run(
            problem, self._config(), scale=self.psf_scale.value, psf_window=DEFAULT_PSF_WINDOW,
            device=self.device.value, **self._voxel(),
        )  # fmt: skip
        return plan, problem

    def _update_plan(self, *_: object) -> None:
        """Show the plan, its time and memory estimate, and the kernel hint; or why there is none yet."""
        layer = self.image.value
        is_stack = layer is not None and layer.ndim == 3 and not layer.rgb
        self.stack_mode.visible = is_stack
        self.kernel_depth.visible = is_stack and self.stack_mode.value == "3d"
        self.kernel_hint.value = kernel_hint(
            layer, int(self.kernel_size.value), self.wavelength.value, self.na.value
        )
        try:
            plan, problem = self._plan()
        except (ValueError, TypeError) as error:
            self.plan.value, self.estimate.value = in_form_words(str(error)), ""
            self.region_estimate.value = ""
            return
        self.plan.value = plan.describe()
        calibration = cached_calibration(plan)
        text = estimate_run(plan, *problem.planes.shape[:2], calibration=calibration).describe()
        if calibration is None and self.auto_calibrate and not self.running:
            if self._probed != self._probe_key(problem, plan):
                text += "\nmeasuring this machine's speed on the image..."
                self._probe_timer.start()  # after the last change
            elif self._calibration is None:
                text += "\n(could not measure this machine's speed: see the log)"
        self.estimate.value = text
        self._region_later()

    @staticmethod
    def _probe_key(problem, plan) -> tuple:
        return (id(problem), plan.describe())

    def _calibrate(self) -> None:
        """Time the plan's kernels on the layer in the background, then show the measured estimate."""
        if self.running or not self._alive:
            return
        try:
            plan, problem = self._plan()
        except (ValueError, TypeError):
            return
        if cached_calibration(plan) is not None:
            self._update_plan()
            return
        self._stop_calibration()
        cancel = threading.Event()
        self._calibration, self._probed = cancel, self._probe_key(problem, plan)

        def finished(*_: object) -> None:
            if self._alive and self._calibration is cancel:
                self._calibration = None
                self._update_plan()

        def failed(error: Exception) -> None:
            if not isinstance(error, Cancelled):
                logger.warning("could not measure this machine's speed: %s", error)
            finished()

        connections = {"returned": finished, "errored": failed}
        thread_worker(calibrate, connect=connections, start_thread=False)(problem, plan, cancel).start()

    def _stop_calibration(self, *_: object) -> None:
        if self._calibration is not None:
            self._calibration.set()
            self._calibration = None
            self._probed = None  # measured again once the run is over

    def start(self, *args, **kwargs) -> None:
        self._probe_timer.stop()
        self._stop_calibration()  # the probe would slow the run and be slowed by it
        super().start(*args, **kwargs)

    def _update_region_estimate(self) -> None:
        """The region preview's own estimate: its region, planes and time, from the same measurement."""
        layer = self.image.value
        if layer is None or not self._alive:
            self.region_estimate.value = ""
            return
        try:
            index, where = region(self.viewer, layer)
            plan, problem = self._plan(layer_array(layer)[index])
        except (ValueError, TypeError) as error:
            self.region_estimate.value = f"preview: {in_form_words(str(error))}"
            return
        calibration = cached_calibration(plan)
        seconds = estimate_run(plan, *problem.planes.shape[:2], calibration=calibration).seconds
        height, width = problem.layout.height, problem.layout.width
        measured = "" if calibration is not None else ", not yet measured here"
        self.region_estimate.value = (
            f"preview ~{format_seconds(seconds)}{measured}: {height} x {width} px of {where}"
        )

    def _follow_preset(self, *_: object) -> None:
        """Show the chosen preset's restoration (the user may then change it)."""
        self.restore.value = self.solver.config(self.stack_mode.value).restore

    def _config(self) -> DeblurConfig:
        """The solver fields with this form's stack mode, restoration, PSF refit and PSF model."""
        config = self.solver.config(self.stack_mode.value).replace(
            method=self.method.value,
            restore=self.restore.value,
            guard=self.guard.value,
            **{"psf_refit.enabled": self.psf_refit.value},
        )
        optics = self.optics()  # None: no pixel size in um (the Zernike sampling is then estimated)
        if optics is not None and (self.psf_model.value == "zernike" or self.stack_mode.value == "3d"):
            # 3D with the microscope: the physical pupil fit (method "auto"), or self-diffusion
            # with the Zernike network or method "selfdiff" (plan.stack3d.method_3d).
            config = config.replace(optics=optics)
        if self.psf_model.value == "zernike":
            config = config.replace(**{"kernel_net.model": "zernike"})
        return config

    def _noise(self) -> NoiseModel | None:
        """The camera's noise model, or None (estimated from the image) while the gain is 0."""
        if self.camera_gain.value <= 0:
            return None
        return NoiseModel.from_camera(self.camera_gain.value, self.camera_offset.value, self.read_noise.value)

    def prepare(self):
        return self._prepare_on(None, self._add_result)

    def _prepare_on(self, index: tuple | None, on_result):
        """The run of the form on the layer, or on its region ``index``; planned in the GUI thread."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        data = layer_array(layer)
        truth_layer = self.ground_truth.value
        truth = layer_array(truth_layer) if truth_layer is not None else None
        if truth is not None and truth.shape != data.shape:
            raise ValueError(f"ground truth shape {truth.shape} differs from the image shape {data.shape}")
        if index is not None:
            data = data[index]
            truth = truth[index] if truth is not None else None
        kernel_size, seed, noise, axes = (
            self._kernel_size(),
            int(self.seed.value),
            self._noise(),
            layer_axes(layer),
        )
        # Planned here, so a bad parameter is reported before any work; the layer is converted
        # afresh (the plan line's cached conversion may predate an edit).
        self._problem = None
        plan, problem = self._plan(data if index is not None else None)
        self.plan.value = plan.describe()
        estimate = estimate_run(plan, *problem.planes.shape[:2], calibration=cached_calibration(plan))
        self._source, self._factor, self._region = layer, plan.factor, index
        self.plot.clear()

        def make_run(cancel):
            return iter_deblur(
                problem, kernel_size, plan=plan, seed=seed, ground_truth=truth, axes=axes, cancel=cancel,
                noise=noise,
            )  # fmt: skip

        return make_run, on_result, estimate

    def _prepare_region(self):
        """A run on a Shapes rectangle or the centre of the view (a few planes of a stack)."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        index, where = region(self.viewer, layer)
        self.status.value = f"preview on {where}"
        return self._prepare_on(index, self._add_region_result)

    def _add_region_result(self, result) -> str:
        layer, index = self._source, self._region
        properties = spatial_properties(layer, result.image.ndim)
        properties["translate"] = offset_translate(layer, index, result.image.ndim)
        metadata = {"napari_selfdiff": {**result.metadata(), "source_layer": layer.name}}
        name = f"{layer.name} region preview"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.viewer.add_image(
            result.image, name=name, rgb=layer.rgb, contrast_limits=contrast_limits(result.image),
            metadata=metadata, **properties,
        )  # fmt: skip
        psf = result.psf if result.psf.ndim == 2 else result.psf.mean(axis=0)  # per-plane PSFs: their mean
        self._region_psf = psf / psf.sum()
        self.apply_button.enabled = True
        return f"{self.finished_message(result)}; 'Apply PSF to whole image' restores the whole layer with it"

    def _prepare_apply(self):
        """Restore the whole layer with the region's PSF (non-blind RL-TV, the blind run's restoration)."""
        layer = self.image.value
        if layer is None or self._region_psf is None:
            raise ValueError("run 'Preview on region' first")
        data, axes, psf = layer_array(layer), layer_axes(layer), self._region_psf
        config, device = self._config(), self.device.value
        self._source = layer

        def make_run(cancel):
            return iter_deconvolve(
                data, psf, "richardson_lucy", iterations=config.restore_iterations,
                tv_weight=config.restore_tv_weight, device=device, axes=axes, cancel=cancel,
            )  # fmt: skip

        def on_result(result) -> str:
            add_result_layer(self.viewer, layer, result, "deblurred (region PSF)")
            return f"{RunnerWidget.finished_message(self, result)}; restored with the region's PSF (RL-TV)"

        return make_run, on_result

    def on_progress(self, event) -> None:
        if event.psf is None:
            return
        if math.isfinite(event.loss):  # the classic estimate reports no loss
            self.plot.add(event.step, event.loss, event.psnr, event.ssim, group=event.plane)
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
                if key == "psf":
                    self.viewer.reset_view()  # beside the data: the view follows it
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

        def words(event) -> str:
            return f"file {event.plane + 1} of {event.n_planes} · {format_seconds(event.elapsed)} elapsed"

        self.start(make_run, on_result, words)

    def _add_result(self, result) -> None:
        layer = self._source
        metadata = add_result_layer(self.viewer, layer, result, "deblurred")
        self.viewer.add_image(
            result.psf, name=f"{layer.name} PSF", colormap="magma", metadata=metadata,
            **beside(layer, result.psf.ndim),
        )  # fmt: skip
        self.viewer.reset_view()  # the PSF sits beside the data: the view takes both in

    def finished_message(self, result) -> str:
        # The previews showed the network's image; say which one the layer holds, and what the
        # do-no-harm guard found.
        image = {"network": "network", "richardson_lucy": "RL-TV", "tv": "noise-aware TV"}[result.restore]
        message = f"{super().finished_message(result)}; {image} image"
        found = verdict(result)
        message = message if found is None else f"{message}; {found}"
        if result.aberrations:  # the first group's; every group's is in the PSF layer's metadata
            message += f"; {result.aberrations[0].describe()}"
        return message
