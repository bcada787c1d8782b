"""Large data: tiles blended without seams, lazy TIFF / OME-Zarr in and out, T and C axes, Dask, CLI."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile
from scipy.signal import fftconvolve

from napari_selfdiff.config import DeblurConfig
from napari_selfdiff.io.lazy import lazy_array, open_lazy
from napari_selfdiff.io.stream import open_writer
from napari_selfdiff.large import choose_regions, iter_deblur_large
from napari_selfdiff.noise import NoiseModel
from napari_selfdiff.ops.tiles import tile_grid
from napari_selfdiff.plan.large import plan_large
from napari_selfdiff.restoration.noise_aware import mean_variance, restore_tv, tv_weight
from napari_selfdiff.restoration.tiled import restore_tiled
from napari_selfdiff.results import drive


def _gaussian_psf(size: int, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size // 2
    psf = np.exp(-(yy**2 + xx**2) / (2 * sigma**2))
    return psf / psf.sum()


def _blurred(size: int, psf: np.ndarray, seed: int, sigma: float = 0.01) -> np.ndarray:
    """A seeded scene of disks and bars, blurred by ``psf`` with Gaussian noise ``sigma``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    sharp = np.full((size, size), 0.1)
    for _ in range(size // 8):
        cy, cx, r = [*rng.uniform(0, size, 2).tolist(), rng.uniform(2, 10)]
        sharp[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = rng.uniform(0.3, 1.0)
    half = psf.shape[0] // 2
    blurred = fftconvolve(np.pad(sharp, half, mode="reflect"), psf, mode="valid")
    return blurred + rng.normal(0, sigma, blurred.shape)


class _Planes:
    """A writer that keeps the planes (the tests' sink)."""

    def __init__(self) -> None:
        self.planes: list[np.ndarray] = []

    def write(self, plane: np.ndarray) -> None:
        self.planes.append(np.array(plane))


@pytest.mark.parametrize(
    ("shape", "tile", "overlap", "margin"),
    [((512, 512), (200, 200), (16, 16), (40, 40)), ((7, 100, 90), (3, 40, 90), (2, 8, 0), (2, 10, 0))],
)
def test_tile_weights_are_a_partition_of_unity(shape, tile, overlap, margin):
    total = np.zeros(shape)
    tiles = tile_grid(shape, tile, overlap, margin)
    for t in tiles:
        total[t.write] += t.weights()
        for read, write in zip(t.read, t.write, strict=True):
            assert read.start <= write.start and write.stop <= read.stop
    assert len(tiles) > 1
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_tiled_restoration_of_512_equals_the_whole_one():
    """No seams: tiles with the whole image's TV weight and reference variance match it, PSNR >= 45 dB."""
    psf = _gaussian_psf(11, 1.8)
    noise = NoiseModel.gaussian(0.01)
    y = _blurred(512, psf, seed=3)
    whole = restore_tv(y, psf, noise, iterations=12, lower=0.0)
    weight, reference = tv_weight(noise, y), mean_variance(y, noise)

    def restore(block):
        return restore_tv(block[0], psf, noise, weight=weight, reference_variance=reference, iterations=12,
                          lower=0.0)[None]  # fmt: skip

    tiles = tile_grid((1, 512, 512), (1, 256, 256), (0, 22, 22), (0, 33, 33))
    tiled = restore_tiled(y[None], restore, tiles)[0]
    span = whole.max() - whole.min()
    psnr = 10 * np.log10(span**2 / np.mean((tiled - whole) ** 2))
    assert len(tiles) == 4
    assert psnr >= 45.0


def test_plan_states_peak_memory_and_shrinks_tiles_to_fit():
    roomy = plan_large((1, 1, 64, 2048, 2048), (1, 15, 15), "2d", memory_limit=6 * 1024**3)
    tight = plan_large((1, 1, 64, 2048, 2048), (1, 15, 15), "2d", memory_limit=1024**3)
    assert roomy.peak_bytes <= 6 * 1024**3 and tight.peak_bytes <= 1024**3
    assert tight.tile[1] < roomy.tile[1]
    assert "expected peak memory" in roomy.describe()
    three_d = plan_large((1, 1, 64, 2048, 2048), (9, 15, 15), "3d", memory_limit=6 * 1024**3)
    assert three_d.peak_bytes <= 6 * 1024**3 and len(three_d.tiles()) > 1
    with pytest.raises(ValueError, match="no tile fits"):
        plan_large((1, 1, 64, 2048, 2048), (1, 15, 15), "2d", memory_limit=100 * 1024**2)


def test_plan_expects_time_in_proportion_to_the_work():
    """The restoration's time follows the planes and the tiles' padded pixels; a given PSF costs nothing."""
    blind = plan_large((1, 1, 64, 2048, 2048), (1, 15, 15), "2d", memory_limit=6 * 1024**3)
    half = plan_large((1, 1, 32, 2048, 2048), (1, 15, 15), "2d", memory_limit=6 * 1024**3)
    time, time_half = blind.expected_time(), half.expected_time()
    assert time.restore == pytest.approx(2 * time_half.restore)
    assert 0 < time.psf < time.restore / 10 and time.parts == (time.psf, time.restore)
    assert replace(blind, regions=0).expected_time().psf == 0.0
    three_d = plan_large((1, 1, 64, 2048, 2048), (9, 15, 15), "3d", memory_limit=6 * 1024**3)
    assert three_d.expected_time().psf is None and three_d.expected_time().parts == ()  # not modelled
    assert three_d.expected_time(60).restore == pytest.approx(2 * three_d.expected_time(30).restore)
    assert "expected time about" in time.describe()
    assert "plus the 3D PSF" in three_d.expected_time().describe()
    # The run's estimate models the blind 3D PSF stage by the whole-array 3D run on one column:
    # the physical pupil fit (optics known) costs seconds, self-diffusion far more.
    from napari_selfdiff.config import OpticsConfig
    from napari_selfdiff.large import expected_time

    voxel = {"z_spacing": 0.3, "pixel_size": (0.1, 0.1), "device": "cpu"}
    optics = DeblurConfig(optics=OpticsConfig(1.2, 0.52, 0.1, 1.33))
    pupil, network = (expected_time(three_d, config, **voxel) for config in (optics, DeblurConfig()))
    assert 0 < pupil.psf < 120 < network.psf and pupil.parts == (pupil.psf, pupil.restore)
    assert expected_time(blind, optics, **voxel) == time  # the 2D plan models its PSF stage itself


def test_regions_spread_over_the_field():
    image = np.zeros((256, 256))
    image[40:60, 40:60] = 1.0  # structure in two opposite quarters only
    image[190:210, 180:200] = 1.0
    regions = choose_regions(image, 4, 64, 7)
    assert len(regions) == 4
    corners = {(top < 128, left < 128) for top, left, _, _ in regions[:2]}
    assert corners == {(True, True), (False, False)}  # the two structured quarters score first
    assert all(h == w == 64 for _, _, h, w in regions)


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_lazy_output_round_trip_with_voxel_size(tmp_path, suffix):
    rng = np.random.default_rng(0)
    data = rng.random((2, 1, 3, 600, 520)).astype(np.float32)
    path = tmp_path / f"out{suffix}"
    writer = open_writer(path, data.shape, "TZYX", np.float32, pixel_size=(0.1, 0.1), z_spacing=0.3,
                         provenance={"run": 1})  # fmt: skip
    for plane in data.reshape(-1, 600, 520):
        writer.write(plane)
    assert not path.exists()  # committed at the end only
    writer.commit()
    image = open_lazy(path)
    assert image.axes == "TZYX" and image.shape == data.shape
    assert image.pixel_size == pytest.approx((0.1, 0.1)) and image.z_spacing == pytest.approx(0.3)
    assert image.provenance == {"run": 1}
    np.testing.assert_array_equal(image.data[1, 0, 2, 100:200], data[1, 0, 2, 100:200])
    with pytest.raises(TypeError, match="not converted whole"):
        np.asarray(image.data)
    if suffix == ".zarr":
        import zarr

        multiscale = zarr.open_group(str(path), mode="r").attrs["multiscales"][0]
        assert [d["path"] for d in multiscale["datasets"]] == ["0", "1"]
        assert multiscale["datasets"][1]["coordinateTransformations"][0]["scale"] == pytest.approx(
            [1.0, 0.3, 0.2, 0.2]
        )


def test_compressed_tiff_is_read_by_chunks(tmp_path):
    data = np.arange(2 * 3 * 4 * 16 * 16, dtype=np.uint16).reshape(2, 3, 4, 16, 16)  # T, Z, C, Y, X
    path = tmp_path / "compressed.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX"}, compression="zlib")
    with open_lazy(path) as image:
        assert image.axes == "TCZYX" and image.shape == (2, 4, 3, 16, 16)
        assert type(image.data.source).__name__ == "Array"  # zarr, not a loaded array
        np.testing.assert_array_equal(image.data[1, 2, 0], data[1, 0, 2])


