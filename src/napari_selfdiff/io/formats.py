"""One entry point for reading and writing images, whatever the format.

The command line and the batch runner read TIFF (with metadata, :mod:`.tiff`) and PNG,
JPEG or BMP (:mod:`.photo`), chosen by the file's suffix; they write TIFF (float32 or the
input's dtype, pixel size and provenance kept) or PNG (the input's 8/16-bit integers).
Output formats are checked before any work starts, so a long solve never ends in an
unwritable file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import MAX_BYTES, ImageFile
from napari_selfdiff.io.outputs import resolved
from napari_selfdiff.io.photo import READ_SUFFIXES, png_problem, read_photo, write_png
from napari_selfdiff.io.tiff import read_tiff, write_tiff

__all__ = [
    "INPUT_SUFFIXES",
    "check_output",
    "image_stem",
    "needs_input_dtype",
    "read_image",
    "write_image",
    "write_image_and_psf",
]

TIFF_SUFFIXES = (".tif", ".tiff")
INPUT_SUFFIXES = TIFF_SUFFIXES + READ_SUFFIXES


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def image_stem(path: str | os.PathLike) -> str:
    """File name without its image suffix (``a.ome.tif`` -> ``a``, ``b.png`` -> ``b``)."""
    name = Path(path).name
    suffix = _suffix(Path(name))
    if suffix in INPUT_SUFFIXES:
        name = name[: -len(suffix)]
    return name.removesuffix(".ome").removesuffix(".OME")


def read_image(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> ImageFile:
    """Read a TIFF, PNG, JPEG or BMP file by its suffix.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InputError
        Unknown suffix, unreadable file (whatever its decoder raised: a 6-byte TIFF, metadata
        nested too deeply), a symlink loop, or more than ``max_bytes`` of pixels.
    """
    path = Path(path)
    resolved(path)  # a symlink loop is an InputError, not a RuntimeError
    suffix = _suffix(path)
    if suffix in TIFF_SUFFIXES:
        reader = read_tiff
    elif suffix in READ_SUFFIXES:
        reader = read_photo
    else:
        raise InputError(
            f"{path.name}: unknown image format {suffix or '(no suffix)'!r}; "
            f"readable are {', '.join(INPUT_SUFFIXES)}"
        )
    try:
        return reader(path, max_bytes=max_bytes)
    except (InputError, OSError, MemoryError):
        raise
    except Exception as error:  # noqa: BLE001 - a decoder's own failure (struct.error, RecursionError, ...)
        raise InputError(
            f"{path.name} is not a readable image file ({type(error).__name__}: {error})"
        ) from None


def check_output(path: str | os.PathLike, source: ImageFile | None) -> None:
    """Raise :class:`InputError` if the result of ``source`` cannot be written to ``path``.

    TIFF takes any result. PNG takes a grey or RGB result of an 8/16-bit input, written in
    the input's dtype; ``source=None`` stands for a float array (a PSF), which needs TIFF.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in TIFF_SUFFIXES:
        return
    if suffix == ".png":
        if source is None:
            problem = "this output is a float array"
        else:
            problem = png_problem(source.axes, source.data.shape, source.data.dtype)
        if problem:
            raise InputError(f"cannot write {path.name}: {problem}; write a .tif instead")
        return
    if suffix in READ_SUFFIXES:
        raise InputError(
            f"cannot write {path.name}: {suffix} output would be lossy or limited; "
            "write a .tif (full precision, metadata) or a .png"
        )
    raise InputError(f"cannot write {path.name}: unknown suffix {suffix or '(none)'!r}; write .tif or .png")


def needs_input_dtype(path: str | os.PathLike) -> bool:
    """True when ``path``'s format stores only the input's integer dtype (PNG).

    Solve with ``keep_dtype=True`` for such outputs: the engine then rounds and clips the
    result to the input's dtype, as :func:`write_image` requires.
    """
    return _suffix(Path(path)) == ".png"


def write_image(
    path: str | os.PathLike,
    data: np.ndarray,
    source: ImageFile,
    *,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a result made from ``source`` in the format its suffix names.

    TIFF keeps ``data``'s dtype and the source's axes, pixel size and Z spacing; PNG
    needs ``data`` already in 8/16-bit integers (see :func:`needs_input_dtype`).
    """
    check_output(path, source)
    if needs_input_dtype(path):
        return write_png(path, np.asarray(data), source.axes, provenance=provenance, overwrite=overwrite)
    return write_tiff(
        path,
        data,
        axes=source.axes,
        pixel_size=source.pixel_size,
        z_spacing=source.z_spacing,
        provenance=provenance,
        overwrite=overwrite,
    )


def write_image_and_psf(
    image_path: str | os.PathLike,
    psf_path: str | os.PathLike,
    image: np.ndarray,
    psf: np.ndarray,
    source: ImageFile,
    provenance: dict[str, Any],
) -> None:
    """A blind run's image (:func:`write_image`) and PSF, both with ``provenance``.

    The PSF is a TIFF, YX or ZYX (a 3D PSF or one per plane), at the source's pixel size and z
    spacing. Existing files are replaced: the callers write to an output plan's temporaries.
    """
    write_image(image_path, image, source, provenance=provenance, overwrite=True)
    stacked = psf.ndim == 3
    write_tiff(
        psf_path,
        psf,
        axes="ZYX" if stacked else "YX",
        pixel_size=source.pixel_size,
        z_spacing=source.z_spacing if stacked else None,
        provenance=provenance,
        overwrite=True,
    )
