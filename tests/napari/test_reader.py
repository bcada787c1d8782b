"""The plugin's TIFF reader in a viewer: what it claims, multichannel stacks, saved files (#29 items 5-6)."""

import numpy as np
import pytest
import tifffile

napari = pytest.importorskip("napari")

from napari_selfdiff._napari.io import get_reader  # noqa: E402

PLUGIN = "napari-selfdiff"


def _units(layer):
    return tuple(str(u) for u in layer.units)


def test_zcyx_imagej_stack_one_layer_per_channel(viewer, tmp_path):
    path = tmp_path / "confocal.tif"
    data = np.random.default_rng(0).integers(0, 4000, (5, 2, 32, 32), dtype=np.uint16)
    meta = {"axes": "ZCYX", "unit": "um", "spacing": 0.3}
    tifffile.imwrite(path, data, imagej=True, resolution=(10.0, 10.0), metadata=meta)
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert [lay.name for lay in layers] == ["confocal ch0", "confocal ch1"]
    for c, layer in enumerate(layers):
        np.testing.assert_array_equal(layer.data, data[:, c])
        assert tuple(layer.scale) == pytest.approx((0.3, 0.1, 0.1))
        assert tuple(layer.axis_labels) == ("z", "y", "x") and _units(layer) == ("micrometer",) * 3


def test_tzcyx_and_ome_stacks(viewer, tmp_path):
    hyper = tmp_path / "hyper.tif"
    tifffile.imwrite(hyper, np.zeros((3, 4, 2, 16, 16), np.uint16), imagej=True, metadata={"axes": "TZCYX"})
    layers = viewer.open(str(hyper), plugin=PLUGIN)
    assert len(layers) == 2 and layers[0].data.shape == (3, 4, 16, 16)
    assert tuple(layers[0].axis_labels) == ("t", "z", "y", "x")
    ome = tmp_path / "cells.ome.tif"
    meta = {"axes": "ZCYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 0.5}
    tifffile.imwrite(ome, np.zeros((3, 2, 16, 16), np.uint16), ome=True, metadata=meta)
    layers = viewer.open(str(ome), plugin=PLUGIN)
    assert len(layers) == 2 and tuple(layers[1].scale) == pytest.approx((0.5, 0.2, 0.2))


def test_claims_only_what_it_reads(tmp_path):
    fake = tmp_path / "fake.tif"
    fake.write_bytes(b"not a tiff at all")
    assert get_reader(str(fake)) is None
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((8, 8), np.uint8), compression="lzw")
    assert get_reader(str(plain)) is not None


def test_shape_only_yxc_and_multi_series(viewer, tmp_path):
    yxc = tmp_path / "yxc.tif"
    tifffile.imwrite(yxc, np.zeros((64, 64, 8), np.float32))
    layers = viewer.open(str(yxc), plugin=PLUGIN)
    assert len(layers) == 8 and layers[0].data.shape == (64, 64)
    assert "8 channels" in layers[0].metadata["notes"][0]
    multi = tmp_path / "multi.tif"
    with tifffile.TiffWriter(multi) as writer:
        writer.write(np.zeros((32, 32), np.uint8))
        writer.write(np.ones((16, 24), np.uint8))
    layers = viewer.open(str(multi), plugin=PLUGIN)
    assert [lay.data.shape for lay in layers] == [(32, 32), (16, 24)]


def test_reopens_a_file_saved_by_napari_builtins(viewer, tmp_path):
    """Item 5: the builtin writer's file was refused by the plugin's reader."""
    viewer.add_image(np.zeros((16, 16), np.float32), name="result", scale=(0.1, 0.1))
    path = tmp_path / "saved.tif"
    viewer.layers.save(str(path), plugin="napari")
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer.data.shape == (16, 16)


def test_writer_converts_units_and_ignores_pixel_scales(tmp_path):
    from napari_selfdiff._napari.io import write_image
    from napari_selfdiff.io.tiff import read_tiff

    data = np.zeros((16, 16), np.float32)
    write_image(str(tmp_path / "nm.tif"), data, {"scale": (100.0, 100.0), "units": ("nanometer",) * 2})
    assert read_tiff(tmp_path / "nm.tif").pixel_size == pytest.approx((0.1, 0.1))
    write_image(str(tmp_path / "px.tif"), data, {"scale": (0.5, 0.5), "units": ("pixel",) * 2})
    assert read_tiff(tmp_path / "px.tif").pixel_size is None  # a scale in pixels is no pixel size
