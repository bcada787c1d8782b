"""Run / Cancel / progress plumbing shared by the long-running widgets.

The engine's generator runs in a napari ``thread_worker``: each yielded Progress moves the
progress bar and the previews, the returned result becomes layers, an exception becomes
a notification. Cancel sets a ``threading.Event`` that the engine checks every inner
iteration, so it stops within one iteration.

One bar for the whole run: a :class:`~napari_selfdiff.progress_text.ProgressClock` weighs the
run's parts by the estimate's expected costs and says the total time left; a timer moves the
bar and the status line on every :data:`TICK_MS` between events, so they never freeze.
"""

import re
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer

from napari_selfdiff._napari._form import scrolling_form
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.progress_text import ProgressClock, format_seconds

RunFactory = Callable[[threading.Event], Generator[Any, None, Any]]
#: How often the bar and the status line move between progress events (milliseconds).
TICK_MS = 1000
#: Least time between two redraws for progress events (seconds): a classic PSF estimate yields
#: hundreds of events a plane, and redrawing the status and the PSF preview for each one kept the
#: viewer busy for longer than the run.
REDRAW_EVERY = 0.2

#: API wording -> the form's wording, for messages a GUI user reads.
_GUI_WORDS = (
    (re.compile(r"`kernel_size`=(\d+)"), r"kernel size \1"),
    (
        re.compile(r"\(kernel_size <= (\d+)\)"),
        lambda m: f"(kernel size at most {int(m[1]) - 1 + int(m[1]) % 2})",
    ),
    (re.compile(r"`kernel_size`"), "kernel size"),
    (re.compile(r"`scale`"), "PSF scale"),
    (re.compile(r"`psf_window`"), "PSF window"),
    (
        re.compile(r"pass nan_policy='replace' to fill them with the median of the finite pixels"),
        "fill them first (the Python API's nan_policy='replace' uses the median of the finite pixels)",
    ),
)


def in_form_words(message: str) -> str:
    """``message`` with the API's parameter names replaced by the form's labels."""
    for pattern, replacement in _GUI_WORDS:
        message = pattern.sub(replacement, message)
    return message


ResultHandler = Callable[[Any], "str | None"]