def test_time_points_share_one_psf_estimate_per_channel(monkeypatch):
    """TCZYX with 3 time points and 2 channels: the PSF is estimated per channel, once, at t = 0."""
    import napari_selfdiff.large as large

    psf = _gaussian_psf(7, 1.2)
    frames = np.stack([[[_blurred(64, psf, seed=10 * t + c) for _ in range(2)] for c in range(2)]
                       for t in range(3)]).astype(np.float32)  # fmt: skip
    calls = []
    original = large.classic_psfs

    def counted(planes, *args, **kwargs):
        calls.append(planes.shape)
        return original(planes, *args, **kwargs)

    monkeypatch.setattr(large, "classic_psfs", counted)
    image = lazy_array(frames, "TCZYX")
    plan = plan_large(image.shape, (1, 7, 7), "2d", regions=2, region_size=32)
    writer = _Planes()
    config = DeblurConfig().replace(**{"classic.levels": 2, "classic.iterations": 4})
    result = drive(iter_deblur_large(image, plan, writer, config))
    assert len(calls) == 2 * 2  # 2 channels x 2 regions, none for time points 1 and 2
    assert len(result.channels) == 2 and result.psf.shape == (2, 7, 7)
    assert len(writer.planes) == frames[:, :, :, 0, 0].size
    assert all(0 <= c.reliability <= 1 for c in result.channels)


