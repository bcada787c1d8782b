"""PNG, JPEG and BMP in (and PNG out) with Pillow.

Photographs and benchmark images (the Levin set, SelfDeblur's real blurred photos) come as
8-bit PNG or JPEG. Reading maps them onto the axes contract: grey -> ``YX``, colour ->
``YXC`` with C = 3. Palette and other colour modes become RGB; an alpha channel is not
an image channel, so it is dropped (with a warning when it is not fully opaque); the
EXIF orientation of camera JPEGs is applied, so the array is the picture as viewers
show it. Pillow's own decompression-bomb guard stays on.

Writing is PNG only: it is lossless, holds the input's 8- or 16-bit grey or 8-bit colour
values, and keeps the provenance JSON in a compressed text chunk under
:data:`~.common.PROVENANCE_KEY`. JPEG output would add compression artefacts to a
deconvolution result, and float results need TIFF.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import (
    MAX_BYTES,
    PROVENANCE_KEY,
    ImageFile,
    atomic_write,
    json_default,
    load_json,
)

__all__ = ["READ_SUFFIXES", "png_problem", "read_photo", "write_png"]

READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Bytes per sample of the Pillow modes that are not 8-bit.
_WIDE_MODES = {"I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "I": 4, "F": 4}
_KEEP_MODES = ("L", "RGB", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def read_photo(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> ImageFile:
    """Read a PNG, JPEG or BMP file, checking its declared size before decoding.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InputError
        The file is not a readable image or declares more than ``max_bytes`` of pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            declared = width * height * len(opened.getbands()) * _WIDE_MODES.get(opened.mode, 1)
            if declared > max_bytes:
                raise InputError(
                    f"{path.name} declares a {width} x {height} {opened.mode} image "
                    f"({declared / 1024**3:.1f} GiB), over the {max_bytes / 1024**3:.1f} GiB limit: "
                    "refusing to read it (raise max_bytes if the file is genuine)"
                )
            source_mode = opened.mode
            text = opened.info.get(PROVENANCE_KEY)
            picture = ImageOps.exif_transpose(opened)
            data = _plain_array(picture, path.name)
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{path.name} is not a readable image file ({error})") from error
    provenance: dict[str, Any] = {}
    if text:
        try:
            provenance = load_json(text)
        except ValueError:  # not JSON, or nested too deeply
            provenance = {}
        if not isinstance(provenance, dict):
            provenance = {}
    axes = "YXC" if data.ndim == 3 else "YX"
    return ImageFile(data, axes, provenance=provenance, source_axes=source_mode)


def _plain_array(picture: Any, name: str) -> np.ndarray:
    """Grey (Y, X) or RGB (Y, X, 3) array of a Pillow image; alpha dropped."""
    mode = picture.mode
    if mode == "1":
        picture = picture.convert("L")
    elif mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in picture.info):
        grey = mode in ("LA", "La")
        picture = picture.convert("LA" if grey else "RGBA")
        array = np.asarray(picture)
        if array[..., -1].min() < 255:
            warnings.warn(
                f"{name}: the alpha channel is not deblurred; transparent pixels are used with "
                "the colour values they store",
                UserWarning,
                stacklevel=4,
            )
        return array[..., 0] if grey else array[..., :3]
    elif mode not in _KEEP_MODES:
        picture = picture.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV
    return np.asarray(picture)


def png_problem(axes: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Why an image of these axes, shape and dtype cannot be written as PNG, or None."""
    dtype = np.dtype(dtype)
    if axes not in ("YX", "YXC") or (axes == "YXC" and shape[-1] != 3):
        return f"PNG holds one grey or RGB picture, not axes {axes} of shape {shape}"
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        return f"PNG holds 8- or 16-bit integers, and the input is {dtype}"
    if axes == "YXC" and dtype == np.uint16:
        return "16-bit colour PNG cannot be written by Pillow"
    return None


def write_png(
    path: str | os.PathLike,
    data: np.ndarray,
    axes: str,
    *,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an 8/16-bit grey or 8-bit RGB array as PNG atomically; return the path.

    ``provenance`` is stored as JSON in a compressed (zTXt) chunk.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    data = np.ascontiguousarray(data)
    problem = png_problem(axes, data.shape, data.dtype)
    if problem:
        raise InputError(f"cannot write {path.name}: {problem}; write a .tif instead")
    info = PngInfo()
    if provenance:
        info.add_text(PROVENANCE_KEY, json.dumps(provenance, default=json_default), zip=True)
    picture = Image.fromarray(data)
    atomic_write(path, lambda target: picture.save(target, format="PNG", pnginfo=info), overwrite)
    return path
