"""Degrade's errors and names, and the loss/PSNR plot (#29 items 7 and 8)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

PLUGIN = "napari-selfdiff"


def test_degrade_error_has_its_reason_and_names_never_collide(viewer, monkeypatch):
    from napari_selfdiff._napari import degrade

    errors = []
    monkeypatch.setattr(degrade, "show_error", errors.append)
    layer = viewer.add_image(np.random.default_rng(0).random((32, 32), dtype=np.float32), name="sharp")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Degrade (blur and noise)")
    widget.image.value, widget.kernel.value, widget.psf.value = layer, "PSF layer", None
    widget()
    assert errors == ["Degrade: choose a PSF layer, or a generated kernel"]
    assert [lay.name for lay in viewer.layers] == ["sharp"]
    widget.kernel.value, widget.kernel_size.value = "gaussian", 5
    widget()
    widget()  # a second click adds a second layer instead of overwriting the first
    assert [lay.name for lay in viewer.layers] == ["sharp", "sharp degraded", "sharp degraded 2"]


def _boxes(labels, renderer):
    return [t.get_window_extent(renderer) for t in labels if t.get_text() and t.get_visible()]


def test_plot_empty_then_integer_steps_mean_curve_and_no_overlap(qtbot):
    from napari_selfdiff._napari._plot import EvolutionPlot

    plot = EvolutionPlot()
    qtbot.addWidget(plot)
    assert not plot.loss_axis.get_visible()  # no empty box before the first run
    for step in (1, 2, 3):
        for group in range(20):
            plot.add(step, 1.0 / (step + group), psnr=20.0 + step, ssim=0.5, group=group)
    (curve,) = plot.curves()  # 20 plane groups: their mean, not a saw-tooth over plane x step
    assert curve[0] == "mean of 20 planes" and curve[1] == [1, 2, 3]
    plot.draw()
    renderer = plot.figure.canvas.get_renderer()
    ticks = [t for t in plot.loss_axis.get_xticks() if plot.loss_axis.get_xlim()[0] <= t]
    assert all(float(t).is_integer() for t in ticks)
    assert plot.psnr_axis.get_ylabel() == ""  # PSNR is in the title, not a label over the ticks
    loss_labels = _boxes(plot.loss_axis.get_yticklabels(which="both"), renderer)
    psnr_labels = _boxes(plot.psnr_axis.get_yticklabels(), renderer)
    title = plot.loss_axis.title.get_window_extent(renderer)
    assert not any(a.overlaps(b) for a in loss_labels for b in [*psnr_labels, title])
    two = EvolutionPlot()
    qtbot.addWidget(two)
    for group in (0, 1):
        two.add(1, 0.5, group=group)
    assert [c[0] for c in two.curves()] == ["plane 1", "plane 2"]
