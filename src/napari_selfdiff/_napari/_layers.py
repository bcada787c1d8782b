"""Conversions between napari layers and the engine's plain arrays."""

import numpy as np
from napari.layers import Image

from napari_selfdiff.errors import InputError


def layer_axes(layer: Image) -> str:
    """The engine's axes string for an image layer (YX, YXC or ZYX)."""
    ndim = layer.data.ndim
    if layer.rgb:
        if layer.data.shape[-1] == 4:
            raise InputError(f"layer {layer.name!r} is RGBA: deblurring needs RGB or grayscale")
        return "YXC" if ndim == 3 else "ZYXC"
    if ndim == 2:
        return "YX"
    if ndim == 3:
        return "ZYX"
    raise InputError(
        f"layer {layer.name!r} has {ndim} dimensions {layer.data.shape}: select a 2D image or a "
        "(Z, Y, X) stack (e.g. with Layers > Split Stack)"
    )


def layer_array(layer: Image) -> np.ndarray:
    """The layer's pixels as a NumPy array (the layer itself is never modified)."""
    if layer.multiscale:
        return np.asarray(layer.data[0])
    return np.asarray(layer.data)


def spatial_properties(layer: Image, ndim: int | None = None) -> dict:
    """Scale, translate, units and axis labels of ``layer`` for a result with ``ndim`` axes.

    Every layer the plugin adds carries them: a layer without the source's units makes napari
    drop units for the whole canvas ("Inconsistent units across layers"), and with the
    plugin's reader's micrometre stacks that state crashed vispy (issue #29, item 1).
    """
    ndim = layer.ndim if ndim is None else ndim
    properties = {
        "scale": tuple(layer.scale)[-ndim:],
        "translate": tuple(layer.translate)[-ndim:],
        "units": tuple(str(unit) for unit in layer.units)[-ndim:],
    }
    labels = tuple(layer.axis_labels)[-ndim:]
    if len(labels) == ndim:
        properties["axis_labels"] = labels
    return properties


def beside(layer: Image, ndim: int, row: int = 0) -> dict:
    """Spatial properties placing a small ``ndim``-axis layer right of ``layer``, never over it.

    Same pixel scale and units as the image (a PSF is then seen at the image's sampling);
    ``row`` stacks several such layers downwards. The offset is in world units.
    """
    properties = spatial_properties(layer, ndim)
    extent = np.asarray(layer.extent.world)  # (2, layer.ndim): min and max corners
    scale = properties["scale"]
    translate = list(properties["translate"])
    translate[-1] = float(extent[1, -1]) + 4 * scale[-1]
    translate[-2] = float(extent[0, -2]) + row * 40 * scale[-2]
    properties["translate"] = tuple(translate)
    return properties


def contrast_limits(data: np.ndarray) -> tuple[float, float]:
    """Contrast limits from the data (1st and 99.9th percentile, never a zero-width range)."""
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [0.1, 99.9])
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    return float(low), float(high if high > low else low + 1.0)


def add_result_layer(viewer, layer: Image, result, suffix: str) -> dict:
    """Add ``result.image`` as ``"<layer> <suffix>"`` with the input's geometry; return the metadata."""
    metadata = {"napari_selfdiff": {**result.metadata(), "source_layer": layer.name}}
    viewer.add_image(
        result.image,
        name=f"{layer.name} {suffix}",
        rgb=layer.rgb,
        contrast_limits=contrast_limits(result.image),
        metadata=metadata,
        **spatial_properties(layer),
    )
    return metadata
