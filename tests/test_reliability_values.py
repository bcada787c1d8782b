"""Issue #28, values: finite results or clear errors, stacks with blank planes, memory before copies."""

import threading
import tracemalloc
import warnings

import numpy as np
import pytest

from napari_selfdiff import DeblurConfig, InputError, deblur, deconvolve
from napari_selfdiff.errors import NumericalError, OutOfMemory
from napari_selfdiff.ops.intensity import to_dtype
from napari_selfdiff.optics import blur, zernike_psf

TINY = DeblurConfig.preset("tiny").replace(**{"schedule.steps": 1, "schedule.inner_steps": 2})
CLASSIC = TINY.replace(method="classic")


def _image(shape=(32, 32), seed=0):
    return np.random.default_rng(seed).random(shape)


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (_image() * 1e300, InputError, r"values up to 1e\+300 in magnitude, .* multiply it by a constant"),
        (_image() * 1e-310, InputError, r"values up to .*e-31\d .* multiply it by a constant"),
        (np.arange(1024).reshape(32, 32).astype("datetime64[s]"), TypeError, "dates or durations"),
        (np.arange(1024).reshape(32, 32).astype("timedelta64[s]"), TypeError, "dates or durations"),
        (np.full((32, 32), 1 + 1j), TypeError, "complex"),
    ],
)
def test_values_outside_float32_and_non_intensity_dtypes_are_refused(image, error, match):
    with pytest.raises(error, match=match):
        deblur(image, 5, CLASSIC, device="cpu")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"nan_policy": "ignore"}, "`nan_policy` must be 'raise' or 'replace', got 'ignore'"),
        ({"on_out_of_memory": "retry"}, "`on_out_of_memory` must be 'raise' or 'tile'"),
        ({"seed": 1.5}, r"`seed` must be an integer in \[0, 2\*\*63\), got 1.5"),
        ({"seed": True}, "`seed` must be an integer"),
        ({"seed": 2**70}, "`seed` must be an integer"),
        ({"seed": -1}, "`seed` must be an integer"),
        ({"cancel": True}, "`cancel` must be a threading.Event"),
    ],
)
def test_bad_run_options_are_refused_with_a_message(options, match):
    with pytest.raises(InputError, match=match):
        deblur(_image(), 5, CLASSIC, device="cpu", **options)


def test_deconvolve_checks_seed_cancel_and_nan_policy_too():
    for options in ({"seed": 2**70}, {"cancel": "yes"}, {"nan_policy": "zero"}):
        with pytest.raises(InputError, match=r"`seed`|`cancel`|`nan_policy`"):
            deconvolve(_image(), np.ones((3, 3)), device="cpu", **options)
    event = threading.Event()
    assert deconvolve(_image(), np.ones((3, 3)), device="cpu", cancel=event, seed=2**63 - 1).image.shape == (
        32,
        32,
    )


@pytest.mark.parametrize("config", [CLASSIC, TINY.replace(method="selfdiff")], ids=["classic", "selfdiff"])
def test_a_constant_plane_of_a_stack_passes_through(config):
    stack = _image((3, 32, 32))
    stack[1] = 5.0
    result = deblur(stack, 5, config, device="cpu")
    assert np.array_equal(result.image[1], np.full((32, 32), 5.0, np.float32))
    assert np.isfinite(result.image).all() and result.psf.shape == (3, 5, 5)
    assert result.psf[1, 2, 2] == 1.0 and result.psf[1].sum() == 1.0  # the identity
    assert not np.allclose(result.image[0], stack[0])  # the other planes were deblurred


def test_a_nan_plane_replaced_becomes_its_constant():
    stack = _image((3, 32, 32))
    stack[2] = np.nan
    result = deblur(stack, 5, CLASSIC, device="cpu", nan_policy="replace")
    filled = np.median(stack[:2])
    assert np.allclose(result.image[2], filled) and np.isfinite(result.image).all()


def test_a_wholly_constant_image_is_still_refused_before_any_work(monkeypatch):
    monkeypatch.setattr("napari_selfdiff.api.plan_run", lambda *a, **k: pytest.fail("planned"))
    with pytest.raises(InputError, match=r"the image is constant \(every pixel equals 3\)"):
        deblur(np.full((2, 32, 32), 3.0), 5, CLASSIC, device="cpu")


