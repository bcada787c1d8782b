"""Outputs written plane by plane as a run produces them: TIFF or OME-Zarr.

:func:`open_writer` returns a writer with ``write(plane)`` (the next (Y, X) plane, in
(T, C, Z) order), ``commit()`` (finish and move the output into place) and ``abort()``
(remove what was written). Nothing larger than a plane is held: the TIFF is written by
tifffile from an iterator fed through a small queue (its thread writes the pages as they
come; ImageJ hyperstack for one channel, OME-TIFF with axes TCZYX for several, since the
planes come channel by channel); the OME-Zarr by :class:`~.ome_zarr.OmeZarrWriter`.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.io.common import PROVENANCE_KEY, json_default, new_temporary
from napari_selfdiff.io.lazy import FIVE_AXES, is_ome_zarr

__all__ = ["TiffWriterStream", "open_writer"]

_DONE = object()


class TiffWriterStream:
    """A TIFF written page by page from a background thread (see module docstring).

    Parameters are those of :func:`open_writer`.
    """

    def __init__(
        self,
        path: Path,
        shape: tuple[int, ...],
        axes: str,
        dtype: Any,
        *,
        pixel_size: tuple[float, float] | None = None,
        z_spacing: float | None = None,
        provenance: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        import tifffile

        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{str(path)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
        self.path, self.dtype = path, np.dtype(dtype)
        t, c, z, y, x = shape
        self.planes = t * c * z
        self.temporary = new_temporary(path)
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.count = 0
        kwargs: dict[str, Any] = {}
        info = json.dumps({PROVENANCE_KEY: provenance}, default=json_default) if provenance else None
        if c == 1:  # ImageJ hyperstack, as write_tiff writes
            metadata: dict[str, Any] = {"axes": "TZYX"}
            if z_spacing is not None:
                metadata.update(spacing=float(z_spacing), unit="um")
            if info:
                metadata["Info"] = info
            kwargs.update(imagej=True, metadata=metadata, shape=(t, z, y, x))
            if self.dtype == np.float64:
                self.dtype = np.dtype(np.float32)
        else:
            metadata = {"axes": "TCZYX"}
            if z_spacing is not None:
                metadata.update(PhysicalSizeZ=float(z_spacing))
            if pixel_size is not None:
                metadata.update(PhysicalSizeY=float(pixel_size[0]), PhysicalSizeX=float(pixel_size[1]))
            if info:
                metadata["Description"] = info
            kwargs.update(ome=True, metadata=metadata, shape=(t, c, z, y, x))
        if pixel_size is not None:
            kwargs["resolution"] = (1.0 / float(pixel_size[1]), 1.0 / float(pixel_size[0]))
            if c == 1:
                kwargs["metadata"]["unit"] = "um"
        kwargs["bigtiff"] = self.planes * y * x * self.dtype.itemsize > 2**32 - 2**25

        def pages() -> Any:
            while (plane := self.queue.get()) is not _DONE:
                yield plane

        def run() -> None:
            try:
                tifffile.imwrite(self.temporary, pages(), dtype=self.dtype, **kwargs)
            except Exception as error:  # noqa: BLE001 - handed to the caller by write/commit
                self.error = error
                while self.queue.get() is not _DONE:  # unblock the producer
                    pass

        self.thread = threading.Thread(target=run, name="tiff-writer", daemon=True)
        self.thread.start()

    def write(self, plane: np.ndarray) -> None:
        """Queue the next (Y, X) plane (blocks while two are waiting)."""
        if self.error is not None:
            raise self.error
        self.queue.put(np.ascontiguousarray(plane, self.dtype))
        self.count += 1

    def commit(self) -> Path:
        """Wait for the last page, then move the file into place; return its path."""
        self.queue.put(_DONE)
        self.thread.join()
        if self.error is not None:
            self.temporary.unlink(missing_ok=True)
            raise self.error
        if self.count != self.planes:
            self.temporary.unlink(missing_ok=True)
            raise RuntimeError(f"{self.count} of {self.planes} planes were written")
        os.replace(self.temporary, self.path)
        return self.path

    def abort(self) -> None:
        """Stop the writer and remove the temporary file."""
        if self.thread.is_alive():
            self.error = self.error or RuntimeError("aborted")
            while self.thread.is_alive():  # feed it the end, whatever it waits for
                try:
                    self.queue.put(_DONE, timeout=0.1)
                except queue.Full:
                    continue
                self.thread.join(timeout=5)
        self.temporary.unlink(missing_ok=True)


def open_writer(
    path: str | os.PathLike,
    shape: tuple[int, int, int, int, int],
    axes: str,
    dtype: Any,
    *,
    pixel_size: tuple[float, float] | None = None,
    z_spacing: float | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Any:
    """A plane-by-plane writer of a (T, C, Z, Y, X) image to ``path`` (``.zarr``: OME-Zarr, else TIFF).

    Parameters
    ----------
    path : path-like
        Output file (``.tif``/``.tiff``) or folder (``.zarr``).
    shape : tuple of int
        (T, C, Z, Y, X) of the image.
    axes : str
        The axes the image has (letters of ``"TCZYX"``), kept in an OME-Zarr.
    dtype : numpy.dtype
        Stored type (float64 is stored as float32 in a TIFF, as ImageJ reads).
    pixel_size : tuple of float, optional
        (y, x) in micrometres.
    z_spacing : float, optional
        Z step in micrometres.
    provenance : dict, optional
        This package's record of the run (ImageJ Info, OME description or Zarr attribute).
    overwrite : bool
        Replace an existing output when committing.

    Returns
    -------
    TiffWriterStream or OmeZarrWriter
        With ``write(plane)``, ``commit()`` and ``abort()``.
    """
    path = Path(path)
    if len(shape) != 5:
        raise ValueError(f"`shape` must be (T, C, Z, Y, X), got {shape}")
    known = dict(pixel_size=pixel_size, z_spacing=z_spacing, provenance=provenance, overwrite=overwrite)
    if is_ome_zarr(path):
        from napari_selfdiff.io.ome_zarr import OmeZarrWriter

        return OmeZarrWriter(path, shape, axes, dtype, **known)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"large outputs are TIFF (.tif) or OME-Zarr (.zarr) files, got {path.name!r}")
    return TiffWriterStream(
        path, tuple(int(s) for s in shape), "".join(a for a in FIVE_AXES if a in axes), dtype, **known
    )
