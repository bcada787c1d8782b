"""Command line: ``napari-selfdiff deblur | deconvolve | batch | psf | blur | demo``.

:mod:`.app` builds the parser, :mod:`.options` turns the config dataclasses into options,
:mod:`.commands` runs the deconvolution commands, :mod:`.tools` the optics commands and demo.

This module is the entry point of the console script (``napari_selfdiff.cli:main``) and of
``python -m napari_selfdiff``, and imports nothing but the standard library: the first thing
:func:`main` does, before NumPy, SciPy or torch are imported (seconds), is to take Ctrl-C.
A ``KeyboardInterrupt`` raised inside an import prints a traceback, or, raised under a C
extension's ``PyCapsule_Import``, turns into an unrelated ``ImportError``; so a Ctrl-C that
lands while a module is being imported ends the process at once with status 130 and one line,
and any other Ctrl-C is the usual ``KeyboardInterrupt`` that cancels a run (also status 130).
Imports come before a command's work, except a reader's or writer's first use of its library
(Pillow): a Ctrl-C there also ends the run at once, which leaves at worst a temporary file,
since outputs are committed by renames only after every temporary is written.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

__all__ = ["build_parser", "main"]

#: Exit status of a run cancelled by Ctrl-C (128 + SIGINT, as shells report it).
CANCELLED = 130
_CANCELLED_LINE = "\ncancelled: no output was written\n"


def _importing(frame: FrameType | None) -> bool:
    """Whether the interrupted ``frame`` runs inside an import (the frozen importlib's frames)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib."):
            return True
        frame = frame.f_back
    return False


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT: inside an import, exit 130 at once; elsewhere, ``KeyboardInterrupt``."""
    if _importing(frame):
        os.write(2, _CANCELLED_LINE.encode())
        os._exit(CANCELLED)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-selfdiff`` console script; returns the exit code.

    Installs the Ctrl-C handling (module docstring) for the run and restores the previous
    handler on return; the work is :func:`napari_selfdiff.cli.app.main`'s.
    """
    try:
        previous = signal.signal(signal.SIGINT, _on_interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        previous = None
    try:
        from napari_selfdiff.cli.app import main as run

        return run(argv)
    except KeyboardInterrupt:  # before the command started (parsing): nothing was written
        sys.stderr.write(_CANCELLED_LINE)
        return CANCELLED
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def __getattr__(name: str):
    if name == "build_parser":  # imported on use: this module stays free of NumPy
        from napari_selfdiff.cli.app import build_parser

        return build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
