"""The command line's one-line progress bar, shared by every command that runs the engine."""

from __future__ import annotations

import sys
from typing import Any

from napari_selfdiff.progress_text import ProgressClock

__all__ = ["ProgressBar", "run_with_bar"]


class ProgressBar:
    """A one-line text progress bar on stderr, fed by the engine's Progress events."""

    def __init__(self, stream: Any = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_step = None
        self.clock = ProgressClock()

    def __call__(self, event: Any) -> None:
        fraction = event.fraction
        filled = int(self.width * fraction)
        loss = f" · loss {event.loss:.4g}" if event.loss == event.loss else ""
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}%"
        line = f"{bar} {self.clock.describe(event)}{loss}"
        if self.interactive:
            self.stream.write("\r" + line)
        elif event.psf is not None or (event.n_steps == 1 and event.inner == event.n_inner):
            self.stream.write(line + "\n")  # one line per outer step in logs
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def run_with_bar(run: Any) -> Any:
    """Drive a run to its result with a :class:`ProgressBar` on stderr."""
    from napari_selfdiff.results import drive

    bar = ProgressBar()
    try:
        return drive(run, bar)
    finally:
        bar.close()
