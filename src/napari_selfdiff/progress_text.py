"""Progress events in words and one progress bar for the whole run, with the total time left.

The CLI's progress bar and the widget's status line both say where a run is, e.g.
``stage 2/3: PSF refit · planes 9-16 of 20 · step 2/3`` and ``~0:42 left``. The time left is
that of the whole run: each part of the run (:attr:`~napari_selfdiff.results.Progress.part`)
weighs its expected cost (the estimate before the run, measured on this machine:
:func:`napari_selfdiff.plan.estimate.estimate_run`), and the pace measured so far scales what
is left. The bar is the time fraction ``elapsed / (elapsed + left)``: monotone, and full only
when the caller says the run ended. Between events :meth:`ProgressClock.tick` moves both on
with the clock, so a stage with rare events (a restoration) does not freeze them.
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
    "fit_pupil": "pupil fit",
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
    """One run's bar and time left; one clock per run.

    ``parts``: the expected seconds of each part of the run, as the events number them
    (:attr:`RunEstimate.parts <napari_selfdiff.plan.estimate.RunEstimate>`); ``after``: the
    expected seconds of work after the last event; ``fallback``: of a part the run may add
    (the cascade's self-diffusion); ``trusted``: the costs were measured on this machine, so
    they count as that much run time already seen (:data:`PRIOR`) before the pace is known.
    Without ``parts`` every part weighs the same and only the measured pace counts.
    """

    #: Share of the expected run a calibrated estimate weighs against the measured pace.
    PRIOR = 0.1
    #: Fraction of the bar held back until the caller ends the run.
    FULL = 0.995

    def __init__(
        self, parts: tuple[float, ...] = (), after: float = 0.0, fallback: float = 0.0, trusted: bool = False
    ) -> None:
        self._parts = [max(float(p), 1e-6) for p in parts]
        self._after, self._fallback = max(after, 0.0), fallback
        self._weight = self.PRIOR * (sum(self._parts) + self._after) if trusted and parts else 0.0
        self._done = 0.0  # expected seconds done at the last event
        self._cap = 0.0  # expected seconds done when the last event's unit of work ends
        self._elapsed = 0.0  # run time at the last event
        self._shown = 0.0
        self._base, self._base_elapsed = 0.0, 0.0

    @classmethod
    def for_estimate(cls, estimate: Any | None) -> ProgressClock:
        """The clock of a run with the expected costs of ``estimate``; None: equal parts.

        ``estimate``: the run's :class:`~napari_selfdiff.plan.estimate.RunEstimate`, each part
        weighed by its expected cost.
        """
        if estimate is None:
            return cls()
        return cls(estimate.parts, estimate.after, estimate.seconds_if_flagged, trusted=estimate.calibrated)

    def _expected(self, event: Any) -> None:
        """The expected seconds done at ``event``, and the end of the part it belongs to."""
        while len(self._parts) < event.n_parts:  # parts the estimate did not foresee
            extra = len(self._parts)
            if extra and self._fallback > 0:  # the cascade's self-diffusion: counted once it begins
                if event.part < extra:
                    break
                self._parts.append(self._fallback)
            else:
                self._parts.append(sum(self._parts) / extra if extra else 1.0)
        part = min(event.part, len(self._parts) - 1)
        before = sum(self._parts[:part])
        self._done = max(self._done, before + event.stage_fraction * self._parts[part])
        self._cap = before + self._parts[part]
        if event.stage_fraction >= 1.0 and part == event.n_parts - 1:
            self._cap = self._total()  # what is left has no events (a drained restoration)

    def _total(self) -> float:
        return sum(self._parts) + self._after

    def update(self, event: Any) -> None:
        """Take the event's position in the run and its time."""
        self._expected(event)
        self._elapsed = max(self._elapsed, event.elapsed)

    def _pace(self, done: float, elapsed: float) -> float:
        """Run seconds per expected second: the measured pace, weighed with the estimate's."""
        if done + self._weight <= 0:
            return float("nan")
        return (elapsed + self._weight) / (done + self._weight)

    def remaining(self, event: Any | None = None, elapsed: float | None = None) -> float:
        """Seconds left in the whole run (NaN while nothing is known).

        With ``event``, after taking it; with ``elapsed`` alone, at that run time between
        events (the work since the last event counted at the measured pace, up to the end
        of the unit of work that event began).
        """
        if event is not None:
            self.update(event)
        now = self._elapsed if elapsed is None else max(elapsed, self._elapsed)
        pace = self._pace(self._done, self._elapsed)
        if not math.isfinite(pace) or pace <= 0:  # nothing measured yet
            return float("nan")
        done = min(self._done + (now - self._elapsed) / pace, max(self._cap, self._done))
        return max(pace * (self._total() - done), 0.0)

    def fraction(self, elapsed: float, left: float) -> float:
        """The bar at run time ``elapsed`` with ``left`` seconds to go: monotone, below 1."""
        if not math.isfinite(left):
            return self._shown
        since = max(elapsed - self._base_elapsed, 0.0)
        value = self._base + (1 - self._base) * (since / (since + left) if since + left > 0 else 0.0)
        if value < self._shown - 0.05:  # the run grew (e.g. the cascade's self-diffusion began)
            self._base, self._base_elapsed = self._shown, elapsed
            value = self._shown
        self._shown = min(max(self._shown, value), self.FULL)
        return self._shown

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

    def describe(self, event: Any, elapsed: float | None = None) -> str:
        """One status line: where the run is, the time spent and the time left in the whole run.

        ``elapsed``: the run time now, when later than the event (a clock tick).
        """
        now = event.elapsed if elapsed is None else max(elapsed, event.elapsed)
        left = self.remaining(event, now)
        self.fraction(now, left)
        if math.isfinite(left) and left < 1 and now > self._elapsed + 1:
            timing = f"{format_seconds(now)} elapsed, finishing"
        else:
            timing = f"{format_seconds(now)} elapsed, ~{format_seconds(left)} left"
        where = self.where(event)
        return f"{where} · {timing}" if where else timing

    @property
    def shown(self) -> float:
        """The bar's value (0 to :data:`FULL`) after the last :meth:`describe` or :meth:`fraction`."""
        return self._shown