def test_dask_gives_the_single_process_result(tmp_path):
    distributed = pytest.importorskip("distributed")
    from napari_selfdiff.batch.large import dask_units

    psf = _gaussian_psf(7, 1.2).astype(np.float32)
    stack = np.stack([_blurred(80, psf, seed=s) for s in range(3)]).astype(np.float32)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "ZYX"})
    image = open_lazy(path)
    plan = plan_large(image.shape, (1, 7, 7), "2d", tile=56)
    single = _Planes()
    drive(iter_deblur_large(image, plan, single, psfs=[psf]))
    spread = _Planes()
    with distributed.Client(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as client:
        executor = dask_units(str(path), DeblurConfig(), client=client)
        drive(iter_deblur_large(image, plan, spread, psfs=[psf], restore_units=executor))
    assert len(plan.tiles()) == 4
    np.testing.assert_array_equal(np.stack(spread.planes), np.stack(single.planes))


def test_cli_deblurs_a_tiff_into_ome_zarr(tmp_path, capsys):
    from napari_selfdiff.cli import main

    psf = _gaussian_psf(7, 1.2)
    stack = (1000 * np.stack([_blurred(96, psf, seed=s) for s in range(2)]) + 100).astype(np.uint16)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "ZYX", "spacing": 0.3, "unit": "um"},
                     resolution=(10.0, 10.0))  # fmt: skip
    output = tmp_path / "out.zarr"
    code = main([
        "deblur", str(source), "-k", "7", "-o", str(output), "--tiles", "on", "--tile", "64",
        "--regions", "1", "--region-size", "64", "--set", "classic.levels=2", "--set", "classic.iterations=4",
        "--keep-dtype",
    ])  # fmt: skip
    assert code == 0
    result = open_lazy(output)
    assert result.shape == (1, 1, 2, 96, 96) and result.dtype == np.uint16
    assert result.z_spacing == pytest.approx(0.3) and result.pixel_size == pytest.approx((0.1, 0.1))
    assert tifffile.imread(tmp_path / "out_psf.tif").shape == (7, 7)
    said = capsys.readouterr().err
    assert "expected time about" in said and "100.0% done in" in said  # the bar ended full, once


