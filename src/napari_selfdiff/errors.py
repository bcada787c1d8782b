"""Every exception the package raises (torch-free, Qt-free).

All but :class:`Cancelled` are ``ValueError`` subclasses, so a caller that only checks
arguments catches them as such.
"""

from __future__ import annotations

__all__ = ["Cancelled", "ConfigError", "InputError", "NumericalError", "OutOfMemory"]


class InputError(ValueError):
    """An input array or parameter breaks the documented contract."""


class ConfigError(ValueError):
    """A configuration field holds a value that breaks its rule."""


class OutOfMemory(InputError):  # noqa: N818 - reads as the condition it reports
    """The run needs more device memory than is available."""


class NumericalError(ValueError):
    """A computation produced NaN or infinite values; nothing is returned or written."""


class Cancelled(Exception):  # noqa: N818 - the name reads as the event it reports
    """The run was cancelled (``threading.Event`` set or the progress callback returned False).

    Deliberately not a RuntimeError: Qt thread workers treat a RuntimeError as a sign of a
    deleted C++ object and swallow it instead of reporting it.
    """
