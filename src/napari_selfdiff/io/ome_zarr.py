"""OME-Zarr (NGFF 0.4) read lazily and written plane by plane with its multiscale pyramid.

Storage is :mod:`zarr` (the maintained library; Zarr format 2, which NGFF 0.4 specifies and
which napari-ome-zarr, Fiji/MoBIE and ome-zarr-py read). The metadata is the NGFF
``multiscales`` attribute: the axes (``t``, ``c``, ``z``, ``y``, ``x`` with their types and
micrometre units), one dataset per resolution level with its ``scale`` transformation (the
voxel size, doubled in y and x at each level) and the downsampling type (``mean``). The
ome-zarr-py package was not used: its releases that support Zarr 3 pin dask or fsspec
versions incompatible with this project's constraints.

Reference: Moore et al., "OME-NGFF: a next-generation file format for expanding bioimaging
data-access strategies", Nature Methods 18, 1496 (2021), doi:10.1038/s41592-021-01326-w;
https://ngff.openmicroscopy.org/0.4/
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import PROVENANCE_KEY, json_default
from napari_selfdiff.io.lazy import FIVE_AXES, AxesView, LazyImage

__all__ = ["OmeZarrWriter", "open_levels", "read_ome_zarr"]

#: Levels stop once the smaller lateral side would fall below this many pixels.
SMALLEST_LEVEL = 256
_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_UNITS = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "meter": 1e6}


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise ImportError(
            "OME-Zarr needs the zarr package, which is not installed: pip install 'napari-selfdiff[zarr]'"
        ) from None
    return zarr


def open_levels(path: str | os.PathLike) -> tuple[list[Any], str, dict[str, float], dict[str, Any]]:
    """The resolution levels of an OME-Zarr image (lazy Zarr arrays, finest first) and its metadata.

    Returns the levels, their axes (letters of ``"TCZYX"``, in the stored order), the size of
    each axis at the finest level (micrometres for z, y, x; 1 for t and c) and this package's
    provenance ({} when absent).

    Raises
    ------
    InputError
        The folder is not an OME-Zarr image (no ``multiscales`` metadata) or its axes are not
        among t, c, z, y, x.
    """
    zarr = _zarr()
    path = Path(path)
    try:
        group = zarr.open_group(str(path), mode="r")
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"{path.name} is not a readable Zarr folder ({error})") from error
    attrs = dict(group.attrs)
    attrs = attrs.get("ome", attrs)  # NGFF 0.5 keeps its metadata under "ome"
    if not attrs.get("multiscales"):
        raise InputError(f"{path.name} has no OME-NGFF 'multiscales' metadata: not an OME-Zarr image")
    multiscale = attrs["multiscales"][0]
    levels = [group[d["path"]] for d in multiscale["datasets"]]
    names = [a["name"] if isinstance(a, dict) else a for a in multiscale.get("axes", [])]
    if not names:  # NGFF 0.1-0.3: always t, c, z, y, x
        names = list("tczyx")[-levels[0].ndim :]
    axes = "".join(n.upper() for n in names)
    if any(a not in FIVE_AXES for a in axes) or len(axes) != levels[0].ndim:
        raise InputError(f"{path.name}: OME-Zarr axes {names} cannot be mapped onto t, c, z, y, x")
    dataset = multiscale["datasets"][0]
    scale = next(
        (t["scale"] for t in dataset.get("coordinateTransformations", []) if t.get("type") == "scale"),
        [1.0] * len(axes),
    )
    units = {
        (a["name"] if isinstance(a, dict) else a).upper(): _UNITS.get(a.get("unit", "micrometer"), 1.0)
        for a in multiscale.get("axes", [])
        if isinstance(a, dict)
    }
    sizes = {a: float(s) * units.get(a, 1.0) for a, s in zip(axes, scale, strict=True)}
    provenance = dict(group.attrs).get(PROVENANCE_KEY, {})
    return levels, axes, sizes, provenance if isinstance(provenance, dict) else {}


def read_ome_zarr(path: str | os.PathLike) -> LazyImage:
    """The full-resolution level of an OME-Zarr image, lazily, with its axes and voxel size.

    Raises
    ------
    InputError
        As :func:`open_levels`.
    """
    levels, axes, sizes, provenance = open_levels(path)
    pixel_size = (sizes["Y"], sizes["X"])
    present = "".join(a for a in FIVE_AXES if a in axes)
    return LazyImage(AxesView(levels[0], axes), present, pixel_size, sizes.get("Z"), provenance, str(path))


class OmeZarrWriter:
    """An OME-Zarr image written plane by plane, in (T, C, Z) order, then its pyramid.

    The image goes to a temporary folder beside ``path``; :meth:`commit` writes the lower
    resolution levels (each the 2 x 2 mean of the one above, plane by plane) and the
    metadata, then moves the folder into place; :meth:`abort` removes it.

    Parameters
    ----------
    path : path-like
        The ``.zarr`` folder to create.
    shape : tuple of int
        (T, C, Z, Y, X) of the image.
    axes : str
        Which of ``"TCZYX"`` the image has (the others, of length 1, are not stored).
    dtype : numpy.dtype
        Stored data type.
    pixel_size : tuple of float, optional
        (y, x) in micrometres.
    z_spacing : float, optional
        Z step in micrometres.
    provenance : dict, optional
        Stored as the group's ``napari_selfdiff`` attribute.
    overwrite : bool
        Replace an existing folder at ``path`` (when committing).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape: tuple[int, ...],
        axes: str,
        dtype: Any,
        *,
        pixel_size: tuple[float, float] | None = None,
        z_spacing: float | None = None,
        provenance: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        zarr = _zarr()
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"{str(self.path)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
        self.axes = "".join(a for a in FIVE_AXES if a in axes or a in "YX")
        self.shape5 = tuple(int(s) for s in shape)
        self.stored = tuple(s for a, s in zip(FIVE_AXES, self.shape5, strict=True) if a in self.axes)
        self.dtype = np.dtype(dtype)
        self.pixel_size, self.z_spacing = pixel_size, z_spacing
        self.overwrite = overwrite
        folder = self.path.parent if str(self.path.parent) else Path(".")
        self.temporary = Path(tempfile.mkdtemp(prefix=f".{self.path.stem}.", suffix=".part.zarr", dir=folder))
        self.group = zarr.open_group(str(self.temporary), mode="w", zarr_format=2)
        if provenance:
            import json

            self.group.attrs[PROVENANCE_KEY] = json.loads(json.dumps(provenance, default=json_default))
        self.levels = [self._level(0)]
        self.count = 0

    def _level(self, level: int) -> Any:
        lateral = [max(1, s // 2**level) for s in self.stored[-2:]]
        shape = (*self.stored[:-2], *lateral)
        chunks = (*(1,) * (len(shape) - 2), *(min(s, 1024) for s in lateral))
        return self.group.create_array(str(level), shape=shape, chunks=chunks, dtype=self.dtype, fill_value=0)

    def _index(self, flat: int) -> tuple[int, ...]:
        t, c, z = np.unravel_index(flat, self.shape5[:3])
        by_axis = {"T": t, "C": c, "Z": z}
        return tuple(int(by_axis[a]) for a in self.axes if a in by_axis)

    def write(self, plane: np.ndarray) -> None:
        """Store the next (Y, X) plane, in (T, C, Z) order."""
        self.levels[0][self._index(self.count)] = np.asarray(plane, self.dtype)
        self.count += 1

    def commit(self) -> Path:
        """Write the pyramid and the metadata, move the image into place; return its path."""
        planes = int(np.prod(self.shape5[:3]))
        if self.count != planes:
            raise RuntimeError(f"{self.count} of {planes} planes were written")
        level = 1
        while min(self.stored[-2:]) // 2**level >= SMALLEST_LEVEL:
            above, array = self.levels[-1], self._level(level)
            for flat in range(planes):
                index = self._index(flat)
                plane = np.asarray(above[index], np.float64)
                h, w = (plane.shape[0] // 2) * 2, (plane.shape[1] // 2) * 2
                mean = plane[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
                if np.issubdtype(self.dtype, np.integer):
                    mean = np.rint(mean)
                array[index] = mean.astype(self.dtype)
            self.levels.append(array)
            level += 1
        self.group.attrs["multiscales"] = [self._multiscales()]
        if self.path.exists():
            shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
        os.replace(self.temporary, self.path)
        return self.path

    def _multiscales(self) -> dict[str, Any]:
        sizes = {"T": 1.0, "C": 1.0, "Z": self.z_spacing or 1.0}
        if self.pixel_size is not None:
            sizes.update(Y=float(self.pixel_size[0]), X=float(self.pixel_size[1]))
        axes = []
        for a in self.axes:
            entry = {"name": a.lower(), "type": _TYPES[a.lower()]}
            if _TYPES[a.lower()] == "space":
                entry["unit"] = "micrometer"
            axes.append(entry)
        datasets = []
        for level in range(len(self.levels)):
            scale = [sizes.get(a, 1.0) * (2**level if a in "YX" else 1) for a in self.axes]
            datasets.append(
                {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
            )
        return {"version": "0.4", "name": self.path.stem, "axes": axes, "datasets": datasets, "type": "mean"}

    def abort(self) -> None:
        """Remove the temporary folder; nothing is left at ``path``."""
        shutil.rmtree(self.temporary, ignore_errors=True)