class RunnerWidget(Container):
    """A form with Run and Cancel buttons, a progress bar and a status line."""

    def __init__(self, viewer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.viewer = viewer
        self.worker = None
        self._cancel_event: threading.Event | None = None
        self.clock = ProgressClock()
        self._words: Callable[[Any], str] | None = None
        self.run_button = PushButton(
            text="Run", tooltip="start the run on the chosen layer, in the background"
        )
        self.cancel_button = PushButton(
            text="Cancel", enabled=False, tooltip="stop the run within a second; nothing is added"
        )
        self.progress_bar = ProgressBar(
            min=0, max=1000, value=0, label="progress",
            tooltip="the whole run, its parts weighed by their expected cost",
        )  # fmt: skip
        self.status = Label(value="idle")
        for label in (self.status,):
            label.native.setWordWrap(True)  # a long status wraps instead of widening the dock
        self.run_button.changed.connect(self._on_run_clicked)
        self.cancel_button.changed.connect(self.cancel)
        self._alive = True
        self._last_event = None
        self._started = 0.0
        self._drawn, self._drawn_stage = 0.0, None  # when progress was last redrawn, and its stage
        self._timer = QTimer(self.native)  # dies with the widget
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.native.destroyed.connect(self._on_destroyed)

    def _on_destroyed(self, *_: object) -> None:
        # The dock or the viewer was closed during a run: stop the engine and ignore the
        # worker's remaining signals (their Qt widgets no longer exist).
        self._alive = False
        if self._cancel_event is not None:
            self._cancel_event.set()

    def _controls(self) -> list:
        return [self.run_button, self.cancel_button, self.progress_bar, self.status]

    def _lay_out(self, basic: list, advanced: list, below: tuple = ()) -> None:
        """The basic fields, a collapsed "Advanced" section and ``below``, in a scroll area."""
        self.basic, self.advanced, self.advanced_section = scrolling_form(self, basic, advanced, below)

    def reset_choices(self, *_: object) -> None:
        """The layer pickers follow the viewer's layers (napari calls this on the docked widget)."""
        super().reset_choices()
        for part in (getattr(self, "basic", None), getattr(self, "advanced", None)):
            if part is not None:
                part.reset_choices()

    @property
    def running(self) -> bool:
        return self.worker is not None

    # Subclasses implement these two.
    def prepare(self) -> tuple[RunFactory, ResultHandler]:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_progress(self, event: Any) -> None:
        """Called with every Progress event in the GUI thread (previews, plots)."""

    def cleanup(self) -> None:
        """Called after the run ends in any way (remove previews)."""

    def _on_run_clicked(self) -> None:
        self._run_prepared(self.prepare)

    def _run_prepared(self, prepare: Callable[[], tuple[RunFactory, ResultHandler]]) -> None:
        """Start what ``prepare`` returns; a bad input is notified and said on the status line."""
        if self.running:
            return
        try:
            make_run, on_result, *expected = prepare()
        except (ValueError, TypeError) as error:
            message = in_form_words(str(error))
            show_error(f"{self.label or 'napari-selfdiff'}: {message}")
            self.status.value = f"not started: {message}"
            return
        self.start(make_run, on_result, estimate=expected[0] if expected else None)

    def start(
        self,
        make_run: RunFactory,
        on_result: ResultHandler,
        words: Callable[[Any], str] | None = None,
        estimate: Any = None,
    ) -> None:
        """Run ``make_run(cancel_event)`` in a thread worker; ``on_result`` gets its return value.

        ``words(event)`` is the status line of a progress event (default: stage, planes, step and
        time left). ``estimate``: the run's :class:`~napari_selfdiff.plan.estimate.RunEstimate`,
        whose expected part costs weigh the bar and the time left (without, only the pace).
        """
        self._words = words
        cancel = threading.Event()
        self._cancel_event = cancel

        def work() -> Generator[Any, None, Any]:
            return (yield from make_run(cancel))

        # Handlers passed through `connect` so that the worker does not also re-raise errors
        # in the event loop (its default when no "errored" handler is given up front).
        connections = {
            "yielded": self._on_yielded,
            "returned": lambda result: self._on_returned(result, on_result),
            "errored": self._on_errored,
            "finished": self._on_finished,
        }
        worker = thread_worker(work, connect=connections, start_thread=False)()
        self.worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.progress_bar.value = 0
        self.status.value = "starting..."
        self.clock = ProgressClock.for_estimate(estimate)
        self._last_event, self._started = None, time.perf_counter()
        self._timer.start()
        worker.start()

    def cancel(self) -> None:
        """Stop the run within one inner iteration; no layer is added."""
        # The engine checks the event every inner iteration and raises Cancelled, which
        # reaches _on_errored; worker.quit() is not used: it would only act at the next yield
        # and turn the Cancelled exception into a RuntimeWarning.
        if self._cancel_event is not None:
            self._cancel_event.set()
            self.status.value = "cancelling..."

    def _on_yielded(self, event: Any) -> None:
        if not self._alive:
            return
        self._last_event = event
        self.clock.update(event)
        now = time.perf_counter()
        stage = (event.part, event.stage)
        if now - self._drawn < REDRAW_EVERY and event.image is None and stage == self._drawn_stage:
            return  # the next event or tick says it (a preview and a new stage are always shown)
        self._drawn, self._drawn_stage = now, stage
        if self._words is not None:  # a batch of files: its own words, files counted
            self.progress_bar.value = int(1000 * event.fraction)
            self.status.value = self._words(event)
        else:
            self.status.value = self.clock.describe(event)
            self.progress_bar.value = int(1000 * self.clock.shown)
        self.on_progress(event)

    def _tick(self) -> None:
        """Between events: the time spent and left move on with the clock (and the bar with them)."""
        if not self._alive or self.worker is None or self._words is not None:
            return
        if self._cancel_event is not None and self._cancel_event.is_set():
            return  # "cancelling..." stays
        now = time.perf_counter() - self._started
        if self._last_event is None:
            left = self.clock.remaining(None, now)
            known = f", ~{format_seconds(left)} left" if left == left else ""
            self.status.value = f"starting · {format_seconds(now)} elapsed{known}"
            self.progress_bar.value = int(1000 * self.clock.fraction(now, left))
            return
        self.status.value = self.clock.describe(self._last_event, now)
        self.progress_bar.value = int(1000 * self.clock.shown)

    def _on_returned(self, result: Any, on_result: ResultHandler) -> None:
        if not self._alive:
            return
        self._timer.stop()  # a tick between "returned" and "finished" would overwrite the last words
        self.cleanup()
        self.progress_bar.value = 1000  # the only place the bar is full: the run ended
        try:
            message = on_result(result)
        except Exception as error:  # noqa: BLE001 - any failure here must reach the user, not the event loop
            show_error(f"napari-selfdiff: could not add the result: {error}")
            return
        self.status.value = message or self.finished_message(result)

    def finished_message(self, result: Any) -> str:
        """The status line after a run whose result handler returned no message of its own."""
        return f"done in {format_seconds(result.seconds)} on {result.device}"

    def _on_errored(self, error: Exception) -> None:
        if not self._alive:
            return
        self._timer.stop()
        self.cleanup()
        if isinstance(error, Cancelled):
            show_info("napari-selfdiff: run cancelled; nothing was added")
            self.status.value = "cancelled"
            return
        message = str(error)
        if "out of memory" in message.lower():
            message = (
                f"out of memory ({message.splitlines()[0]}): choose the fast preset, a smaller kernel, "
                "a crop of the image, or the CPU device"
            )
        show_error(f"napari-selfdiff: {type(error).__name__}: {message}")
        self.status.value = "failed"

    def _on_finished(self) -> None:
        if not self._alive:
            return
        self._timer.stop()
        self.worker = None
        self._cancel_event = None
        self.run_button.enabled = True
        self.cancel_button.enabled = False
