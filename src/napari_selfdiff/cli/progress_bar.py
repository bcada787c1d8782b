"""The command line's one-line progress bar, shared by every command that runs the engine."""

from __future__ import annotations

import sys
from typing import Any

from napari_selfdiff.progress_text import ProgressClock, format_seconds

__all__ = ["ProgressBar", "run_with_bar"]


class ProgressBar:
    """A one-line text progress bar on stderr, fed by the engine's Progress events.

    The bar and the time left are the whole run's, as in the widget
    (:class:`~napari_selfdiff.progress_text.ProgressClock`): with the run's ``estimate``
    (:class:`~napari_selfdiff.plan.estimate.RunEstimate`) each stage weighs its expected cost,
    without it every stage weighs the same. The bar is monotone and full only at :meth:`close`
    after a run that ended.
    """

    #: In a log (not a terminal) a line is written at the end of each outer step, and at least
    #: this often (run seconds) while events come: a large run's first outer step can take many
    #: minutes, and a log that says nothing for them looks hung.
    LOG_EVERY = 30.0

    def __init__(self, stream: Any = None, width: int = 28, estimate: Any | None = None) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.clock = ProgressClock.for_estimate(estimate)
        self._logged = 0.0  # run time of the last line written to a log

    def _line(self, fraction: float, words: str) -> str:
        filled = int(self.width * fraction)
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}% {words}"

    def __call__(self, event: Any) -> None:
        loss = f" · loss {event.loss:.4g}" if event.loss == event.loss else ""
        words = self.clock.describe(event)
        line = self._line(self.clock.shown, words + loss)
        if self.interactive:
            self.stream.write("\r" + line)
        elif (
            event.psf is not None
            or (event.n_steps == 1 and event.inner == event.n_inner)
            or event.elapsed >= self._logged + self.LOG_EVERY
        ):
            self.stream.write(line + "\n")  # one line per outer step in logs, and every LOG_EVERY s
            self._logged = event.elapsed
        self.stream.flush()

    def close(self, seconds: float | None = None) -> None:
        """End the line; ``seconds``: the run ended after that long (the bar is drawn full)."""
        if seconds is not None:
            line = self._line(1.0, f"done in {format_seconds(seconds)}")
            self.stream.write(("\r" if self.interactive else "") + line + "\n")
        elif self.interactive:
            self.stream.write("\n")
        self.stream.flush()


def run_with_bar(run: Any, estimate: Any | None = None) -> Any:
    """Drive a run to its result with a :class:`ProgressBar` on stderr weighted by ``estimate``."""
    from napari_selfdiff.results import drive

    bar = ProgressBar(estimate=estimate)
    result = None
    try:
        result = drive(run, bar)
        return result
    finally:
        bar.close(getattr(result, "seconds", None))
