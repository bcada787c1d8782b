"""The Zernike widget wired to an image layer, its PSF feeding Non-blind (#29 items 10, 11)."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari_selfdiff.samples.camera import make_demo_case  # noqa: E402

PLUGIN = "napari-selfdiff"


def _units(layer):
    return tuple(str(u) for u in layer.units)


def test_zernike_takes_the_optics_of_an_image_and_sits_beside_it(viewer, qtbot):
    stack = viewer.add_image(
        np.zeros((9, 64, 64), np.float32), name="stack", scale=(0.3, 0.1, 0.1), units="um",
        metadata={"napari_selfdiff": {"wavelength_um": 0.6, "na": 1.2}},
    )  # fmt: skip
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Zernike PSF")
    assert widget.native.minimumSizeHint().height() < 400  # the coefficient table scrolls
    widget.source.value = stack
    assert widget.pixel_size.value == pytest.approx(0.1) and widget.z_step.value == pytest.approx(0.3)
    assert widget.wavelength.value == pytest.approx(0.6) and widget.na.value == pytest.approx(1.2)
    psf = viewer.layers["Zernike PSF"]
    assert tuple(psf.scale) == pytest.approx((0.1, 0.1)) and _units(psf) == ("micrometer",) * 2
    assert psf.extent.world[0, -1] > stack.extent.world[1, -1]  # never over the data
    widget.three_d.value = True
    widget.update_psf()
    psf = viewer.layers["Zernike PSF"]
    assert psf.data.ndim == 3 and tuple(psf.scale) == pytest.approx((0.3, 0.1, 0.1))
    z_centre = psf.translate[0] + (psf.data.shape[0] // 2) * 0.3
    assert z_centre == pytest.approx(viewer.dims.point[0])  # centred on the plane shown, not at z = 0


def test_nonblind_uses_a_3d_zernike_psf_at_the_image_scale(viewer, qtbot):
    from napari_selfdiff._napari.nonblind import NonBlindDeconvolutionWidget

    case = make_demo_case(size=48, kernel_size=7, kernel_seed=2)
    image = viewer.add_image(case.blurred, name="cells", scale=(0.1, 0.1), units="um")
    _, zernike = viewer.window.add_plugin_dock_widget(PLUGIN, "Zernike PSF")
    zernike.pixel_size.value, zernike.psf_size.value = 0.065, 15
    zernike.three_d.value = True
    zernike.update_psf()
    widget = NonBlindDeconvolutionWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image.value = image
    assert widget.psf.value is viewer.layers["Zernike PSF"]  # pre-selected; never the image itself
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    out = viewer.layers["cells richardson_lucy"]
    assert out.data.shape == case.blurred.shape
    assert "in-focus plane" in widget.status.value and "resampled from 0.065" in widget.status.value


def test_nonblind_refuses_the_image_as_its_own_psf(viewer, monkeypatch):
    from napari_selfdiff._napari import _runner

    errors = []
    monkeypatch.setattr(_runner, "show_error", errors.append)
    image = viewer.add_image(np.zeros((32, 32), np.float32), name="only")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Non-blind deconvolution")
    widget.image.value, widget.psf.value = image, image
    widget.run_button.clicked.emit()
    assert errors and "the image itself" in errors[0]


def test_blind_zernike_model_then_generate_the_found_psf(viewer, qtbot):
    """#30 item 4: PSF model Zernike with the layer's pixel size; the result feeds the Zernike widget."""
    case = make_demo_case(size=48, kernel_size=9, kernel_seed=2)
    image = viewer.add_image(case.blurred, name="cells", scale=(0.1, 0.1), units="um")
    _, blind = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    blind.image.value, blind.kernel_size.value, blind.device.value = image, 9, "cpu"
    blind.solver.preset.value, blind.psf_model.value = "tiny", "zernike"
    blind.na.value, blind.wavelength.value, blind.immersion.value = 1.2, 0.52, 1.33
    assert "Zernike pupil model (Noll 4-15, NA 1.2, 520 nm, 100 nm pixels)" in blind.plan.value
    blind.run_button.clicked.emit()
    qtbot.waitUntil(lambda: blind.worker is None, timeout=120_000)
    assert "waves RMS (Strehl" in blind.status.value
    psf_layer = viewer.layers["cells PSF"]
    found = psf_layer.metadata["napari_selfdiff"]["aberrations"][0]["coefficients_waves"]
    _, zernike = viewer.window.add_plugin_dock_widget(PLUGIN, "Zernike PSF")
    zernike.source.value = psf_layer
    assert zernike.na.value == pytest.approx(1.2) and zernike.immersion.value == pytest.approx(1.33)
    for j, value in found.items():
        assert zernike.coefficients[int(j)].value == pytest.approx(value, abs=1e-3)
    assert "estimated blind on 'cells PSF'" in zernike.summary.value
