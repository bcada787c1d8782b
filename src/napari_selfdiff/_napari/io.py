"""Reader and writer for TIFF with pixel size and deblurring provenance.

The reader claims only TIFFs it improves on: files with a physical pixel size (ImageJ or
OME metadata; it becomes the layer scale) or with this package's provenance. For any
other file it returns None, and napari's own TIFF reader takes over.
"""

from pathlib import Path
from typing import Any

import numpy as np

from ..io.common import PROVENANCE_KEY
from ..io.tiff import read_tiff, write_tiff


def _claims(path: str) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            ij = tif.imagej_metadata or {}
            if "XResolution" in tif.pages[0].tags and (ij.get("unit") or tif.is_ome):
                return True
            return PROVENANCE_KEY in str(ij.get("Info", ""))
    except Exception:  # noqa: BLE001 - a reader must never raise for a file it cannot read
        return False


def get_reader(path: str | list[str]):
    """Return a reader for a single .tif/.tiff path this plugin improves on, else None."""
    if isinstance(path, list) or not str(path).lower().endswith((".tif", ".tiff")):
        return None
    if not _claims(str(path)):
        return None
    return read_layers


def read_layers(path: str) -> list[tuple[Any, dict, str]]:
    """Read one TIFF as an image layer with scale from its pixel size and its metadata."""
    image = read_tiff(path)
    spatial = 3 if image.axes.startswith("Z") else 2
    scale = [1.0] * spatial
    if image.pixel_size is not None:
        scale[-2:] = image.pixel_size
    if spatial == 3 and image.z_spacing:
        scale[0] = image.z_spacing
    labels = ("z", "y", "x")[-spatial:]
    kwargs = {
        "name": Path(path).stem,
        "scale": tuple(scale),
        "axis_labels": labels,
        "rgb": image.axes.endswith("C") and image.data.shape[-1] == 3,
        "metadata": {PROVENANCE_KEY: image.provenance, "source_axes": image.source_axes},
    }
    if image.pixel_size is not None:
        kwargs["units"] = ("micrometer",) * spatial
    return [(image.data, kwargs, "image")]


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write an image layer as ImageJ TIFF with its pixel size (from the scale) and provenance."""
    array = np.asarray(data)
    rgb = bool(meta.get("rgb"))
    axes = ("YXC" if array.ndim == 3 else "ZYXC") if rgb else ("YX" if array.ndim == 2 else "ZYX")
    scale = tuple(meta.get("scale") or ())
    pixel_size = tuple(scale[-2:]) if len(scale) >= 2 and scale[-2:] != (1.0, 1.0) else None
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
