"""Progress events in words, with the time left from the measured cost of the current stage.

The CLI's progress bar and the widget's status line both say where a run is, e.g.
``stage 2/3: PSF refit · planes 9-16 of 20 · step 2/3`` and ``~0:42 left``. The time left is
measured, not assumed: the current stage's elapsed time divided by its done fraction. Stages
differ in cost by orders of magnitude (a classic PSF estimate takes seconds, a self-diffusion
one minutes), so before the last stage the estimate is said to be that of "this stage".
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["STAGE_NAMES", "ProgressClock", "format_seconds"]

#: What each :attr:`~napari_selfdiff.results.Progress.stage` is called for users.
STAGE_NAMES = {
    "estimate_psf": "PSF estimate",
    "refit_psf": "PSF refit",
    "restore": "restoration",
    "tile": "tile",
    "deconvolve": "deconvolution",
}


def format_seconds(seconds: float) -> str:
    """``"42 s"``, ``"3:05"`` or ``"2 h 05 min"``; ``"?"`` for NaN."""
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes}:{seconds:02d}" if minutes else f"{seconds} s"


class ProgressClock:
    """Turns a run's events into words; one clock per run (it remembers when each stage began)."""

    def __init__(self) -> None:
        self._part: int | None = None
        self._stage_start = 0.0
        self._last = 0.0

    def where(self, event: Any) -> str:
        """Stage, plane group and outer step of ``event``."""
        words = []
        if event.n_parts > 1:
            name = STAGE_NAMES.get(event.stage, event.stage.replace("_", " "))
            words.append(f"stage {event.part + 1}/{event.n_parts}: {name}")
        if event.n_planes > 1:
            first, count = event.batch if event.batch is not None else (event.plane, 1)
            planes = f"{first + 1}-{first + count}" if count > 1 else f"{first + 1}"
            words.append(f"plane{'s' if count > 1 else ''} {planes} of {event.n_planes}")
        if event.n_steps > 1:
            words.append(f"step {event.step}/{event.n_steps}")
        return " · ".join(words)

    def remaining(self, event: Any) -> float:
        """Seconds left in the current stage, from its measured cost so far (NaN: not yet known)."""
        if event.part != self._part:
            self._part, self._stage_start = event.part, self._last
        self._last = event.elapsed
        spent, done = event.elapsed - self._stage_start, event.stage_fraction
        return spent * (1 - done) / done if done > 0 and spent > 0 else float("nan")

    def describe(self, event: Any) -> str:
        """One status line: where the run is, the time spent and the time left."""
        left = self.remaining(event)
        last = event.part + 1 >= event.n_parts
        scope = "" if last else " in this stage"
        timing = f"{format_seconds(event.elapsed)} elapsed, ~{format_seconds(left)} left{scope}"
        where = self.where(event)
        return f"{where} · {timing}" if where else timing