def test_3d_tiles_and_z_blocks_match_the_whole_volume():
    """3D RL-TV in x/y tiles and z blocks with one intensity map equals one block, to PSNR >= 40 dB."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny FFTs: two threads on a loaded machine are 15x slower, not faster
    try:
        _check_3d_tiles()
    finally:
        torch.set_num_threads(threads)


def _check_3d_tiles():
    rng = np.random.default_rng(5)
    zz, yy, xx = np.mgrid[-2:3, -4:5, -4:5]
    psf = np.exp(-(xx**2 + yy**2) / 4.0 - zz**2 / 2.0).astype(np.float32)
    psf /= psf.sum()
    sharp = np.zeros((16, 80, 80))
    sharp[tuple(rng.integers(0, (16, 80, 80), (30, 3)).T)] = 100.0
    stack = (fftconvolve(sharp, psf, mode="same") + 5 + rng.normal(0, 0.2, sharp.shape)).astype(np.float32)
    image = lazy_array(stack, "ZYX")
    config = DeblurConfig().replace(restore_iterations=10)
    results = []
    for tile, limit in ((None, 2**40), (72, 2**40)):
        plan = plan_large(image.shape, (5, 9, 9), "3d", tile=tile, memory_limit=limit)
        if tile is not None:  # z blocks too: a tile grid over (Z, Y, X)
            plan = replace(plan, tile=(8, 72, 72))
        writer = _Planes()
        drive(iter_deblur_large(image, plan, writer, config, psfs=[psf], device="cpu"))
        results.append(np.stack(writer.planes))
    whole, tiled = results
    assert len(plan.tiles()) == 2 * 2 * 2
    span = whole.max() - whole.min()
    assert 10 * np.log10(span**2 / np.mean((tiled - whole) ** 2)) >= 40.0


def test_the_issue_stack_goes_to_tiles_when_it_does_not_fit():
    from napari_selfdiff.plan.large import needs_tiles

    # 16 x 2048 x 2048 needs ~24 GiB of whole-array working copies: with 21.8 GiB free, tiles
    assert needs_tiles((16, 2048, 2048), memory_limit=int(21.8 * 1024**3))
    assert not needs_tiles((512, 512), memory_limit=int(21.8 * 1024**3))


def test_3d_blind_mode_estimates_on_the_best_region_column():
    torch = pytest.importorskip("torch")
    from napari_selfdiff.samples.widefield import make_microscopy_case

    case = make_microscopy_case((8, 64, 64), seed=2)
    image = lazy_array(case.blurred, "ZYX")
    plan = plan_large(image.shape, (3, 7, 7), "3d", regions=1, region_size=48)
    config = DeblurConfig.preset("tiny").replace(restore_iterations=10)
    writer = _Planes()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = drive(iter_deblur_large(image, plan, writer, config, device="cpu"))
    finally:
        torch.set_num_threads(threads)
    (channel,) = result.channels
    assert result.psf.shape == (3, 7, 7) and result.psf.sum() == pytest.approx(1.0, abs=1e-4)
    assert len(channel.regions) == 1 and channel.regions[0][2:] == (48, 48)
    assert 0.0 <= channel.reliability <= 1.0
    assert len(writer.planes) == 8 and all(np.isfinite(p).all() for p in writer.planes)


def test_cli_large_stack_with_the_optics_runs_the_3d_pupil_fit(tmp_path, capsys):
    """As the whole-array command: the file's pixel size samples the pupil, and with the optics
    known a z-stack asked with a lateral size alone is deblurred in 3D by the pupil fit."""
    from napari_selfdiff.cli import main
    from napari_selfdiff.samples.widefield import make_microscopy_case

    case = make_microscopy_case((10, 64, 64), seed=3)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, case.blurred.astype(np.uint16), imagej=True,
                     metadata={"axes": "ZYX", "spacing": case.z_step_um, "unit": "um"},
                     resolution=(1 / case.pixel_size_um, 1 / case.pixel_size_um))  # fmt: skip
    code = main([
        "deblur", str(source), "-k", "9", "-o", str(tmp_path / "out.tif"), "--tiles", "on",
        "--na", str(case.na), "--wavelength", str(case.wavelength_um),
        "--immersion-index", str(case.immersion_index), "--region-size", "64", "--restore-iterations", "5",
    ])  # fmt: skip
    assert code == 0
    said = capsys.readouterr()
    assert "3D mode" in said.err and "3D PSF (pupil-3d)" in said.out
    assert "expected time about" in said.err and "(PSF " in said.err  # both stages are weighed
    psf = tifffile.imread(tmp_path / "out_psf.tif")
    assert psf.ndim == 3 and psf.shape[1:] == (9, 9) and psf.shape[0] > 1
