"""The physical 3D pupil fit (``method="pupil-3d"``): physics, the sign, the plan and the API."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.blind.guarded import verdict
from napari_selfdiff.blind.pupil3d import NOLL, fit_pupil_3d, nominal_psf_3d
from napari_selfdiff.config import OpticsConfig
from napari_selfdiff.metrics import mnc
from napari_selfdiff.optics import zernike_psf
from napari_selfdiff.plan.stack3d import method_3d, offered_stack_modes
from napari_selfdiff.results import drive

OPTICS = OpticsConfig(na=1.2, wavelength=0.52, pixel_size=0.1, immersion_index=1.33)
Z_STEP = 0.3
KERNEL = (7, 13, 13)


def _stack(aberrations: dict[int, float], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Beads and a few blobs (16 x 64 x 64) blurred by the through-focus PSF, Poisson noise."""
    rng = np.random.default_rng(seed)
    kz, k, _ = KERNEL
    z = (np.arange(kz) - kz // 2) * Z_STEP
    psf = zernike_psf(aberrations, k, wavelength=0.52, na=1.2, pixel_size=0.1, immersion_index=1.33, z=z)
    psf = psf / psf.sum()
    sharp = np.zeros((16 + kz, 64 + k, 64 + k))
    index = tuple(rng.integers(0, n, 120) for n in sharp.shape)
    sharp[index] = rng.uniform(0.5, 1.0, 120)
    inside = (slice(kz // 2, -(kz // 2)), slice(k // 2, -(k // 2)), slice(k // 2, -(k // 2)))
    blurred = fftconvolve(sharp, psf, mode="same")[inside]
    scale = 2000 / blurred.max()
    return rng.poisson(np.clip(blurred, 0, None) * scale + 5.0).astype(np.float32), psf


TRUE_ABERRATIONS = {11: 0.22, 8: -0.1}


@pytest.fixture(scope="module")
def aberrated():
    stack, psf = _stack(TRUE_ABERRATIONS)
    return stack, psf, drive(fit_pupil_3d(stack, KERNEL, OPTICS, Z_STEP))


def test_fit_finds_the_aberrations_with_their_sign(aberrated):
    """0.24 waves: a single fit from zero stalled in a local optimum here (error 0.139 waves,
    spherical 0.156, no coma, PSF MNC 0.82); the coarse-to-fine, two-start fit finds it."""
    _, psf, fit = aberrated
    assert fit.reliable, fit.reason
    truth = np.array([TRUE_ABERRATIONS.get(j, 0.0) for j in NOLL])
    found = np.array([fit.coefficients[j] for j in NOLL])
    # Measured: wavefront RMS error 0.023 waves; spherical 0.207, coma -0.091; PSF MNC 0.994.
    assert np.sqrt(np.sum((found - truth) ** 2)) < 0.06
    assert 0.17 < fit.coefficients[11] < 0.27 and -0.15 < fit.coefficients[8] < -0.05
    nominal = nominal_psf_3d(KERNEL, OPTICS, Z_STEP)
    assert mnc(fit.psf, psf) > 0.95 > mnc(nominal, psf) + 0.05
    assert fit.psf.shape == KERNEL and np.isclose(fit.psf.sum(), 1.0, atol=1e-4)


def test_the_plan_chooses_the_pupil_fit_when_the_microscope_is_known():
    known = DeblurConfig(stack_mode="3d", optics=OPTICS).replace(**{"stack3d.z_step_um": Z_STEP})
    assert method_3d(known) == "pupil-3d"
    assert method_3d(known.replace(method="selfdiff")) == "selfdiff-3d"
    assert method_3d(DeblurConfig(stack_mode="3d").replace(**{"stack3d.z_step_um": Z_STEP})) == "selfdiff-3d"
    assert offered_stack_modes("ZYX", Z_STEP, optics_known=True)[0] == "3d"
    assert offered_stack_modes("ZYX", Z_STEP)[0] == "per-plane"
    assert "3d" not in offered_stack_modes("ZYX", None, optics_known=True)


def test_deblur_on_an_aberration_free_stack_reports_no_large_aberration():
    stack, psf = _stack({}, seed=1)
    config = DeblurConfig(stack_mode="3d", optics=OPTICS)
    result = deblur(stack, KERNEL, config=config, z_step=Z_STEP, pixel_size=0.1)
    assert result.method == "pupil-3d" and result.psf_kind == "3d"
    assert result.reliability_measure == "likelihood-ratio"
    assert "physical pupil fit" in result.plan
    assert result.image.shape == stack.shape and result.image.min() >= 0  # counts stay counts
    # Either the likelihood ratio finds nothing (the nominal PSF, no aberrations reported) or
    # what it finds is below the Marechal criterion (0.072 waves RMS: diffraction-limited).
    if result.aberrations is None:
        assert verdict(result).startswith("no aberration found")
        np.testing.assert_allclose(result.psf, nominal_psf_3d(KERNEL, OPTICS, Z_STEP), atol=1e-6)
    else:
        assert verdict(result).startswith("pupil fit reliable")
        assert result.aberrations[0].rms < 0.072 and result.aberrations[0].even_sign_ambiguous is False
    assert mnc(result.psf, psf) > 0.95


def test_auto_3d_box_follows_the_optics():
    from napari_selfdiff.plan.stack3d import auto_3d, kernel_3d

    # Widefield axial FWHM 0.88 lambda / (n - sqrt(n^2 - NA^2)) = 0.61 um at NA 1.2 in water:
    # two of them either side of focus in 0.3 um planes is 11 planes.
    assert kernel_3d(13, OPTICS, 0.3, 40) == (11, 13, 13)
    assert kernel_3d(13, OPTICS, 0.3, 8) == (7, 13, 13)  # never deeper than the stack
    assert auto_3d("ZYX", 13, 0.3, OPTICS, 40) == (11, 13, 13)
    assert auto_3d("ZYX", 13, None, OPTICS, 40) is None  # no z step: per-plane
    assert auto_3d("ZYX", 13, 0.3, OpticsConfig(), 40) is None  # no optics: per-plane
    assert auto_3d("ZYX", (7, 13, 13), 0.3, OPTICS, 40) is None  # the user's own box


def test_cli_deblurs_a_stack_of_a_known_microscope_in_3d(tmp_path, capsys):
    from napari_selfdiff.cli.app import main
    from napari_selfdiff.io.tiff import read_tiff, write_tiff

    stack, _ = _stack({11: 0.1}, seed=2)
    path, out = tmp_path / "stack.tif", tmp_path / "sharp.tif"
    write_tiff(path, stack, axes="ZYX", pixel_size=0.1, z_spacing=Z_STEP)
    args = ["deblur", str(path), "-k", "13", "-o", str(out), "--na", "1.2", "--wavelength", "0.52"]
    # 15 L-BFGS iterations: this checks the command's decisions, not the fit's accuracy.
    assert main([*args, "--immersion-index", "1.33", "--set", "stack3d.fit_iterations=15"]) == 0
    assert "physical pupil fit" in capsys.readouterr().err
    assert read_tiff(out).data.min() >= 0
    assert read_tiff(tmp_path / "sharp_psf.tif").data.shape == (11, 13, 13)
