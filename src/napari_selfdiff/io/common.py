"""What every image format here shares: the image-with-metadata record and safe writing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAX_BYTES", "PROVENANCE_KEY", "ImageFile", "atomic_write", "json_default"]

#: Largest uncompressed image read without ``max_bytes`` raised (decompression-bomb guard).
MAX_BYTES = 16 * 1024**3
#: Key under which this package's provenance JSON is stored (ImageJ Info, PNG text chunk).
PROVENANCE_KEY = "napari_selfdiff"


@dataclass
class ImageFile:
    """An image read from a file with what is known about it.

    ``data`` follows the package's axes contract (``axes``: YX, YXC, ZYX or ZYXC);
    ``pixel_size`` is (y, x) in micrometres and ``z_spacing`` in micrometres, None when
    the file does not say; ``provenance`` is the JSON this package wrote, if any;
    ``source_axes`` the axes as a TIFF declared them (for PNG, JPEG and BMP, Pillow's
    mode, e.g. ``"RGB"``).
    """

    data: np.ndarray
    axes: str
    pixel_size: tuple[float, float] | None = None
    z_spacing: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    source_axes: str = ""


def atomic_write(path: Path, write: Callable[[str], Any], overwrite: bool) -> None:
    """Call ``write(temporary)`` in the target folder, then move the file onto ``path``.

    A crash or a full disk never leaves a truncated output under the final name, and an
    existing file is replaced only when ``overwrite`` is true.
    """
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder {str(folder)!r} is not writable")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for NumPy scalars and arrays, tuples and sets."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)
