"""The plugin on microscopy data: micrometre stacks opened with the plugin's reader (issue #29)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_selfdiff.io.tiff import write_tiff  # noqa: E402
from napari_selfdiff.samples.camera import make_demo_case  # noqa: E402

PLUGIN = "napari-selfdiff"


@pytest.fixture
def um_stack(tmp_path):
    """A 4 x 40 x 40 uint16 stack saved with 0.1 um pixels and 0.3 um z spacing."""
    case = make_demo_case(size=40, kernel_size=5, kernel_seed=2)
    planes = [case.blurred, case.blurred[::-1], case.blurred[:, ::-1], case.blurred.T]
    stack = (np.stack(planes) * 4000).astype(np.uint16)
    path = tmp_path / "stack.tif"
    write_tiff(path, stack, axes="ZYX", pixel_size=(0.1, 0.1), z_spacing=0.3)
    return path


def _unit_warnings(since: int) -> list[str]:
    messages = [str(n.message) for n in notification_manager.records[since:]]
    return [m for m in messages if "units" in m.lower()]


def _draw(viewer) -> None:
    shot = viewer.screenshot(canvas_only=True, flash=False)  # renders: units are checked on draw
    assert shot.ndim == 3


def test_um_stack_run_cancel_hide_keeps_units(viewer, qtbot, um_stack):
    """Items 1-2: every added layer carries the stack's units; previews never cover the image."""
    (layer,) = viewer.open(str(um_stack), plugin=PLUGIN)
    assert tuple(str(u) for u in layer.units) == ("micrometer",) * 3
    since = len(notification_manager.records)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.kernel_size.value = layer, 5
    widget.solver.preset.value, widget.method.value = "custom", "selfdiff"
    widget.solver.steps.value, widget.solver.inner_steps.value = 3, 80  # long enough to cancel in
    widget.solver.net_width.value = 4
    widget.device.value = "cpu"
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: f"{layer.name} PSF preview" in viewer.layers, timeout=120_000)
    _draw(viewer)
    assert "planes 1-4 of 4 · step" in widget.status.value  # the batch of planes, not "plane 1/4"
    preview = viewer.layers[f"{layer.name} PSF preview"]
    assert tuple(preview.scale) == pytest.approx((0.1, 0.1))
    assert tuple(str(u) for u in preview.units) == ("micrometer",) * 2
    # Beside the image: the preview's left edge is right of the image's right edge.
    assert preview.extent.world[0, -1] > layer.extent.world[1, -1]
    widget.cancel_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert [lay.name for lay in viewer.layers] == [layer.name]
    widget.solver.preset.value = "tiny"
    widget.run_button.clicked.emit()  # a complete run, then hide every layer
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    out, psf = viewer.layers[f"{layer.name} deblurred"], viewer.layers[f"{layer.name} PSF"]
    for added in (out, psf):
        assert tuple(str(u) for u in added.units) == ("micrometer",) * added.ndim
        assert tuple(added.axis_labels) == ("z", "y", "x")[-added.ndim :]
    assert tuple(psf.scale) == pytest.approx((0.3, 0.1, 0.1))
    assert psf.extent.world[0, -1] > layer.extent.world[1, -1]
    for lay in viewer.layers:
        lay.visible = False
        _draw(viewer)
    assert _unit_warnings(since) == []


def test_widefield_sample_is_a_um_stack_with_its_true_3d_psf(viewer):
    viewer.open_sample(PLUGIN, "widefield-beads")
    stack, truth, psf = (viewer.layers[n] for n in ("widefield beads", "beads ground truth", "true 3D PSF"))
    assert stack.data.shape == (16, 96, 96) and truth.data.shape == stack.data.shape
    assert tuple(stack.scale) == pytest.approx((0.3, 0.1, 0.1)) and _units(stack) == ("micrometer",) * 3
    assert psf.data.ndim == 3 and abs(float(psf.data.sum()) - 1) < 1e-5
    assert psf.extent.world[0, -1] > stack.extent.world[1, -1]  # beside the data
    # Out-of-focus light: planes far from a bead still hold some of its light (the XZ cone).
    centre = psf.data.shape[0] // 2
    assert psf.data[0].max() > 0.01 * psf.data[centre].max()


def _units(layer):
    return tuple(str(u) for u in layer.units)


def test_3d_mode_is_offered_for_a_um_stack_and_returns_a_3d_psf(viewer, qtbot):
    """#31: a z-stack with a z scale in um gets the 3D mode; its PSF comes back as a 3D layer."""
    viewer.open_sample(PLUGIN, "widefield-beads")
    stack = viewer.layers["widefield beads"]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value = stack
    assert "3d" in widget.stack_mode.choices
    widget.stack_mode.value, widget.kernel_size.value, widget.kernel_depth.value = "3d", 9, 5
    widget.solver.preset.value, widget.device.value = "tiny", "cpu"
    assert not widget.kernel_depth.native.isHidden() and "3D PSF 5x9x9" in widget.plan.value
    assert f"voxels {stack.scale[0]:g} x {stack.scale[-1]:g} um" in widget.plan.value
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=300_000)
    psf = viewer.layers["widefield beads PSF"]
    assert psf.data.shape == (5, 9, 9) and tuple(psf.scale) == pytest.approx(tuple(stack.scale))
    assert viewer.layers["widefield beads deblurred"].data.shape == stack.data.shape
