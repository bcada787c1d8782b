"""Every image series of a TIFF with its own axes, for viewers (napari's reader).

:func:`~napari_selfdiff.io.tiff.read_tiff` maps one image onto the package's array contract
(YX, YXC, ZYX, ZYXC) for the solvers; a viewer wants the file as it is: every series, every
axis (T, Z, C, Y, X), the physical size of each axis. This module reads that, and inspects a
file without decoding it whole, so a reader can claim only files it will read.

A shape-only file taken as (Y, X, C) (:func:`~napari_selfdiff.io.tiff.series_axes`) is said
in the series' notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import MAX_BYTES
from napari_selfdiff.io.tiff import MAX_CHANNELS, file_provenance, file_sizes, series_axes

__all__ = ["MAX_CHANNELS", "TiffSeries", "inspect_tiff", "read_tiff_series", "series_axes"]


@dataclass
class TiffSeries:
    """One image series: ``data`` with ``axes`` (tifffile letters, singleton axes dropped).

    ``sizes`` maps "Z", "Y", "X" to micrometres where the file says; ``notes`` are what the
    reading assumed, in words.
    """

    data: np.ndarray
    axes: str
    sizes: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _sizes(tif: tifffile.TiffFile) -> dict[str, float]:
    pixel, z = file_sizes(tif)
    sizes = {"Y": pixel[0], "X": pixel[1]} if pixel is not None else {}
    if z:
        sizes["Z"] = z
    return sizes


def inspect_tiff(path: str | Path, *, max_bytes: int = MAX_BYTES) -> list[tuple[tuple[int, ...], str]]:
    """Shape and axes of every series, after decoding the first page only (codec check).

    Raises
    ------
    InputError
        Not a TIFF tifffile can decode, no image series, or more than ``max_bytes`` declared.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            found = []
            for series in tif.series:
                declared = math.prod(series.shape) * np.dtype(series.dtype).itemsize
                if declared > max_bytes:
                    raise InputError(f"{Path(path).name}: series of {declared / 1024**3:.1f} GiB")
                found.append((tuple(series.shape), series_axes(series, _first(tif.shaped_metadata))[0]))
            if not found:
                raise InputError(f"{Path(path).name} holds no image")
            tif.pages[0].asarray()  # the codec is there and the first page decodes
            return found
    except InputError:
        raise
    except Exception as error:  # tifffile and its codecs raise many kinds
        raise InputError(f"{Path(path).name} is not a readable TIFF file ({error})") from error


def _first(shaped: Any) -> dict | None:
    return shaped[0] if shaped else None


def read_tiff_series(path: str | Path, *, max_bytes: int = MAX_BYTES) -> list[TiffSeries]:
    """Every image series of the TIFF at ``path``, with its axes, physical sizes and provenance.

    Raises
    ------
    InputError
        As :func:`inspect_tiff`, or a series that does not decode.
    """
    inspect_tiff(path, max_bytes=max_bytes)
    try:
        with tifffile.TiffFile(path) as tif:
            sizes, provenance = _sizes(tif), file_provenance(tif)
            shaped = tif.shaped_metadata or ()
            found = []
            for index, series in enumerate(tif.series):
                axes, note = series_axes(series, shaped[index] if index < len(shaped) else None)
                data = series.asarray()
                keep = [i for i, a in enumerate(axes) if data.shape[i] > 1 or a in "YX"]
                data = data.reshape([data.shape[i] for i in keep])
                axes = "".join(axes[i] for i in keep)
                found.append(TiffSeries(data, axes, dict(sizes), provenance, [note] if note else []))
            return found
    except Exception as error:  # see inspect_tiff
        raise InputError(f"{Path(path).name} could not be decoded ({error})") from error
