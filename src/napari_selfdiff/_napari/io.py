"""Reader and writer for TIFF with pixel size and deblurring provenance.

The reader claims a TIFF only after inspecting it (its series, their size, and the first page
decoded), so it never fails on a file it accepted. It reads every series and every axis: a
channel axis becomes one layer per channel (napari's ``channel_axis``), Z/Y/X take their size in
micrometres from ImageJ or OME metadata (units and axis labels with them), T and the rest
scale 1. The writer writes an image layer as an ImageJ TIFF with its pixel size and provenance.
"""

from pathlib import Path
from typing import Any

import numpy as np
from napari.utils.notifications import show_info

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import PROVENANCE_KEY
from napari_selfdiff.io.tiff import write_tiff
from napari_selfdiff.io.tiff_series import TiffSeries, inspect_tiff, read_tiff_series

#: napari unit names -> micrometres.
_TO_UM = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "meter": 1e6}


def get_reader(path: str | list[str]):
    """Return a reader for a single .tif/.tiff path this plugin can read, else None."""
    if isinstance(path, list) or not str(path).lower().endswith((".tif", ".tiff")):
        return None
    try:
        inspect_tiff(str(path))
    except (InputError, OSError):
        return None
    return read_layers


def _layer(series: TiffSeries, name: str, source_axes: str) -> tuple[Any, dict, str]:
    data, axes = series.data, series.axes
    rgb = axes.endswith("S") and data.shape[-1] in (3, 4)
    channel = next((i for i, a in enumerate(axes) if a in "CS" and not rgb), None)
    spatial = [a for i, a in enumerate(axes) if i != channel and not (rgb and i == data.ndim - 1)]
    known = all(a in series.sizes for a in spatial if a in "YX")
    kwargs: dict[str, Any] = {
        "scale": tuple(series.sizes.get(a, 1.0) if known else 1.0 for a in spatial),
        "axis_labels": tuple(a.lower() for a in spatial),
        "units": tuple("micrometer" if known and a in "ZYX" else "pixel" for a in spatial),
        "rgb": rgb,
        "metadata": {PROVENANCE_KEY: series.provenance, "source_axes": source_axes, "notes": series.notes},
    }
    if channel is not None:
        kwargs["channel_axis"] = channel
        kwargs["name"] = [f"{name} ch{c}" for c in range(data.shape[channel])]
    else:
        kwargs["name"] = name
    return data, kwargs, "image"


def read_layers(path: str) -> list[tuple[Any, dict, str]]:
    """Read one TIFF: a layer per series (per channel with a channel axis), sizes in micrometres."""
    try:
        found = read_tiff_series(path)
    except InputError as error:  # inspected before claiming; a late failure is said, not raised
        show_info(f"napari-selfdiff: {error}")
        return []
    stem = Path(path).stem
    layers = []
    for index, series in enumerate(found):
        name = stem if len(found) == 1 else f"{stem} series {index}"
        for note in series.notes:
            show_info(f"napari-selfdiff: {Path(path).name}: {note}")
        layers.append(_layer(series, name, series.axes))
    return layers


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write an image layer as ImageJ TIFF with its pixel size (from the scale) and provenance."""
    array = np.asarray(data)
    rgb = bool(meta.get("rgb"))
    axes = ("YXC" if array.ndim == 3 else "ZYXC") if rgb else ("YX" if array.ndim == 2 else "ZYX")
    # The layer's scale in micrometres (units converted; a scale in pixels is no pixel size).
    units = [str(unit) for unit in meta.get("units") or ()]
    scale = [float(v) for v in meta.get("scale") or ()]
    if units and len(units) == len(scale):
        scale = [v * _TO_UM[u] if u in _TO_UM else 1.0 for v, u in zip(scale, units, strict=True)]
    pixel_size = tuple(scale[-2:]) if len(scale) >= 2 and scale[-2:] != [1.0, 1.0] else None
    z_spacing = scale[-3] if axes.startswith("Z") and len(scale) >= 3 and scale[-3] != 1.0 else None
    provenance = (meta.get("metadata") or {}).get(PROVENANCE_KEY) or {}
    written = write_tiff(
        path,
        array,
        axes=axes,
        pixel_size=pixel_size,
        z_spacing=z_spacing,
        provenance=provenance,
        overwrite=True,
    )
    return [str(written)]
