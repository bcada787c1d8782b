"""The region of an image layer a preview runs on: a Shapes rectangle, or the centre of the view."""

import numpy as np
from napari.layers import Image, Shapes

#: Side of the region taken around the centre of the view when no rectangle is drawn (pixels).
VIEW_SIDE = 256
#: Planes of a stack a preview runs on, around the plane shown.
PREVIEW_PLANES = 3


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def _rectangle(viewer) -> np.ndarray | None:
    """World corners (N, ndim) of the selected, else the last, rectangle of the top Shapes layer."""
    for layer in reversed(list(viewer.layers)):
        if isinstance(layer, Shapes) and len(layer.data):
            chosen = sorted(layer.selected_data) or [len(layer.data) - 1]
            vertices = np.asarray(layer.data[chosen[0]], dtype=float)
            return np.array([layer.data_to_world(v) for v in vertices])
    return None


def region(viewer, layer: Image) -> tuple[tuple[slice, ...], str]:
    """Index of ``layer``'s data to preview on, and where it came from in words.

    The region is the bounding box of a Shapes rectangle (in world coordinates, so any scale
    or translate works), or a :data:`VIEW_SIDE` square around the centre of the view; for a
    stack, :data:`PREVIEW_PLANES` planes around the one shown.
    """
    data_shape = layer.data.shape[:-1] if layer.rgb else layer.data.shape
    spatial = len(data_shape)
    corners = _rectangle(viewer)
    if corners is not None:
        points = np.array([layer.world_to_data(c[-spatial:]) for c in corners])
        low, high = np.round(points.min(0)), np.round(points.max(0))
        where = "the drawn rectangle"
    else:
        centre = np.asarray(layer.world_to_data(camera(viewer).center[-spatial:]))
        low, high = centre - VIEW_SIDE / 2, centre + VIEW_SIDE / 2
        where = f"a {VIEW_SIDE} x {VIEW_SIDE} region at the centre of the view"
    index = []
    for axis in (-2, -1):
        start = int(np.clip(low[axis], 0, data_shape[axis]))
        stop = int(np.clip(high[axis], start, data_shape[axis]))
        index.append(slice(start, stop))
    if spatial == 3:
        shown = int(np.clip(layer.world_to_data(viewer.dims.point[-3:])[0], 0, data_shape[0] - 1))
        first = int(np.clip(shown - PREVIEW_PLANES // 2, 0, max(data_shape[0] - PREVIEW_PLANES, 0)))
        index.insert(0, slice(first, min(first + PREVIEW_PLANES, data_shape[0])))
        where += f", planes {first + 1}-{index[0].stop}"
    return tuple(index), where


def offset_translate(layer: Image, index: tuple[slice, ...], ndim: int) -> tuple[float, ...]:
    """World translate of the region ``index`` of ``layer`` (its top-left corner)."""
    translate = np.asarray(layer.translate, dtype=float)[-ndim:]
    scale = np.asarray(layer.scale, dtype=float)[-ndim:]
    starts = np.array([s.start for s in index], dtype=float)[-ndim:]
    return tuple(translate + starts * scale)
