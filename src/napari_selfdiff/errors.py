"""Exceptions shared by the engine, the CLI and the widgets (torch-free, Qt-free)."""

from __future__ import annotations

from ._checks import InputError

__all__ = ["Cancelled", "InputError"]


class Cancelled(Exception):  # noqa: N818 - the name reads as the event it reports
    """The run was cancelled (``threading.Event`` set or the progress callback returned False).

    Deliberately not a RuntimeError: Qt thread workers treat a RuntimeError as a sign of a
    deleted C++ object and swallow it instead of reporting it.
    """
