"""The outputs of one run, planned before any work and committed together at its end.

:func:`plan_outputs` checks, before a solve of minutes, everything that would otherwise
fail after it: the outputs name distinct files, none is an input (never replaced, even
with ``overwrite``), none is a directory, an existing one is replaced only when asked,
the folders exist and are writable, and (:meth:`OutputPlan.check_space`) the disk holds
them. :meth:`OutputPlan.writing` then hands each writer a temporary file next to its
target; the targets are replaced only after every temporary is written, so a full disk
while writing the PSF leaves neither the PSF nor the image behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_selfdiff.errors import InputError
from napari_selfdiff.io.common import new_temporary

__all__ = ["OutputPlan", "check_writable", "output_bytes", "plan_outputs", "resolved"]

#: Free space kept on the disk beyond the outputs' estimated size (metadata, file system).
DISK_MARGIN = 16 * 1024**2


def resolved(path: str | os.PathLike) -> Path:
    """``path`` made absolute with its symlinks followed; a loop is an :class:`InputError`."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as error:  # Python < 3.13 raises RuntimeError on a loop
        raise InputError(f"{str(path)!r} cannot be resolved ({error}): a symlink loop?") from None


def output_bytes(data: Any, keep_dtype: bool) -> int:
    """Rough size of a result written for the array ``data``: float32, or its own dtype when kept."""
    return int(data.size) * (data.dtype.itemsize if keep_dtype else 4)


@dataclass(frozen=True)
class OutputPlan:
    """Checked output paths of one run; see :func:`plan_outputs`."""

    targets: tuple[Path, ...]
    overwrite: bool

    def check_space(self, nbytes: int) -> None:
        """Raise ``OSError`` if the outputs' folders have less than ``nbytes`` free (plus a margin)."""
        for folder in {target.parent for target in self.targets}:
            free = shutil.disk_usage(folder).free
            if free < nbytes + DISK_MARGIN:
                raise OSError(
                    f"not enough free disk in {str(folder)!r} for the outputs: about "
                    f"{(nbytes + DISK_MARGIN) / 1024**2:.0f} MiB needed, {free / 1024**2:.0f} MiB free"
                )

    @contextmanager
    def writing(self) -> Iterator[dict[Path, Path]]:
        """Temporaries for the targets (``{target: temporary}``), moved into place together.

        Each writer writes its temporary (``overwrite=True``: the temporary exists, empty).
        On leaving the block normally every target is replaced; on an error every temporary
        is removed and no target is touched. Should a move itself fail, the targets already
        moved are removed again where they did not exist before.
        """
        existed = {target: target.exists() for target in self.targets}
        if not self.overwrite and any(existed.values()):
            taken = [str(t) for t, e in existed.items() if e]
            raise FileExistsError(f"{taken} appeared during the run; pass --overwrite to replace them")
        temporaries: dict[Path, Path] = {}
        try:
            for target in self.targets:
                temporaries[target] = new_temporary(target)
            yield dict(temporaries)
            moved: list[Path] = []
            try:
                for target, temporary in temporaries.items():
                    os.replace(temporary, target)
                    moved.append(target)
            except BaseException:
                for target in moved:
                    if not existed[target]:
                        target.unlink(missing_ok=True)
                raise
        finally:
            for temporary in temporaries.values():
                temporary.unlink(missing_ok=True)


def check_writable(target: Path) -> None:
    """Raise ``PermissionError`` unless a file can be created next to ``target``.

    A probe, not ``os.access``: root passes that on a read-only mount.
    """
    try:
        new_temporary(target).unlink()
    except OSError as error:
        raise PermissionError(
            f"output folder {str(target.parent)!r} is not writable ({error.strerror or error})"
        ) from None


def plan_outputs(
    outputs: Sequence[str | os.PathLike],
    inputs: Sequence[str | os.PathLike] = (),
    *,
    overwrite: bool = False,
) -> OutputPlan:
    """Check the outputs of one run before any work; return their :class:`OutputPlan`.

    Raises
    ------
    InputError
        Two outputs name one file, an output is an input, or a path cannot be resolved.
    FileExistsError
        An output exists and ``overwrite`` is false.
    IsADirectoryError, FileNotFoundError, PermissionError
        An output is a directory; its folder is missing or not writable.
    """
    targets = tuple(Path(p) for p in outputs)
    seen: dict[Path, Path] = {}
    for target in targets:
        key = resolved(target)
        if key in seen:
            # e.g. -o y.tif --psf-out y.tif: the second write would replace the first output
            raise InputError(f"the outputs {[str(p) for p in targets]} name the same file twice")
        seen[key] = target
    sources = {resolved(p) for p in inputs}
    for key, target in seen.items():
        if key in sources:
            raise InputError(f"output {str(target)!r} is also an input: refusing to overwrite the input")
        if target.is_dir():
            raise IsADirectoryError(f"output {str(target)!r} is a directory: name a file inside it")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{str(target)!r} exists; pass --overwrite to replace it")
        folder = key.parent
        if not folder.is_dir():
            raise FileNotFoundError(f"output folder {str(target.parent)!r} does not exist")
        check_writable(target)
    return OutputPlan(targets, overwrite)
