"""Large images opened without reading them: TIFF memory-mapped or by pages, OME-Zarr, arrays.

:func:`open_lazy` gives a :class:`LazyImage` whose ``data`` is a (T, C, Z, Y, X) view of the
file (axes the file lacks have length 1): slicing it reads only the pixels asked for. An
uncompressed TIFF is memory-mapped (:func:`tifffile.memmap`); a compressed or tiled one is
read through tifffile's Zarr store, chunk by chunk (one page or tile at a time); an OME-Zarr
through :mod:`napari_selfdiff.io.ome_zarr`. :func:`lazy_array` wraps an array already open
(a napari layer's Dask or Zarr array, a NumPy array) the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.errors import InputError

__all__ = ["FIVE_AXES", "AxesView", "LazyImage", "is_ome_zarr", "lazy_array", "open_lazy"]

#: The order of the axes of a :class:`LazyImage`'s data.
FIVE_AXES = "TCZYX"
#: tifffile's axis letters mapped onto ours (pages, positions and samples).
_TIFF_AXES = {"T": "T", "C": "C", "S": "C", "Z": "Z", "Y": "Y", "X": "X", "Q": "Z", "I": "Z"}


class AxesView:
    """A (T, C, Z, Y, X) view of an array whose axes are some of those letters, in any order.

    ``view[t, c, z, y, x]`` (ints or slices) indexes the source array with the key reordered
    and returns a NumPy array in (T, C, Z, Y, X) order (integer keys drop their axes), so a
    memory map or a Zarr/Dask array is read only where asked.
    """

    def __init__(self, source: Any, axes: str) -> None:
        if sorted(axes) != sorted(set(axes)) or any(a not in FIVE_AXES for a in axes):
            raise InputError(f"axes must be distinct letters of {FIVE_AXES!r}, got {axes!r}")
        if len(axes) != len(source.shape):
            raise InputError(f"axes {axes!r} do not match the array's shape {tuple(source.shape)}")
        if "Y" not in axes or "X" not in axes:
            raise InputError(f"an image needs Y and X axes, got {axes!r}")
        self.source = source
        self.axes = axes
        self.dtype = np.dtype(source.dtype)
        sizes = dict(zip(axes, source.shape, strict=True))
        self.shape = tuple(int(sizes.get(a, 1)) for a in FIVE_AXES)

    @property
    def ndim(self) -> int:
        return 5

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (5 - len(key))
        by_axis = dict(zip(FIVE_AXES, key, strict=True))
        source_key = tuple(by_axis[a] for a in self.axes)
        block = np.asarray(self.source[source_key])
        dropped = {a for a in FIVE_AXES if isinstance(by_axis[a], (int, np.integer))}
        kept = [a for a in self.axes if a not in dropped]  # the block's axes, in the source's order
        order = sorted(kept, key=FIVE_AXES.index)
        block = np.transpose(block, [kept.index(a) for a in order])
        shape = [
            block.shape[order.index(a)] if a in order else len(range(1)[by_axis[a]])
            for a in FIVE_AXES
            if a not in dropped
        ]
        return block.reshape(shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("a lazy image is not converted whole: slice it (view[t, c, z])")


@dataclass
class LazyImage:
    """An image opened lazily, with what is known about it.

    ``data``: the (T, C, Z, Y, X) :class:`AxesView`; ``axes``: the axes the file has (a
    subsequence of ``"TCZYX"``); ``pixel_size`` (y, x) and ``z_spacing`` in micrometres
    (None: unknown); ``provenance``: this package's JSON, if the file holds it; ``source``:
    the path, or a description of the array; ``keep_open``: the file a chunked reader needs
    open (:meth:`close` it, or use the image as a context manager).
    """

    data: AxesView
    axes: str
    pixel_size: tuple[float, float] | None = None
    z_spacing: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    keep_open: Any = None

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.data.shape

    def close(self) -> None:
        """Close the file held open for chunked reading (a compressed TIFF); a no-op otherwise."""
        if self.keep_open is not None:
            self.keep_open[0].close()
            self.keep_open = None

    def __enter__(self) -> LazyImage:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype


def lazy_array(array: Any, axes: str | None = None, **known: Any) -> LazyImage:
    """A :class:`LazyImage` of an open array (NumPy, memory map, Zarr, Dask).

    ``axes`` names its axes in order (letters of ``"TCZYX"``); default by its number of
    dimensions: YX, ZYX, CZYX, TCZYX. ``known``: ``pixel_size``, ``z_spacing``, ``source``.
    """
    if axes is None:
        defaults = {2: "YX", 3: "ZYX", 4: "CZYX", 5: "TCZYX"}
        if array.ndim not in defaults:
            raise InputError(f"an array of {array.ndim} dimensions needs its `axes` named")
        axes = defaults[array.ndim]
    present = "".join(a for a in FIVE_AXES if a in axes)
    return LazyImage(AxesView(array, axes), present, **known)


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr folder (its name ends in .zarr, or it holds Zarr metadata)."""
    path = Path(path)
    markers = (".zgroup", "zarr.json", ".zattrs", ".zarray")
    return path.suffix.lower() == ".zarr" or (path.is_dir() and any((path / m).exists() for m in markers))


def open_lazy(path: str | os.PathLike) -> LazyImage:
    """Open a TIFF or an OME-Zarr without reading its pixels.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    InputError
        Not a readable TIFF or OME-Zarr, or axes this package cannot map (two of Z, pages).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if is_ome_zarr(path):
        from napari_selfdiff.io.ome_zarr import read_ome_zarr

        return read_ome_zarr(path)
    return _open_tiff(path)


def _open_tiff(path: Path) -> LazyImage:
    import tifffile

    from napari_selfdiff.io.tiff import file_provenance, file_sizes

    try:
        tif = tifffile.TiffFile(path)
    except Exception as error:  # a decoder's own failure too (struct.error, RecursionError, ...)
        raise InputError(f"{path.name} is not a readable TIFF file ({error})") from error
    try:
        series = tif.series[0]
        axes = "".join(_TIFF_AXES.get(a, "?") for a in series.axes)
        if "?" in axes or len(set(axes)) != len(axes):
            raise InputError(f"{path.name}: TIFF axes {series.axes!r} cannot be mapped onto T, C, Z, Y, X")
        pixel_size, z_spacing = file_sizes(tif)
        provenance = file_provenance(tif)
        try:
            source, keep = tifffile.memmap(path, series=0, mode="r"), None
        except ValueError:  # compressed or tiled: read chunk by chunk
            import zarr

            store = series.aszarr()
            source, keep = zarr.open(store, mode="r"), (tif, store)
        if keep is None:
            tif.close()
    except BaseException:  # the file is not kept open on any failure (zarr missing, Ctrl-C)
        tif.close()
        raise
    present = "".join(a for a in FIVE_AXES if a in axes)
    return LazyImage(AxesView(source, axes), present, pixel_size, z_spacing, provenance, str(path), keep)
