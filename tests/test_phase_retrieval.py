"""Phase retrieval from through-focus bead stacks, and bead averaging (optics/phase_retrieval.py).

Margins measured on this CPU over seeds 0-3 (see the comments): the retrieved coefficients are
within 0.006 waves of the truth where the tests allow 0.03 (the issue's target for bead stacks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_selfdiff.metrics import mnc
from napari_selfdiff.optics import zernike_psf
from napari_selfdiff.optics.phase_retrieval import average_beads, fwhm_um, retrieve_pupil
from napari_selfdiff.optics.zernike import nm_to_ansi, noll_to_nm

WAVELENGTH, NA, WATER = 0.52, 1.2, 1.33
PIXEL = WAVELENGTH / (4 * NA)  # Nyquist
Z = np.arange(-1.0, 1.01, 0.2)
FOCUS = 0.3  # the bead's focus sits 0.3 um above the stack's z = 0
OPTICS = {"wavelength": WAVELENGTH, "na": NA, "pixel_size": PIXEL, "immersion_index": WATER}


def bead_stack(coefficients: dict[int, float], seed: int, peak: float = 1e4, background: float = 100.0):
    """An 11 x 49 x 49 Poisson bead stack, slightly off-centre laterally (tip/tilt) and axially."""
    clean = zernike_psf({**coefficients, 2: 0.05, 3: -0.03}, 49, z=Z - FOCUS, **OPTICS)
    clean = clean / clean.max() * peak + background
    return np.random.default_rng(seed).poisson(clean).astype(np.float64)


def test_retrieves_known_aberrations_with_their_signs():
    truth = {5: 0.08, 7: -0.06, 11: 0.12}
    estimate = retrieve_pupil(bead_stack(truth, seed=0), z_positions_um=Z, **OPTICS)
    error = math.sqrt(sum((estimate.noll[j] - truth.get(j, 0.0)) ** 2 for j in range(5, 16)))
    assert error <= 0.03  # measured 0.0046-0.0051 over seeds 0-3
    for j, value in truth.items():
        assert np.sign(estimate.noll[j]) == np.sign(value)
        assert abs(estimate.noll[j] - value) < 0.02
    assert set(estimate.noll) == set(range(5, 16))
    assert abs(estimate.focus_um - FOCUS) < 0.05  # measured 0.294-0.295
    assert estimate.ansi[nm_to_ansi(*noll_to_nm(11))] == estimate.noll[11]  # ANSI 12
    assert estimate.rms_waves == pytest.approx(math.sqrt(sum(v * v for v in estimate.noll.values())))
    assert estimate.strehl_marechal == pytest.approx(math.exp(-((2 * math.pi * estimate.rms_waves) ** 2)))
    assert 0.3 < estimate.strehl < 0.5  # 0.155 waves RMS: 0.39
    assert estimate.relative_residual < 0.1  # 1e4 photons: the noise floor is about 0.05
    assert estimate.residual_history[-1] < estimate.residual_history[0] / 5


def test_aberration_free_stack_gives_a_diffraction_limited_pupil():
    estimate = retrieve_pupil(bead_stack({}, seed=1), z_positions_um=Z, **OPTICS)
    assert estimate.rms_waves <= 0.02  # measured 0.0011-0.0022 over seeds 0-3
    assert estimate.strehl > 0.95
    assert estimate.strehl_marechal > 0.95
    # The measured widths are the nominal ones (the stack is nominal; measured through the
    # brightest pixel, 0.4 px off the bead: ratios 1.07, 1.02, 1.01 over seeds 0-3).
    for axis in "xyz":
        assert estimate.fwhm_um[axis] == pytest.approx(estimate.fwhm_nominal_um[axis], rel=0.15)
    # The magnitude is noisy pixel by pixel at 1e4 photons (about 30 % RMS), its apodisation
    # (mean over rings of the pupil) is flat, as simulated.
    size = estimate.magnitude.shape[0]
    yy, xx = np.indices((size, size)) - size // 2
    ring = np.minimum((np.hypot(yy, xx) / estimate.radius_px * 6).astype(int), 6)
    profile = [estimate.magnitude[ring == k].mean() for k in range(6)]
    np.testing.assert_allclose(profile, 1.0, atol=0.15)  # measured within 0.07


def test_model_psf_reproduces_the_stack_and_tilt_is_a_position():
    truth = {6: -0.1, 8: 0.07}
    stack = bead_stack(truth, seed=2)
    estimate = retrieve_pupil(stack, z_positions_um=Z, **OPTICS)
    model = estimate.psf()
    assert model.shape == (Z.size, 49, 49)
    np.testing.assert_allclose(model.sum(axis=(1, 2)), 1.0)
    assert mnc(model, stack - 100.0) > 0.97
    # The window is centred on the brightest pixel; shift_um is the rest of the bead's offset:
    # Z2 = 0.05 and Z3 = -0.03 waves are (0.043, -0.026) um in x and y (2 c lambda / NA).
    assert estimate.shift_um == pytest.approx((-0.026, 0.043), abs=0.01)
    assert estimate.pupil().shape == estimate.phase.shape


def test_decreasing_z_positions_give_the_same_pupil():
    truth = {5: 0.08, 11: 0.12}
    stack = bead_stack(truth, seed=3)
    forward = retrieve_pupil(stack, z_positions_um=Z, iterations=40, **OPTICS)
    backward = retrieve_pupil(stack[::-1], z_positions_um=Z[::-1], iterations=40, **OPTICS)
    for j in truth:
        assert backward.noll[j] == pytest.approx(forward.noll[j], abs=0.005)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"z_positions_um": Z[:-1]}, "one finite value per plane"),
        ({"z_positions_um": np.r_[Z[:-1], Z[0]]}, "monotonic"),
        ({"pixel_size": 0.2}, "Nyquist"),
        ({"na": 1.5}, "cannot exceed"),
        ({"iterations": 0}, "iterations"),
        ({"n_zernike": 4}, "n_zernike"),
        ({"window": 10}, "window"),
    ],
)
def test_retrieve_pupil_rejects_bad_arguments(kwargs, message):
    arguments = {"z_positions_um": Z, **OPTICS, **kwargs}
    with pytest.raises(ValueError, match=message):
        retrieve_pupil(np.ones((Z.size, 33, 33)), **arguments)


def test_fwhm_of_a_gaussian():
    grid = np.arange(41) - 20.0
    zz, yy, xx = np.meshgrid(grid, grid, grid, indexing="ij")
    sigma = np.array([4.0, 2.0, 3.0])
    blob = np.exp(-(zz**2) / (2 * sigma[0] ** 2) - yy**2 / (2 * sigma[1] ** 2) - xx**2 / (2 * sigma[2] ** 2))
    widths = fwhm_um(blob, pixel_size=0.1, z_step=0.25)
    factor = 2 * math.sqrt(2 * math.log(2))
    assert widths["z"] == pytest.approx(factor * 4.0 * 0.25, rel=0.02)
    assert widths["y"] == pytest.approx(factor * 2.0 * 0.1, rel=0.02)
    assert widths["x"] == pytest.approx(factor * 3.0 * 0.1, rel=0.02)


# --- average_beads ---------------------------------------------------------------------------

BEAD_OPTICS = {"wavelength": 0.52, "na": 1.0, "pixel_size": 0.13, "immersion_index": 1.33}
BEAD_TRUTH = {6: 0.06, 8: 0.05}
WINDOW = (9, 21, 21)


def bead_field(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(24, 128, 128) stack: isolated beads at sub-voxel positions, a close pair and an edge bead."""
    rng = np.random.default_rng(seed)
    padded = np.zeros((24 + 12, 128 + 30, 128 + 30))
    isolated = [
        (8, 20, 22),
        (12, 22, 64),
        (10, 20, 104),
        (14, 62, 24),
        (9, 64, 100),
        (13, 104, 40),
        (11, 102, 98),
    ]
    pair = [(12, 64, 58), (12, 64, 66)]  # 8 px apart: both rejected
    edge = [(12, 84, 3)]
    for zc, yc, xc in isolated + pair + edge:
        dz, dy, dx = rng.uniform(-0.5, 0.5, 3)
        # A sub-pixel lateral offset is a tilt (2 c lambda / NA um per c waves), an axial one a z shift.
        tip = dx * BEAD_OPTICS["pixel_size"] * BEAD_OPTICS["na"] / (2 * BEAD_OPTICS["wavelength"])
        tilt = dy * BEAD_OPTICS["pixel_size"] * BEAD_OPTICS["na"] / (2 * BEAD_OPTICS["wavelength"])
        planes = np.arange(-6, 7) * 0.25 - dz * 0.25
        psf = zernike_psf({**BEAD_TRUTH, 2: tip, 3: tilt}, 31, z=planes, **BEAD_OPTICS)
        brightness = rng.uniform(2e3, 4e3) / psf.max()
        padded[zc : zc + 13, yc : yc + 31, xc : xc + 31] += brightness * psf  # padded by (6, 15, 15)
    field = padded[6:-6, 15:-15, 15:-15]
    noisy = rng.poisson(field + 20.0) + rng.normal(0.0, 2.0, field.shape)
    return noisy, np.array(isolated), len(isolated)


