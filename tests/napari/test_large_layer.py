"""The large-layer dock keeps a Dask-backed layer lazy: read in tiles, the result a lazy OME-Zarr layer."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")
da = pytest.importorskip("dask.array")

from napari_selfdiff._napari.large import LargeDeblurWidget, get_zarr_reader  # noqa: E402


class GuardedArray:
    """A NumPy array that refuses to be converted whole and records the size of every read."""

    def __init__(self, values: np.ndarray) -> None:
        self.values, self.shape, self.dtype, self.ndim = values, values.shape, values.dtype, values.ndim
        self.reads: list[int] = []

    def __getitem__(self, key):
        block = self.values[key]
        self.reads.append(block.size)
        return block

    def __array__(self, *_args, **_kwargs):
        raise AssertionError("the whole array was loaded")


def test_dask_layer_stays_lazy_and_the_result_is_a_lazy_layer(viewer, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128]
    sharp = ((np.sin(yy / 5.0) * np.cos(xx / 7.0)) > 0.3).astype(np.float32)
    stack = np.stack([sharp * 100 + 10 + rng.normal(0, 1, sharp.shape) for _ in range(3)]).astype(np.float32)
    guarded = GuardedArray(stack)
    layer = viewer.add_image(da.from_array(guarded, chunks=(1, 64, 64), asarray=False), name="big")
    widget = LargeDeblurWidget(viewer)
    widget.image.value = layer
    widget.kernel_size.value = 7
    widget.regions.value = 1
    widget.output.value = tmp_path / "out.zarr"
    reads_before = len(guarded.reads)
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    result = viewer.layers["big deblurred"]
    assert widget.status.value.startswith("done")
    assert len(guarded.reads) > reads_before  # the engine read the layer ...
    assert max(guarded.reads) <= 64 * 64  # ... chunk by chunk, never the whole stack
    data = result.data[0] if result.multiscale else result.data
    assert not isinstance(data, np.ndarray) and data.shape == stack.shape  # a lazy Zarr array
    assert (tmp_path / "out.zarr").is_dir()
    assert np.isfinite(np.asarray(data[1, 60:70, 60:70])).all()


def test_ome_zarr_reader_gives_a_lazy_layer_with_its_voxel_size(viewer, tmp_path):
    from napari_selfdiff.io.ome_zarr import OmeZarrWriter

    writer = OmeZarrWriter(tmp_path / "stack.zarr", (1, 1, 2, 600, 520), "ZYX", "uint16",
                           pixel_size=(0.1, 0.1), z_spacing=0.3)  # fmt: skip
    for plane in np.arange(2 * 600 * 520, dtype=np.uint16).reshape(2, 600, 520):
        writer.write(plane)
    writer.commit()
    assert get_zarr_reader(str(tmp_path / "missing.tif")) is None
    reader = get_zarr_reader(str(tmp_path / "stack.zarr"))
    ((data, kwargs, kind),) = reader(str(tmp_path / "stack.zarr"))
    layer = viewer.add_image(data, **kwargs)
    assert kind == "image" and layer.multiscale and len(layer.data) == 2
    assert not isinstance(layer.data[0], np.ndarray)  # Zarr arrays, read on demand
    assert tuple(layer.scale) == pytest.approx((0.3, 0.1, 0.1))
    assert layer.metadata["axes"] == "ZYX"
