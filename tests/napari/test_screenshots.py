"""Screenshots of the viewer with each widget docked and its result shown (the README's walk-through).

They rewrite ``docs/screenshots/*.png``; commit them only when the pictures are meant to change.
"""

import re
from pathlib import Path

import pytest

napari = pytest.importorskip("napari")

from napari_selfdiff.samples.camera import make_demo_case  # noqa: E402

PLUGIN = "napari-selfdiff"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def viewer(make_napari_viewer):
    v = make_napari_viewer()
    v.window.resize(1500, 950)
    return v


def _shoot(viewer, name):
    from skimage.io import imsave

    DOCS.mkdir(parents=True, exist_ok=True)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.ndim == 3 and shot.shape[0] > 400 and shot[..., :3].std() > 5  # a real picture
    imsave(DOCS / f"{name}.png", shot, check_contrast=False)


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=300_000)


def test_screenshot_camera_sample(viewer, qtbot):
    viewer.open_sample(PLUGIN, "blurred-camera")
    layer, truth = viewer.layers["blurred camera"], viewer.layers["camera ground truth"]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.ground_truth.value = layer, truth
    widget.method.value = "selfdiff"
    widget.solver.preset.value = "custom"
    widget.solver.steps.value, widget.solver.inner_steps.value, widget.solver.net_width.value = 6, 30, 8
    widget.device.value = "cpu"
    widget.run_button.clicked.emit()
    _wait(qtbot, widget)
    layer.visible = False
    viewer.reset_view()
    _shoot(viewer, "blind")


def test_screenshot_stack_with_xz_view(viewer, qtbot):
    """The widefield sample: blurred, per plane in 2D, and in 3D with the Zernike model; XY then XZ."""
    viewer.open_sample(PLUGIN, "widefield-beads")
    stack = viewer.layers["widefield beads"]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.kernel_size.value = stack, 9
    widget.stack_mode.value, widget.method.value, widget.device.value = "per-plane", "classic", "cpu"
    widget.restore.value = "richardson_lucy"  # RL-TV: seconds for the 16 planes
    widget.run_button.clicked.emit()
    _wait(qtbot, widget)
    planes = viewer.layers["widefield beads deblurred"]
    planes.name = "2D per plane"
    widget.stack_mode.value, widget.kernel_depth.value, widget.psf_model.value = "3d", 7, "zernike"
    widget.method.value, widget.solver.preset.value = "auto", "custom"
    widget.solver.steps.value, widget.solver.inner_steps.value = 8, 25
    assert widget.na.value == pytest.approx(stack.metadata["napari_selfdiff"]["na"])  # from the layer
    seconds = re.match(r"estimate: ~(\d+) s", widget.estimate.value)
    assert seconds and 8 < int(seconds.group(1)) < 60  # 200 iterations: 17 s measured, follows the fields
    widget.run_button.clicked.emit()
    _wait(qtbot, widget)
    volume = viewer.layers["widefield beads deblurred"]
    volume.name = "3D (Zernike PSF model)"
    for layer in viewer.layers:
        layer.visible = layer in (stack, planes, volume)
    viewer.canvas.grid.enabled = True  # side by side
    viewer.dims.set_point(0, stack.data.shape[0] // 2 * stack.scale[0])
    viewer.reset_view()
    _shoot(viewer, "stack_xy")
    viewer.dims.order = (1, 0, 2)  # show (z, x): the XZ view through the middle row
    viewer.reset_view()
    _shoot(viewer, "stack_xz")


def test_screenshot_zernike_for_an_image(viewer, qtbot):
    viewer.open_sample(PLUGIN, "widefield-beads")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Zernike PSF")
    widget.source.value = viewer.layers["widefield beads"]
    widget.random_button.clicked.emit()
    viewer.reset_view()
    _shoot(viewer, "zernike")


def test_screenshot_degrade_and_nonblind(viewer, qtbot):
    big = make_demo_case()
    truth = viewer.add_image(big.sharp, name="ground truth")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Degrade (blur and noise)")
    widget.image.value, widget.kernel.value = truth, "camera shake"
    widget()
    truth.visible = False
    viewer.reset_view()
    _shoot(viewer, "degrade")
    viewer.window.remove_dock_widget(dock)
    for layer in viewer.layers:
        layer.visible = False
    blurred = viewer.add_image(big.blurred, name="blurred")
    viewer.add_image(big.psf, name="true PSF", visible=False)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Non-blind deconvolution")
    widget.image.value = blurred
    widget.run_button.clicked.emit()
    _wait(qtbot, widget)
    blurred.visible = False
    viewer.reset_view()
    _shoot(viewer, "nonblind")