def test_average_beads_recovers_the_psf():
    stack, isolated, count = bead_field(seed=0)
    psf, positions = average_beads(stack, WINDOW, return_positions=True)
    assert psf.shape == WINDOW
    assert psf.min() >= 0 and psf.sum() == pytest.approx(1.0)
    assert len(positions) == count  # the pair and the edge bead are left out
    found = {tuple(p) for p in positions.tolist()}
    assert all(min(np.abs(np.array(list(found)) - p).max(axis=1)) <= 1 for p in isolated)
    truth = zernike_psf(BEAD_TRUTH, WINDOW[1], z=np.arange(-4, 5) * 0.25, **BEAD_OPTICS)
    assert mnc(psf, truth) >= 0.95  # measured 0.980-0.999 over seeds 0-3
    assert np.unravel_index(int(np.argmax(psf)), psf.shape) == (4, 10, 10)


def test_average_beads_max_beads_and_integer_alignment():
    stack, _, _ = bead_field(seed=1)
    psf, positions = average_beads(stack, WINDOW, max_beads=3, subpixel=False, return_positions=True)
    assert len(positions) == 3
    truth = zernike_psf(BEAD_TRUTH, WINDOW[1], z=np.arange(-4, 5) * 0.25, **BEAD_OPTICS)
    assert mnc(psf, truth) >= 0.9


