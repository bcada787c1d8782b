"""TIFF in and out with tifffile, keeping axes, pixel size and provenance.

Reading understands ImageJ hyperstacks (``spacing``, ``unit``, resolution tags), OME-TIFF
(``PhysicalSizeX/Y/Z``) and plain TIFFs. Axes are mapped onto the package's contract:
``YX``, ``YXC`` (RGB samples or a small channel axis), ``ZYX`` (any single extra axis:
pages, Z, T) and ``ZYXC``. Writing is atomic (temporary file in the target folder, then
``os.replace``), never overwrites unless asked, and stores the provenance JSON (config,
seed, device, history) in the ImageJ ``Info`` field, which ImageJ/Fiji show as
"Show Info".
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import (
    MAX_BYTES,
    PROVENANCE_KEY,
    ImageFile,
    atomic_write,
    json_default,
    load_json,
)

__all__ = ["MAX_CHANNELS", "file_provenance", "file_sizes", "read_tiff", "series_axes", "write_tiff"]

logger = logging.getLogger(__name__)

#: Longest last axis of a shape-only TIFF still taken as channels rather than image columns.
MAX_CHANNELS = 16

_UM = {
    "um": 1.0,
    "µm": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "\\u00b5m": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
}


def _map_axes(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """Squeeze singleton axes and map tifffile's axes onto YX / YXC / ZYX / ZYXC."""
    keep = [i for i, a in enumerate(axes) if data.shape[i] > 1 or a in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    channel = next((a for a in "SC" if a in axes), None)
    if channel is not None:
        data = np.moveaxis(data, axes.index(channel), -1)
        axes = axes.replace(channel, "") + "C"
    others = [a for a in axes if a not in "YXC"]
    if len(others) > 1:
        raise InputError(
            f"the TIFF has axes {axes!r} (shape {data.shape}): more than one of Z/T/pages is not "
            "supported; save one time point or position per file"
        )
    if others:
        axes = axes.replace(others[0], "Z")
    if axes not in ("YX", "YXC", "ZYX", "ZYXC"):
        raise InputError(f"unsupported TIFF axes {axes!r} (shape {data.shape})")
    return data, axes


def series_axes(series: Any, shaped: dict | None) -> tuple[str, str | None]:
    """The axes of ``series``, and a note when a shape-only file was taken as (Y, X, C).

    A plain TIFF written by tifffile from a (Y, X, C) array with more than 4 channels declares
    only its shape, and tifffile then sees pages of Y x C pixels. Such a file is taken as
    (Y, X, C) when its last axis is short (at most :data:`MAX_CHANNELS`) and the others at
    least four times longer: a stack of images a few pixels wide is the unlikely reading.
    """
    axes, shape = series.axes, tuple(series.shape)
    if (
        series.kind == "shaped"
        and not (shaped or {}).get("axes")
        and len(shape) == 3
        and axes[-2:] == "YX"
        and 1 < shape[-1] <= MAX_CHANNELS
        and min(shape[:2]) >= 4 * shape[-1]
    ):
        note = (
            f"the file gives only its shape {shape}: read as (Y, X, C) with {shape[-1]} channels, "
            f"not as {shape[0]} planes of {shape[1]} x {shape[2]} pixels"
        )
        return "YXC", note
    return axes, None


def _pixel_size(page: tifffile.TiffPage, unit: str | None) -> tuple[float, float] | None:
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    scale = _UM.get((unit or "").strip().lower())
    if scale is None:
        resolution_unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 2
        scale = {3: 1e4, 2: 25400.0}.get(int(resolution_unit))
        if scale is None:
            return None
    sizes = []
    for name in ("YResolution", "XResolution"):
        numerator, denominator = tags[name].value
        if numerator == 0:
            return None
        sizes.append(denominator / numerator * scale)
    if sizes == [25400.0, 25400.0] or sizes == [1e4, 1e4]:
        return None  # the 1 pixel per inch/centimetre default says nothing about the sample
    return sizes[0], sizes[1]


def _ome_sizes(xml: str) -> tuple[tuple[float, float] | None, float | None]:
    def get(name: str) -> float | None:
        match = re.search(rf'{name}="([0-9.eE+-]+)"', xml)
        if not match:
            return None
        value = float(match.group(1))
        unit = re.search(rf'{name}Unit="([^"]+)"', xml)
        return value * _UM.get(unit.group(1).lower(), 1.0) if unit else value

    x, y, z = get("PhysicalSizeX"), get("PhysicalSizeY"), get("PhysicalSizeZ")
    return ((y, x) if x and y else None), z


def file_sizes(tif: tifffile.TiffFile) -> tuple[tuple[float, float] | None, float | None]:
    """Pixel size (y, x) and z spacing in um: OME metadata first, then ImageJ's and the resolution tags."""
    ij = tif.imagej_metadata or {}
    pixel_size, z_spacing = None, None
    if tif.is_ome and tif.ome_metadata:
        pixel_size, z_spacing = _ome_sizes(tif.ome_metadata)
    if pixel_size is None:
        pixel_size = _pixel_size(tif.pages[0], ij.get("unit"))
    if z_spacing is None and "spacing" in ij:
        z_spacing = float(ij["spacing"]) * _UM.get(str(ij.get("unit", "um")).lower(), 1.0)
    return pixel_size, z_spacing


def file_provenance(tif: tifffile.TiffFile) -> dict[str, Any]:
    """The package's provenance from the ImageJ Info, or {}.

    Another program's text: bad or deeply nested JSON drops only the provenance.
    """
    info = (tif.imagej_metadata or {}).get("Info")
    try:
        return load_json(info).get(PROVENANCE_KEY, {}) if info else {}
    except (ValueError, AttributeError):
        return {}


def read_tiff(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> ImageFile:
    """Read a TIFF file, checking its declared size before loading any pixel.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InputError
        The file is not a readable TIFF, declares more than ``max_bytes`` of pixels, or has
        axes outside the supported layouts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.series) > 1:
                listed = "; ".join(f"#{i}: {s.shape} {s.axes}" for i, s in enumerate(tif.series))
                raise InputError(
                    f"{path.name} holds {len(tif.series)} image series ({listed}): deblur one series "
                    "per file (save each series on its own; napari's plugin reader opens each as a layer)"
                )
            series = tif.series[0]
            declared = math.prod(series.shape) * np.dtype(series.dtype).itemsize
            if declared > max_bytes:
                raise InputError(
                    f"{path.name} declares a {series.shape} {series.dtype} image "
                    f"({declared / 1024**3:.1f} GiB), over the {max_bytes / 1024**3:.1f} GiB limit: "
                    "refusing to read it (raise max_bytes if the file is genuine)"
                )
            data = series.asarray()
            axes, note = series_axes(series, (tif.shaped_metadata or (None,))[0])
            if note:
                logger.warning("%s: %s", path.name, note)
            pixel_size, z_spacing = file_sizes(tif)
            provenance = file_provenance(tif)
    except InputError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as error:
        raise InputError(f"{path.name} is not a readable TIFF file ({error})") from error
    mapped, our_axes = _map_axes(data, axes)
    return ImageFile(mapped, our_axes, pixel_size, z_spacing, provenance, source_axes=axes)


def write_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    axes: str | None = None,
    pixel_size: tuple[float, float] | float | None = None,
    z_spacing: float | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` as an ImageJ-compatible TIFF atomically; return the path.

    ``axes`` is one of YX, YXC, ZYX, ZYXC (inferred when None); ``pixel_size`` (y, x) and
    ``z_spacing`` are in micrometres; ``provenance`` is stored as JSON in the ImageJ Info.
    """
    from napari_selfdiff.inputs import infer_axes

    path = Path(path)
    data = np.asarray(data)
    axes = infer_axes(data.shape, axes)
    if data.dtype == np.float64:
        data = data.astype(np.float32)  # ImageJ reads float32, not float64
    imagej_axes = (
        axes.replace("C", "S")
        if data.dtype == np.uint8 and axes.endswith("C") and data.shape[-1] == 3
        else axes
    )
    if imagej_axes.endswith("C"):
        data = np.moveaxis(data, -1, -3)
        imagej_axes = imagej_axes[:-3] + "CYX"
    metadata: dict[str, Any] = {"axes": imagej_axes}
    kwargs: dict[str, Any] = {}
    if pixel_size is not None:
        py, px = (pixel_size, pixel_size) if np.isscalar(pixel_size) else pixel_size
        kwargs["resolution"] = (1.0 / float(px), 1.0 / float(py))
        metadata["unit"] = "um"
    if z_spacing is not None:
        metadata["spacing"] = float(z_spacing)
        metadata["unit"] = "um"
    if provenance:
        metadata["Info"] = json.dumps({PROVENANCE_KEY: provenance}, default=json_default)
    atomic_write(
        path,
        lambda target: tifffile.imwrite(target, data, imagej=True, metadata=metadata, **kwargs),
        overwrite,
    )
    return path
