"""The Zernike pupil model: torch optics equal to the NumPy optics, the generator, the outputs."""

import numpy as np
import pytest
import torch

from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.blind.orientation import orient_psf
from napari_selfdiff.blind.selfdiff.ensemble import Ensemble
from napari_selfdiff.blind.selfdiff.nets.pupil_generator import PupilGenerator, PupilSampling
from napari_selfdiff.config import OpticsConfig
from napari_selfdiff.errors import ConfigError, InputError
from napari_selfdiff.metrics import mnc
from napari_selfdiff.optics import zernike_psf
from napari_selfdiff.optics.aberrations import Aberrations, coefficient_error, is_even
from napari_selfdiff.optics.pupil import angular_spectrum_defocus, pupil_coordinates
from napari_selfdiff.optics.pupil_torch import PupilPsf
from napari_selfdiff.optics.sampling import pupil_sampling

ABERRATED = {2: 0.2, 4: 0.2, 5: -0.1, 8: 0.15, 9: 0.05, 11: 0.07, 14: -0.04, 22: 0.03}
MICROSCOPE = dict(wavelength=0.52, na=1.2, pixel_size=0.1, immersion_index=1.33)


def _render(coefficients, size, grid, **kwargs):
    noll = sorted(coefficients)
    values = torch.tensor([coefficients[j] for j in noll], dtype=torch.float64)
    return PupilPsf(noll, size, grid, dtype=torch.float64, **kwargs), values


def test_torch_psf_equals_the_numpy_optics_in_dimensionless_mode():
    render, values = _render(ABERRATED, 21, 256)
    expected = zernike_psf(ABERRATED, 21, pupil_pixels=32, fft_size=256)
    np.testing.assert_allclose(render(values, 32.0).numpy(), expected, atol=1e-9)


def test_torch_through_focus_stack_equals_the_numpy_optics_with_oversampling():
    depths = [-0.5, 0.0, 0.7]
    expected = zernike_psf(ABERRATED, 15, z=depths, oversample=3, **MICROSCOPE)
    grid, radius = pupil_sampling(15, 0.52, 1.2, 0.1 / 3, 3)
    rho, _ = pupil_coordinates(grid, radius)
    defocus = np.stack(
        [angular_spectrum_defocus(rho, z, wavelength=0.52, na=1.2, immersion_index=1.33) for z in depths]
    )
    render, values = _render(ABERRATED, 15, grid, oversample=3, defocus=defocus)
    stack = render(values, radius).numpy()
    assert stack.shape == (3, 15, 15)
    np.testing.assert_allclose(stack, expected, atol=1e-9)


def test_torch_psf_is_batched_over_coefficients_and_radii():
    render, values = _render(ABERRATED, 11, 128)
    batch = torch.stack([values, -values, 0 * values])
    radii = torch.tensor([20.0, 25.0, 30.0], dtype=torch.float64)
    out = render(batch, radii)
    for index in range(3):
        np.testing.assert_allclose(out[index].numpy(), render(batch[index], radii[index]).numpy(), atol=1e-12)


