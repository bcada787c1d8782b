"""The blind form: basic and Advanced parts, scroll, plan and estimate, region preview (#29 items 4, 9)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from qtpy.QtWidgets import QScrollArea  # noqa: E402

from napari_selfdiff.samples.camera import make_demo_case  # noqa: E402

PLUGIN = "napari-selfdiff"


def _widgets(container):
    for widget in container:
        if hasattr(widget, "__iter__") and not isinstance(widget, str):
            yield from _widgets(widget)
        else:
            yield widget


def test_basic_form_advanced_section_and_scroll(viewer):
    viewer.add_image(np.zeros((20, 64, 64), np.float32), name="stack", scale=(0.3, 0.1, 0.1), units="um")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    assert widget.native.findChild(QScrollArea) is not None
    assert not widget.advanced_section.isExpanded()  # collapsed until asked for
    assert widget.native.minimumSizeHint().height() < 400  # the dock can be short: the form scrolls
    basic = {w.label for w in widget.basic}
    assert {"image", "kernel size (px)", "stack mode", "device"} <= basic
    assert "PSF scale" not in basic and "camera gain (e-/ADU)" not in basic
    fields = [w for w in [*_widgets(widget.basic), *_widgets(widget.advanced)] if hasattr(w, "value")]
    for field in fields:
        if field.label and field.widget_type not in ("Label", "ProgressBar"):
            assert field.tooltip, f"{field.label!r} has no tooltip"  # says what the field does
        assert "dB" not in (field.tooltip or "")
    box = widget.stack_mode.native
    words = [box.itemText(i) for i in range(box.count())]
    assert [text[:2] for text in words] == ["2D", "2D", "2D", "3D"], words  # 3D offered: um z step
    assert widget.stack_mode.tooltip.count("does not remove out-of-focus light") == 3
    assert "removes out-of-focus light" in widget.stack_mode.tooltip
    assert not widget.stack_mode.native.isHidden()  # shown for a stack
    assert widget.kernel_hint.value.startswith(f"{widget.kernel_size.value} px = "), widget.kernel_hint.value


def test_plan_and_estimate_follow_the_fields(viewer):
    layer = viewer.add_image(np.random.default_rng(0).random((128, 128), dtype=np.float32), name="img")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.device.value = layer, "cpu"
    widget.solver.preset.value = "fast"
    assert widget.plan.value.startswith("PSF by classic blind estimate")
    assert widget.estimate.value.startswith("estimate: ~") and "GiB" in widget.estimate.value
    widget.method.value = "selfdiff"
    fast = widget.estimate.value
    widget.solver.preset.value = "paper"  # hours on a CPU: said, with what to change
    assert widget.estimate.value != fast and "warning: long run" in widget.estimate.value
    widget.kernel_size.value = 201  # larger than the image: the reason replaces the plan
    assert "kernel" in widget.plan.value and widget.estimate.value == ""


def test_pre_run_error_is_said_on_the_status_line(viewer, monkeypatch):
    from napari_selfdiff._napari import _runner

    monkeypatch.setattr(_runner, "show_error", lambda message: None)
    viewer.add_image(np.zeros((48, 48), np.float32), name="blurred")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.kernel_size.value = 31
    widget.run_button.clicked.emit()
    assert widget.status.value.startswith("not started:") and "31" in widget.status.value


def test_region_preview_then_apply_to_the_whole_image(viewer, qtbot):
    case = make_demo_case(size=96, kernel_size=7, kernel_seed=2)
    layer = viewer.add_image(case.blurred, name="img", scale=(0.2, 0.2), translate=(1.0, 2.0))
    viewer.add_shapes(
        [[[1.0 + 0.2 * 20, 2.0 + 0.2 * 30], [1.0 + 0.2 * 68, 2.0 + 0.2 * 78]]], shape_type="rectangle"
    )
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.kernel_size.value, widget.device.value = layer, 7, "cpu"
    widget.solver.preset.value, widget.method.value = "tiny", "selfdiff"
    assert not widget.apply_button.enabled
    widget.roi_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    preview = viewer.layers["img region preview"]
    assert preview.data.shape == (48, 48)
    assert tuple(preview.translate) == pytest.approx((1.0 + 0.2 * 20, 2.0 + 0.2 * 30))
    assert widget.apply_button.enabled and "Apply PSF" in widget.status.value
    widget.apply_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    whole = viewer.layers["img deblurred (region PSF)"]
    assert whole.data.shape == case.blurred.shape and tuple(whole.scale) == (0.2, 0.2)


def test_region_preview_on_a_few_planes_of_a_stack(viewer, qtbot):
    case = make_demo_case(size=48, kernel_size=5, kernel_seed=2)
    stack = np.stack([case.blurred] * 6)
    layer = viewer.add_image(stack, name="stack", scale=(0.3, 0.1, 0.1), units="um")
    viewer.dims.set_point(0, 4 * 0.3)  # plane 5 shown
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.kernel_size.value, widget.device.value = layer, 5, "cpu"
    widget.solver.preset.value, widget.method.value = "tiny", "selfdiff"
    widget.roi_button.clicked.emit()  # no rectangle: the centre of the view, three planes around 5
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    preview = viewer.layers["stack region preview"]
    assert preview.data.shape == (3, 48, 48)
    assert preview.translate[0] == pytest.approx(3 * 0.3)  # planes 4-6
    widget.apply_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert viewer.layers["stack deblurred (region PSF)"].data.shape == stack.shape


def test_3d_plan_names_the_psf_model_and_the_preset(viewer):
    """The fast preset in the 3D mode is the fast preset, not "custom settings" (#39 item 5)."""
    stack = np.random.default_rng(0).random((12, 48, 48), dtype=np.float32)
    viewer.add_image(stack, name="stack", scale=(0.3, 0.1, 0.1), units="um")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.solver.preset.value, widget.device.value = "fast", "cpu"
    widget.kernel_size.value, widget.stack_mode.value, widget.kernel_depth.value = 9, "3d", 5
    # Pixel size in um and the form's microscope: the physical pupil fit, no network (#38).
    assert "physical pupil fit" in widget.plan.value and "NA 1.4" in widget.plan.value, widget.plan.value
    widget.method.value = "selfdiff"  # self-diffusion asked for
    assert "free PSF" in widget.plan.value and "fast preset" in widget.plan.value, widget.plan.value
    widget.psf_model.value = "zernike"
    assert "Zernike pupil PSF" in widget.plan.value and "fast preset" in widget.plan.value
    widget.solver.preset.value = "custom"
    widget.solver.steps.value = 3
    assert "custom settings" in widget.plan.value


def test_a_stack_of_a_known_microscope_is_offered_3d_first(viewer):
    """With a z step in um and the microscope in the layer's metadata, 3D comes first (#38)."""
    stack = np.random.default_rng(0).random((40, 48, 48), dtype=np.float32)
    microscope = {"napari_selfdiff": {"na": 1.2, "wavelength_um": 0.52, "immersion_index": 1.33}}
    viewer.add_image(stack, name="stack", scale=(0.3, 0.1, 0.1), units="um", metadata=microscope)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.kernel_size.value = 13
    widget._offer_stack_modes()
    assert widget.stack_mode.value == "3d"
    assert widget.kernel_depth.value == 11  # two axial FWHM (0.61 um) either side, 0.3 um planes
    assert "physical pupil fit" in widget.plan.value
