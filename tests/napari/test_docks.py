"""Every dock on a laptop screen: four docked together fit 1366 x 768, labels fit, every button
has a tooltip; the Zernike dock adds nothing until asked and the view follows its layers (#39)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from qtpy.QtWidgets import QComboBox, QPushButton, QScrollArea  # noqa: E402

PLUGIN = "napari-selfdiff"
DOCKS = ("Blind deconvolution", "Zernike PSF", "Non-blind deconvolution", "Degrade (blur and noise)")


def test_four_docks_fit_a_laptop_screen_and_every_button_has_a_tooltip(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((20, 64, 64), np.float32), name="stack", scale=(0.3, 0.1, 0.1), units="um")
    viewer.window.resize(1366, 768)
    docks = [viewer.window.add_plugin_dock_widget(PLUGIN, name)[1] for name in DOCKS]
    qtbot.wait(300)  # the layout settles
    _, _, width, height = viewer.window.geometry()
    assert (width, height) == (1366, 768)  # the docks did not push the window past the screen
    for name, widget in zip(DOCKS, docks, strict=True):
        assert widget.native.minimumSizeHint().height() <= 160, name  # each scrolls below that
        for scroll in widget.native.findChildren(QScrollArea):  # no row cut on the right
            assert scroll.widget().width() <= scroll.viewport().width(), name
        buttons = widget.native.findChildren(QPushButton)  # with section toggles and file choosers
        assert buttons and all(b.isHidden() or b.toolTip() for b in buttons), (
            name,
            [b.text() for b in buttons if not b.toolTip()],
        )
    blind = docks[0]
    box = blind.stack_mode.native
    assert not box.isHidden() and box.count() == 4  # a um stack: the 2D modes and 3D
    metrics = box.fontMetrics()
    for text in (box.itemText(i) for i in range(box.count())):  # whole words, not cut mid-word
        assert metrics.horizontalAdvance(text) + 24 <= box.width(), (text, box.width())
    for combo in blind.native.findChildren(QComboBox):
        assert combo.width() <= blind.native.width()  # a long choice never widens the dock


def test_zernike_dock_adds_nothing_until_asked_and_the_view_follows(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Zernike PSF")
    assert len(viewer.layers) == 0  # no PSF, no white pupil disc over the data
    image = viewer.add_image(np.zeros((128, 128), np.float32), name="cells", scale=(0.1, 0.1), units="um")
    view = viewer.scene.camera
    view.zoom, view.center = 20.0, (6.4, 6.4)  # zoomed in on the image
    widget.source.value = image  # asked: beside the image
    psf = viewer.layers["Zernike PSF"]
    assert tuple(psf.axis_labels) == tuple(image.axis_labels)
    assert psf.extent.world[0, -1] > image.extent.world[1, -1]  # beside, not over the data
    # The view follows: its centre moved right, between the image and the PSF beside it.
    assert view.center[-1] > 6.4
