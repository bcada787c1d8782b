"""Choosing where to estimate a blur: coherent edges, not texture, not flat areas."""

import numpy as np
import pytest

from napari_selfdiff import DeblurConfig, deblur
from napari_selfdiff.blind.regions import edge_usefulness, informative_window
from napari_selfdiff.blind.selfdiff import planes as planes_module
from napari_selfdiff.blind.selfdiff import tiling as tiled_module
from napari_selfdiff.errors import OutOfMemory

TINY = DeblurConfig.preset("tiny").replace(
    method="selfdiff", **{"schedule.steps": 2, "schedule.inner_steps": 2}
)


def _box_blur(image, size):
    kernel = np.ones(size) / size
    padded = np.pad(image, size // 2, mode="reflect")
    padded = np.apply_along_axis(np.convolve, 0, padded, kernel, mode="valid")
    return np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")


def _texture_left_edges_right(rng):
    """Left half: fine texture (more gradient energy); right half: a few blurred squares."""
    image = np.full((96, 192), 0.5)
    image[:, :96] += 0.4 * rng.standard_normal((96, 96))
    for top, left in ((10, 110), (50, 150), (30, 125)):
        image[top : top + 30, left : left + 25] = 0.9 if left != 125 else 0.1
    return _box_blur(image, 5)


def test_window_goes_to_coherent_edges_not_to_texture(rng):
    image = _texture_left_edges_right(rng)
    gradient = np.hypot(*np.gradient(image))
    assert gradient[:, :96].sum() > 2 * gradient[:, 96:].sum()  # plain gradient energy would pick the texture
    rows, cols = informative_window(image, 64, 9)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (64, 64)
    assert cols.start >= 96
    usefulness = edge_usefulness(image, 9)
    assert usefulness[:, 96:].sum() > usefulness[:, :96].sum()


def test_window_ignores_intensity_scale_and_averages_channels(rng):
    image = _texture_left_edges_right(rng)
    as_uint16 = np.round((image - image.min()) / np.ptp(image) * 65535).astype(np.uint16)
    colour = np.stack([image, image * 0.5, image * 2.0 + 3.0])
    starts = set()
    for variant in (image, image * 1000 - 7, as_uint16, colour):
        rows, cols = informative_window(variant, 48, 7)
        starts.add((rows.start, cols.start))
    assert len(starts) == 1


@pytest.mark.parametrize(("shape", "size", "expected"), [((80, 100), 40, (20, 30)), ((50, 60), 64, (0, 0))])
def test_without_edges_the_window_is_central_and_clipped_to_the_image(shape, size, expected):
    rows, cols = informative_window(np.full(shape, 3.0), size, 5)
    assert (rows.start, cols.start) == expected
    assert rows.stop - rows.start == min(size, shape[0]) and cols.stop - cols.start == min(size, shape[1])


def test_tiled_solve_estimates_the_psf_on_the_informative_tile(monkeypatch, rng):
    def small_device(shape, kernel_size, config, device):
        if shape[-1] > 64:
            raise OutOfMemory("not enough memory on cpu")

    blind_inputs = []
    solve_planes = tiled_module.solve_planes

    def recording(planes, *args, fixed_psf=None, **kwargs):
        if fixed_psf is None:
            blind_inputs.append(planes.copy())
        return solve_planes(planes, *args, fixed_psf=fixed_psf, **kwargs)

    monkeypatch.setattr(planes_module, "check_memory", small_device)
    monkeypatch.setattr(tiled_module, "solve_planes", recording)
    image = _texture_left_edges_right(rng)
    result = deblur(image, 5, TINY, device="cpu", on_out_of_memory="tile")
    tile = result.tiling.tile
    rows, cols = informative_window(image, tile, 5)
    assert tile == 64  # 80 x 80 tiles were refused too, so the last blind run is on the tile used
    np.testing.assert_array_equal(blind_inputs[-1][0, 0], image[rows, cols])
    assert cols.start >= 64