def test_gradients_match_finite_differences_in_float64():
    render, values = _render({4: 0.1, 7: -0.2, 11: 0.05}, 7, 32)
    coefficients = values.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: render(a, 9.3), (coefficients,))
    radius = torch.tensor(9.3, dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(render(0 * values, radius)[3, 3], radius)
    # A perfect pupil's peak grows with its aperture (pi R^2 / G^2 of a unit-sum PSF): the
    # hard edge passes the ramp's gradient, with the right sign.
    assert torch.isfinite(gradient) and gradient > 0


def test_even_part_sign_is_invisible_and_odd_part_flip_rotates_the_psf():
    """The ambiguity stated in engine/aberrations.py, pinned on the NumPy optics."""
    even = {j: v for j, v in ABERRATED.items() if is_even(j)}
    odd = {j: v for j, v in ABERRATED.items() if not is_even(j)}
    psf = zernike_psf(ABERRATED, 21, pupil_pixels=32)
    twin = zernike_psf({**{j: -v for j, v in even.items()}, **odd}, 21, pupil_pixels=32)
    np.testing.assert_allclose(twin, psf, atol=1e-12)
    flipped = zernike_psf({**even, **{j: -v for j, v in odd.items()}}, 21, pupil_pixels=32)
    np.testing.assert_allclose(flipped, psf[::-1, ::-1], atol=1e-12)
    assert np.abs(flipped - psf).max() > 0.1 * psf.max()  # the odd flip is a different PSF


def test_coefficient_error_is_taken_modulo_the_even_sign():
    truth = {4: 0.2, 8: 0.1, 11: -0.05}
    assert coefficient_error({4: -0.2, 8: 0.1, 11: 0.05}, truth) == pytest.approx(0.0)
    assert coefficient_error({4: 0.2, 8: -0.1, 11: -0.05}, truth) == pytest.approx(0.2)
    assert coefficient_error({}, truth) == pytest.approx(np.sqrt(0.04 + 0.01 + 0.0025))


def test_aberrations_report_names_units_and_rotation():
    found = Aberrations({4: 0.1, 8: -0.2, 11: 0.05}, 30.0, 256, False, wavelength=0.5)
    rows = {row["noll"]: row for row in found.table()}
    assert rows[8]["name"] == "horizontal coma" and rows[8]["ansi"] == 8 and rows[8]["um"] == -0.1
    assert rows[11]["ansi"] == 12 and rows[4]["ansi"] == 4 and rows[4]["even"]
    assert found.dominant() == (8, -0.2)
    assert found.rms == pytest.approx(np.sqrt(0.01 + 0.04 + 0.0025))
    assert found.rotated().coefficients == {4: 0.1, 8: 0.2, 11: 0.05}
    record = found.to_dict()
    assert record["even_sign_ambiguous"] and record["coefficients_waves"]["8"] == -0.2
    assert "horizontal coma -0.200" in found.describe()


def test_sampling_from_the_microscope_matches_the_optics_and_bounds_otherwise():
    sampling = PupilSampling.plan(15, OpticsConfig(**MICROSCOPE))
    assert (sampling.grid, sampling.radius) == pupil_sampling(15, 0.52, 1.2, 0.1, 1)
    coarse = PupilSampling.plan(15, OpticsConfig(**{**MICROSCOPE, "pixel_size": 0.2}))
    assert coarse.oversample == 3  # 0.2 um pixels, Nyquist 0.108 um: 2 sub-pixels, made odd
    free = PupilSampling.plan(31, OpticsConfig())
    low, high = free.bounds
    assert free.radius is None and low < free.start < high and high == free.grid / 4
    assert 0.61 * free.grid / low == pytest.approx(31 / 3)  # the widest Airy disk: a third of K


def test_generator_starts_aberration_free_and_batches_like_separate_copies():
    sampling = PupilSampling.plan(11, OpticsConfig(**MICROSCOPE))
    torch.manual_seed(0)
    copies = [PupilGenerator(11, 121, list(range(4, 12)), sampling, hidden=16) for _ in range(2)]
    codes = torch.rand(2, 121)
    with torch.no_grad():
        kernels = Ensemble(copies)(codes)
        singles = [generator(codes[index]) for index, generator in enumerate(copies)]
        reads = [generator(codes[index], readout=True) for index, generator in enumerate(copies)]
    for kernel, single, read, batched in zip(singles, singles, reads, kernels, strict=True):
        torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-7)
        assert kernel.min() >= 0 and float(kernel.sum()) == pytest.approx(1.0, abs=1e-5)
        assert read.shape == (9,) and float(read[-1]) == pytest.approx(sampling.radius)
        assert float(read[:-1].abs().max()) < 0.05  # near the perfect pupil at the start
    perfect = zernike_psf({}, 11, **{k: v for k, v in MICROSCOPE.items()})
    assert mnc(singles[0].numpy(), perfect) > 0.99


def test_orientation_picks_the_psf_that_explains_the_image(rng):
    from scipy.ndimage import gaussian_filter
    from scipy.signal import fftconvolve

    psf = zernike_psf({8: 0.35, 9: 0.2}, 15, **MICROSCOPE)
    scene = np.zeros((110, 110))
    scene[rng.integers(0, 110, 50), rng.integers(0, 110, 50)] = 1.0
    scene = gaussian_filter(scene, 0.8) * 5 + gaussian_filter(rng.random(scene.shape), 3)
    image = fftconvolve(scene, psf, mode="valid") + 0.005 * rng.standard_normal((96, 96))
    kept, rotated = orient_psf(image, psf, None)
    assert not rotated and kept is psf
    back, rotated = orient_psf(image, psf[::-1, ::-1], None)
    assert rotated
    np.testing.assert_allclose(back, psf)