def test_average_beads_errors():
    flat = np.random.default_rng(0).normal(100.0, 1.0, (12, 40, 40))
    with pytest.raises(ValueError, match="no isolated bead"):
        average_beads(flat, (5, 11, 11))
    with pytest.raises(ValueError, match="odd"):
        average_beads(flat, (5, 10, 11))
    with pytest.raises(ValueError, match="larger than the stack"):
        average_beads(flat, (13, 11, 11))
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        average_beads(flat[0], 5)


def test_cli_beads_measures_the_pupil_and_writes_the_psf(tmp_path, capsys):
    from napari_selfdiff.cli.app import main
    from napari_selfdiff.io.tiff import read_tiff, write_tiff

    stack, _, count = bead_field(seed=1)
    path = tmp_path / "beads.tif"
    write_tiff(path, stack.astype(np.float32), axes="ZYX", pixel_size=0.13, z_spacing=0.25)
    out = tmp_path / "psf.tif"
    args = ["beads", str(path), "--na", "1.0", "--wavelength", "0.52", "--immersion-index", "1.33"]
    assert main([*args, "-k", "9,21,21", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{count} beads averaged into a 9x21x21 PSF" in printed and "Strehl" in printed
    written = read_tiff(out)
    assert written.data.shape == WINDOW and written.z_spacing == pytest.approx(0.25)
    noll = written.provenance["noll_waves_rms"]
    # Vertical astigmatism (Noll 6) and coma (Noll 8) put in: found with their signs.
    assert abs(noll["6"] - 0.06) < 0.03 and abs(noll["8"] - 0.05) < 0.03
