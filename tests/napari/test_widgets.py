"""The napari plugin in a real viewer, opened through the plugin system (npe2 manifest)."""

import json
import subprocess
import sys

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari_selfdiff.samples.camera import make_demo_case  # noqa: E402

PLUGIN = "napari-selfdiff"


def wait_for_worker(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def use_tiny_custom(widget):
    """The tiny self-diffusion run (these tests follow the networks' loop, not the default cascade)."""
    widget.solver.preset.value = "tiny"
    widget.method.value = "selfdiff"


@pytest.fixture
def case():
    c = make_demo_case(size=48, kernel_size=7, kernel_seed=2)
    return c


def test_manifest_validates():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", PLUGIN], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout + result.stderr


def test_blind_widget_2d_adds_image_and_psf(viewer, qtbot, case):
    layer = viewer.add_image(case.blurred.copy(), name="blurred", scale=(0.5, 0.5), translate=(3.0, 4.0))
    original = layer.data.copy()
    truth = viewer.add_image(case.sharp, name="truth")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value = layer
    widget.ground_truth.value = truth
    widget.kernel_size.value = 7
    use_tiny_custom(widget)
    widget.device.value = "cpu"
    widget.run_button.clicked.emit()
    wait_for_worker(qtbot, widget)
    names = [lay.name for lay in viewer.layers]
    assert "blurred deblurred" in names and "blurred PSF" in names
    assert not any("preview" in n for n in names)  # previews are removed at the end
    out, psf = viewer.layers["blurred deblurred"], viewer.layers["blurred PSF"]
    assert out.data.shape == case.blurred.shape and out.data.dtype == np.float32
    assert tuple(out.scale) == (0.5, 0.5) and tuple(out.translate) == (3.0, 4.0)
    assert psf.data.shape == (7, 7) and abs(psf.data.sum() - 1) < 1e-5
    meta = out.metadata["napari_selfdiff"]
    assert meta["config"]["schedule"]["steps"] == 3 and meta["seed"] == 0 and "cpu" in meta["device"]
    assert len(meta["history"]) == 3 and meta["history"][0]["psnr"] is not None
    assert len(widget.plot.losses) == 3 and len(widget.plot.psnrs) == 3
    np.testing.assert_array_equal(layer.data, original)


def test_blind_widget_default_is_the_guarded_noise_aware_pipeline(viewer, qtbot, case):
    layer = viewer.add_image(case.blurred.copy(), name="blurred")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value = layer
    widget.kernel_size.value = 7
    widget.device.value = "cpu"
    assert widget.method.value == "auto" and widget.guard.value is True
    assert "classic blind estimate" in widget.plan.value and "do-no-harm guard" in widget.plan.value
    widget.camera_gain.value = 0.0  # the noise is estimated from the image
    widget.run_button.clicked.emit()
    wait_for_worker(qtbot, widget)
    out = viewer.layers["blurred deblurred"]
    meta = out.metadata["napari_selfdiff"]
    assert meta["restore"] == "tv" and meta["reliability"] is not None and meta["noise"] is not None
    assert "noise-aware TV image" in widget.status.value and "PSF" in widget.status.value
    assert not any("preview" in n for n in (lay.name for lay in viewer.layers))


def test_blind_widget_stack_per_plane(viewer, qtbot, case):
    stack = np.stack([case.blurred, case.blurred[::-1], case.blurred[:, ::-1]])
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value = layer
    widget.kernel_size.value = 5
    use_tiny_custom(widget)
    widget.device.value = "cpu"
    widget.restore.value = "richardson_lucy"  # each plane restored with its own PSF
    widget.run_button.clicked.emit()
    wait_for_worker(qtbot, widget)
    out, psf = viewer.layers["stack deblurred"], viewer.layers["stack PSF"]
    assert out.data.shape == stack.shape and tuple(out.scale) == (2.0, 0.5, 0.5)
    assert psf.data.shape == (3, 5, 5)
    assert out.metadata["napari_selfdiff"]["config"]["restore"] == "richardson_lucy"
    assert widget.status.value.endswith("; RL-TV image")


def test_blind_widget_invalid_kernel_notifies_and_adds_nothing(viewer, qtbot, case, monkeypatch):
    from napari_selfdiff._napari import _runner

    errors = []
    monkeypatch.setattr(_runner, "show_error", errors.append)
    viewer.add_image(case.blurred, name="blurred")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.kernel_size.value = 31  # larger than half of 48 pixels
    widget.run_button.clicked.emit()
    assert widget.worker is None
    assert len(viewer.layers) == 1
    assert errors and "kernel size 31" in errors[0] and "kernel size at most 23" in errors[0]  # form words
    assert "`kernel_size`" not in errors[0]


def test_custom_solver_fields_make_the_config(viewer):
    from napari_selfdiff import DeblurConfig

    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    solver = widget.solver
    solver.preset.value = "fast"
    assert solver.config("per-plane") == DeblurConfig.preset("fast")
    solver.preset.value = "custom"
    solver.steps.value, solver.net_width.value = 12, 16
    solver.depth.value = 3
    config = solver.config("shared")
    assert (config.schedule.steps, config.image_net.widths) == (12, (16, 32, 64))
    assert config.kernel_net.depth == 3
    assert config.stack_mode == "shared"
    assert config.lr == DeblurConfig.preset("fast").lr  # untouched fields keep the preset's values
    # The restoration shown follows the preset (custom keeps its base's) and is what runs.
    assert widget.restore.value == "auto" == widget._config().restore
    solver.preset.value = "paper"
    assert widget.restore.value == "network" == widget._config().restore
    widget.restore.value = "richardson_lucy"
    assert widget._config().restore == "richardson_lucy"


@pytest.mark.parametrize("when", ["first", "middle", "last"])
def test_blind_widget_cancel(viewer, qtbot, case, monkeypatch, when):
    """Cancel during the first inner iteration, mid-run and on the last outer step."""
    from napari_selfdiff._napari import _runner

    infos = []
    monkeypatch.setattr(_runner, "show_info", infos.append)
    layer = viewer.add_image(case.blurred, name="blurred")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value = layer
    widget.kernel_size.value = 7
    widget.solver.preset.value = "custom"
    widget.solver.steps.value = 3
    widget.solver.inner_steps.value = 60
    widget.solver.net_width.value = 4
    widget.method.value = "selfdiff"  # a run of several outer steps to cancel in
    widget.device.value = "cpu"
    widget.run_button.clicked.emit()
    if when == "middle":
        qtbot.waitUntil(lambda: "step 2/3" in widget.status.value, timeout=180_000)
    elif when == "last":
        qtbot.waitUntil(lambda: "step 3/3" in widget.status.value, timeout=180_000)
    widget.cancel_button.clicked.emit()
    wait_for_worker(qtbot, widget, timeout=30_000)
    assert [lay.name for lay in viewer.layers] == ["blurred"]  # no result, previews removed
    assert widget.status.value == "cancelled" and widget.run_button.enabled
    assert any("cancelled" in message for message in infos)
    widget.solver.preset.value = "tiny"  # the viewer and the widget stay usable
    widget.run_button.clicked.emit()
    wait_for_worker(qtbot, widget)
    assert "blurred deblurred" in viewer.layers


def test_nonblind_widget(viewer, qtbot, case):
    layer = viewer.add_image(case.blurred, name="blurred", scale=(0.2, 0.2))
    psf = viewer.add_image(case.psf, name="psf")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Non-blind deconvolution")
    widget.image.value, widget.psf.value = layer, psf
    for method in ("wiener", "richardson_lucy"):
        widget.method.value = method
        widget.run_button.clicked.emit()
        wait_for_worker(qtbot, widget)
        out = viewer.layers[f"blurred {method}"]
        assert out.data.shape == case.blurred.shape and tuple(out.scale) == (0.2, 0.2)


def test_zernike_widget_updates_layers(viewer, qtbot):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Zernike PSF")
    assert len(viewer.layers) == 0 and "Strehl 1.000" in widget.summary.value  # nothing added until asked
    widget.show_button.clicked.emit()
    psf = viewer.layers["Zernike PSF"]
    assert tuple(psf.axis_labels) == ("y", "x")  # not napari's "-2", "-1"
    assert psf.data.shape == (33, 33) and abs(psf.data.sum() - 1) < 1e-9
    assert "Zernike pupil phase" in viewer.layers
    assert "Strehl 1.000" in widget.summary.value
    widget.coefficients[4].value = 0.2
    qtbot.waitUntil(lambda: "Strehl 1.000" not in widget.summary.value, timeout=5000)  # debounced update
    assert psf.metadata["napari_selfdiff"]["coefficients_waves_rms"] == {4: 0.2}
    widget.random_button.clicked.emit()
    from napari_selfdiff.optics import rms_wavefront_error

    drawn = widget.coefficient_values()
    assert set(drawn) <= set(range(4, 16)) and abs(rms_wavefront_error(drawn) - widget.rms.value) < 0.005
    widget.reset_button.clicked.emit()
    assert widget.coefficient_values() == {}
    widget.three_d.value = True
    widget.update_psf()
    assert viewer.layers["Zernike PSF"].data.shape == (11, 33, 33)


def test_degrade_widget_keeps_scale(viewer, case):
    layer = viewer.add_image(case.sharp, name="sharp", scale=(0.3, 0.3))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Degrade (blur and noise)")
    widget.image.value = layer
    widget.kernel.value = "gaussian"
    widget.kernel_size.value = 7
    widget()
    out = viewer.layers["sharp degraded"]
    assert out.data.shape == case.sharp.shape and tuple(out.scale) == (0.3, 0.3)
    assert out.data.std() < case.sharp.std() + 0.02


def test_sample_data(viewer):
    viewer.open_sample(PLUGIN, "blurred-camera")
    assert {"blurred camera", "camera ground truth", "true PSF"} <= {lay.name for lay in viewer.layers}


def test_reader_writer_round_trip(viewer, tmp_path, case):
    from napari_selfdiff._napari.io import get_reader, write_image
    from napari_selfdiff.io.tiff import write_tiff

    plain = tmp_path / "plain.tif"
    import tifffile

    tifffile.imwrite(plain, case.blurred)
    assert get_reader(str(plain)) is not None  # plain TIFFs too (scale 1): it claims what it reads
    path = tmp_path / "stack.tif"
    write_tiff(
        path,
        np.stack([case.blurred] * 2),
        axes="ZYX",
        pixel_size=(0.1, 0.1),
        z_spacing=0.5,
        provenance={"seed": 3},
    )
    reader = get_reader(str(path))
    assert reader is not None
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert tuple(layers[0].scale) == pytest.approx((0.5, 0.1, 0.1))
    assert layers[0].metadata["napari_selfdiff"] == {"seed": 3}
    out = tmp_path / "out.tif"
    write_image(str(out), layers[0].data, {"scale": (0.5, 0.1, 0.1), "metadata": layers[0].metadata})
    again = reader(str(out))[0]
    assert again[1]["scale"] == pytest.approx((0.5, 0.1, 0.1))


def test_apply_to_folder_runs_the_batch(viewer, qtbot, tmp_path, case, monkeypatch):
    from napari_selfdiff._napari import blind
    from napari_selfdiff.io.tiff import write_tiff

    infos = []
    monkeypatch.setattr(blind, "show_info", infos.append)
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    target.mkdir()
    for index in range(2):
        write_tiff(source / f"plane{index}.tif", case.blurred)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.kernel_size.value, widget.psf_scale.value = 5, 2  # the form's PSF scale applies too
    use_tiny_custom(widget)
    widget.device.value = "cpu"
    widget.folder_in.value, widget.folder_out.value = source, target
    seen = []
    widget.progress_bar.changed.connect(lambda *_: seen.append(widget.status.value))  # the status so far
    widget.folder_button.clicked.emit()
    wait_for_worker(qtbot, widget, timeout=180_000)
    assert any(text.startswith("file 1 of 2") for text in seen), seen  # files, not "plane 1/2"
    assert sorted(p.name for p in target.glob("*_deblurred.tif")) == [
        "plane0_deblurred.tif",
        "plane1_deblurred.tif",
    ]
    assert (target / "summary.md").exists()
    assert json.loads((target / "plane0.json").read_text())["scale"] == 2
    assert infos and "2 files" in infos[-1]
    assert len(viewer.layers) == 0  # a folder run adds no layer


def test_blind_widget_psf_scale_restores_the_full_layer(viewer, qtbot, monkeypatch):
    from napari_selfdiff._napari import blind
    from napari_selfdiff.config import DeblurConfig

    c = make_demo_case(size=96, kernel_size=9, kernel_seed=2)
    layer = viewer.add_image(c.blurred.copy(), name="photo", scale=(0.5, 0.5))
    truth = viewer.add_image(c.sharp, name="truth")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.kernel_size.value, widget.psf_scale.value = layer, 9, 2
    widget.ground_truth.value = truth
    widget.device.value = "cpu"
    use_tiny_custom(widget)
    monkeypatch.setattr(blind, "DEFAULT_PSF_WINDOW", 32)  # a window of the reduced image, not all of it
    seen = []
    widget.progress_bar.changed.connect(lambda *_: seen.append(widget.status.value))
    widget.run_button.clicked.emit()
    assert widget.plan.value.startswith("PSF at half scale on a 32x32 window, 5 px")
    wait_for_worker(qtbot, widget)
    # Its stages by name, not "plane 1/3" (#29 item 3); the time left is of the stage being run.
    assert any(text.startswith("stage 1/3: PSF estimate · step") for text in seen), seen
    assert any(text.startswith("stage 2/3: PSF refit") for text in seen), seen
    assert not any("plane" in text for text in seen)
    out, psf = viewer.layers["photo deblurred"], viewer.layers["photo PSF"]
    assert out.data.shape == c.blurred.shape and tuple(out.scale) == (0.5, 0.5)
    assert psf.data.shape == (9, 9) and abs(psf.data.sum() - 1) < 1e-5
    assert not any("preview" in lay.name for lay in viewer.layers)
    meta = out.metadata["napari_selfdiff"]
    assert meta["multiscale"]["factor"] == 2 and meta["multiscale"]["window"]["height"] == 64
    assert meta["multiscale"]["psf_refit"] is widget.psf_refit.value is True
    assert meta["config"] == DeblurConfig.preset("tiny").replace(method="selfdiff").to_dict()
    assert meta["scores"]["psnr"] > 0  # the ground truth scored the result without changing the run
    # The plan under Run follows the fields: "auto" keeps a 7 px PSF at full scale on the CPU.
    widget.psf_scale.value, widget.kernel_size.value = "auto", 7
    assert widget.plan.value.startswith("PSF at full scale on 96x96, 7 px")