def test_zernike_model_config_rules():
    with pytest.raises(ConfigError, match="all of `na`"):
        OpticsConfig(na=1.2)
    with pytest.raises(ConfigError, match="cannot exceed"):
        OpticsConfig(na=1.4, wavelength=0.5, pixel_size=0.1, immersion_index=1.33)
    with pytest.raises(ConfigError, match="belongs to self-diffusion"):
        DeblurConfig(method="classic").replace(**{"kernel_net.model": "zernike"})
    with pytest.raises(ConfigError, match=r"\[4, 36\]"):
        DeblurConfig().replace(**{"kernel_net.zernike_modes": 40})


TINY_ZERNIKE = DeblurConfig.preset("tiny").replace(
    restore="tv", **{"kernel_net.model": "zernike", "kernel_net.zernike_modes": 8}
)


def test_a_zernike_run_returns_its_pupil_and_a_psf_rendered_from_it(rng):
    config = TINY_ZERNIKE.replace(**{f"optics.{k}": v for k, v in MICROSCOPE.items()})
    result = deblur(rng.random((40, 40)), 9, config, device="cpu")
    (found,) = result.aberrations
    assert sorted(found.coefficients) == list(range(4, 9)) and not found.sampling_estimated
    assert "Zernike pupil model (Noll 4-8, NA 1.2, 520 nm, 100 nm pixels)" in result.plan
    sampling = PupilSampling.plan(9, config.optics)
    rendered = zernike_psf(found.coefficients, 9, fft_size=sampling.grid, **MICROSCOPE)
    assert mnc(result.psf, rendered) > 0.999  # the same PSF, up to the registration's shift
    assert result.metadata()["aberrations"][0]["coefficients_waves"].keys() == {"4", "5", "6", "7", "8"}


def test_zernike_model_refuses_a_reduced_scale(rng):
    with pytest.raises(InputError, match="full scale"):
        deblur(rng.random((64, 64)), 9, TINY_ZERNIKE, device="cpu", scale=2)


def test_cli_zernike_run_takes_the_pixel_size_from_the_file_and_reports_the_pupil(tmp_path, rng, capsys):
    from napari_selfdiff.cli.app import main
    from napari_selfdiff.io.tiff import read_tiff, write_tiff

    source = tmp_path / "cells.tif"
    write_tiff(source, rng.random((40, 40)).astype(np.float32), axes="YX", pixel_size=0.1)
    out = tmp_path / "out.tif"
    args = ["deblur", str(source), "-k", "9", "-o", str(out), "--preset", "tiny", "--device", "cpu"]
    optics = ["--psf-model", "zernike", "--na", "1.2", "--wavelength", "0.52", "--immersion-index", "1.33"]
    assert main([*args, *optics, "--zernike-modes", "8"]) == 0
    captured = capsys.readouterr()
    assert "NA 1.2, 520 nm, 100 nm pixels" in captured.err  # the plan, with the file's pixel size
    assert "waves RMS (Strehl" in captured.out and "even terms up to a common sign" in captured.out
    provenance = read_tiff(out).provenance
    assert provenance["config"]["optics"]["pixel_size"] == pytest.approx(0.1)
    assert len(provenance["aberrations"][0]["terms"]) == 5


def test_a_radius_fixed_at_construction_renders_the_same_psfs():
    """The cached terms and disk of a known pupil give the PSF of the general path."""
    noll = sorted(ABERRATED)
    values = torch.tensor([ABERRATED[j] for j in noll], dtype=torch.float64)
    general = PupilPsf(noll, 21, 256, dtype=torch.float64)
    fixed = PupilPsf(noll, 21, 256, radius=32.0, dtype=torch.float64)
    batch = torch.stack([values, -values])
    np.testing.assert_allclose(fixed(batch).numpy(), general(batch, 32.0).numpy(), atol=1e-12)
    coefficients = (0.5 * values).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: PupilPsf(noll, 7, 32, radius=9.3, dtype=torch.float64)(a), (coefficients,)
    )
    with pytest.raises(ValueError, match="no pupil radius"):
        general(values)
