"""What every image format here shares: the image-with-metadata record and safe writing."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_BYTES",
    "PROVENANCE_KEY",
    "ImageFile",
    "atomic_write",
    "json_default",
    "load_json",
    "new_temporary",
]

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


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_temporary(path: Path) -> Path:
    """A new empty file next to ``path`` (same suffix, so writers pick the same format).

    ``mkstemp`` creates it with mode 0600; it gets the mode an ordinary new file would
    have (``0o666 & ~umask``), so a shared folder's other users can read the output.
    """
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=folder)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())
    return Path(temporary)


def atomic_write(path: Path, write: Callable[[str], Any], overwrite: bool) -> None:
    """Call ``write(temporary)`` in the target folder, then move the file onto ``path``.

    A crash or a full disk never leaves a truncated output under the final name, and an
    existing file is replaced only when ``overwrite`` is true.
    """
    if path.is_dir():
        raise IsADirectoryError(f"output {str(path)!r} is a directory")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder {str(folder)!r} is not writable")
    temporary = new_temporary(path)
    try:
        write(str(temporary))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_json(text: str | bytes) -> Any:
    """``json.loads`` that raises ``ValueError`` for any bad text, deep nesting included.

    A 200,000-deep ``[[[...]]]`` exhausts Python's recursion limit (``RecursionError``);
    metadata and records from other programs are read through this, never ``json.loads``.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for NumPy scalars and arrays, tuples and sets."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)
