"""TIFF reading: compressed files, several series, shape-only (Y, X, C) (#28 items 6 and 13)."""

import numpy as np
import pytest
import tifffile

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.tiff import read_tiff
from napari_selfdiff.io.tiff_series import inspect_tiff, read_tiff_series


@pytest.mark.parametrize("compression", ["lzw", "jpeg", "zlib"])
def test_compressed_tiffs_read(tmp_path, compression):
    data = (np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32)
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, data, compression=compression)
    image = read_tiff(path)
    assert image.data.shape == (32, 32) and image.axes == "YX"
    if compression != "jpeg":  # lossy
        np.testing.assert_array_equal(image.data, data)


def test_several_series_are_refused_with_the_series_listed(tmp_path):
    path = tmp_path / "multi.tif"
    with tifffile.TiffWriter(path) as writer:
        writer.write(np.zeros((32, 32), np.uint8))
        writer.write(np.zeros((16, 24), np.uint8))
    with pytest.raises(InputError, match=r"2 image series.*#0: \(32, 32\) YX; #1: \(16, 24\) YX"):
        read_tiff(path)
    assert [s.data.shape for s in read_tiff_series(path)] == [(32, 32), (16, 24)]


def test_shape_only_yxc_with_eight_channels_is_not_a_stack(tmp_path, caplog):
    path = tmp_path / "yxc.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((64, 64, 8)).astype(np.float32))
    image = read_tiff(path)
    assert image.axes == "YXC" and image.data.shape == (64, 64, 8)
    assert "8 channels" in caplog.text
    (series,) = read_tiff_series(path)
    assert series.axes == "YXC" and "8 channels" in series.notes[0]
    stack = tmp_path / "zyx.tif"  # a plain (Z, Y, X) stack stays one
    tifffile.imwrite(stack, np.zeros((6, 32, 32), np.uint16))
    assert read_tiff(stack).axes == "ZYX"


def test_inspect_refuses_what_it_cannot_read(tmp_path):
    fake = tmp_path / "fake.tif"
    fake.write_bytes(b"II*\x00\x08")
    with pytest.raises(InputError, match="not a readable TIFF"):
        inspect_tiff(fake)