def test_masked_pixels_are_refused_or_filled_like_nan():
    data = _image()
    data[3, 3] = 1e6
    masked = np.ma.masked_array(data, mask=data > 1e5)
    with pytest.raises(InputError, match=r"1 NaN or infinite \(or masked\) pixel.*--nan-policy replace"):
        deblur(masked, 5, CLASSIC, device="cpu")
    result = deblur(masked, 5, CLASSIC, device="cpu", nan_policy="replace")
    assert result.image.max() < 10  # the masked 1e6 was not deblurred as data


def test_float16_keep_dtype_is_clipped_to_its_range_with_a_warning():
    image = (_image() * 65000).astype(np.float16)
    for method in ("richardson_lucy", "wiener"):
        with pytest.warns(RuntimeWarning, match=r"beyond float16's range .* clipped"):
            result = deconvolve(image, np.ones((3, 3)), method, device="cpu", keep_dtype=True)
        assert result.image.dtype == np.float16 and np.isfinite(result.image).all()


def test_a_non_finite_result_is_refused_not_returned():
    with pytest.raises(NumericalError, match=r"2 NaN or infinite value\(s\) of 4"):
        to_dtype(np.array([1.0, np.inf, np.nan, 2.0]), None)


@pytest.mark.parametrize("dtype", ["uint64", "int64", "uint32", "int8"])
def test_integer_results_saturate_at_the_dtype_range_without_a_cast_warning(dtype):
    info = np.iinfo(dtype)  # float(2**64 - 1) is 2**64: clipped to it, the cast overflowed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = to_dtype(np.array([-1e30, 1e30, 3.0]), np.dtype(dtype))
    assert out.dtype == dtype and out[0] == info.min and out[2] == 3
    assert info.max - int(out[1]) < 2**11  # the largest float64 below the maximum


@pytest.mark.parametrize("dtype", ["uint64", "int64"])
def test_blur_of_64_bit_counts_saturates_without_a_cast_warning(dtype):
    image = np.random.default_rng(0).integers(0, 200, (8, 8)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = blur(image, np.ones((1, 1)), noise_sigma=1.0, seed=0)  # noise of the dtype's full range
    assert out.dtype == dtype and out.max() > np.iinfo(dtype).max - 2**11


def test_host_memory_is_checked_before_the_first_float64_copy(monkeypatch):
    image = np.random.default_rng(0).integers(0, 255, (1024, 1024), dtype=np.uint8)  # 1 MiB decoded
    monkeypatch.setattr("napari_selfdiff.resources.free_host_memory", lambda: 32 * 1024**2)
    tracemalloc.start()
    try:
        with pytest.raises(OutOfMemory, match=r"1 Mpixel\) needs about 0.4 GiB of host memory"):
            deblur(image, 5, CLASSIC, device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * image.nbytes  # no float64 (8x) copy was made before the refusal


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"coefficients": {4: np.nan}, "pupil_pixels": 64}, "must be finite"),
        ({"coefficients": {4: np.inf}, "pupil_pixels": 64}, "must be finite"),
        ({"z": np.nan}, "`z` must be a finite number"),
        ({"z": [0.0, np.inf]}, "`z` must be a finite number"),
        ({"z": []}, "non-empty sequence"),
        ({"na": np.nan}, "`na` must be a finite number > 0"),
        ({"wavelength": np.inf}, "`wavelength` must be a finite number > 0"),
        ({"na": 0.0001}, r"FFT grid \(about .* GiB\), over the .* allowed"),
        ({"size": 301, "pupil_pixels": 64}, "does not fit the 256 px FFT grid"),
    ],
)
def test_zernike_psf_refuses_bad_optics_before_allocating(options, match):
    physical = {"wavelength": 0.5, "na": 1.0, "pixel_size": 0.1}
    arguments = {"coefficients": {}, "size": 33, **physical, **options}
    if "pupil_pixels" in options:
        arguments = {k: v for k, v in arguments.items() if k not in physical}
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            zernike_psf(arguments.pop("coefficients"), arguments.pop("size"), **arguments)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024**2


def test_blur_refuses_an_absurd_photon_count():
    with pytest.raises(ValueError, match=r"`poisson_photons` must be a number in \(0, 1e\+15\]"):
        blur(_image(), np.ones((3, 3)), poisson_photons=1e30)
