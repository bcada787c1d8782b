"""Run / Cancel / progress plumbing shared by the long-running widgets.

The engine's generator runs in a napari ``thread_worker``: each yielded Progress moves the
progress bar and the previews, the returned result becomes layers, an exception becomes
a notification. Cancel sets a ``threading.Event`` that the engine checks every inner
iteration, so it stops within one iteration.
"""

import re
import threading
from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info

from napari_selfdiff._napari._form import scrolling_form
from napari_selfdiff.errors import Cancelled
from napari_selfdiff.progress_text import ProgressClock, format_seconds

RunFactory = Callable[[threading.Event], Generator[Any, None, Any]]

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
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress_bar = ProgressBar(min=0, max=1000, value=0, label="progress")
        self.status = Label(value="idle")
        for label in (self.status,):
            label.native.setWordWrap(True)  # a long status wraps instead of widening the dock
        self.run_button.changed.connect(self._on_run_clicked)
        self.cancel_button.changed.connect(self.cancel)
        self._alive = True
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
            make_run, on_result = prepare()
        except (ValueError, TypeError) as error:
            message = in_form_words(str(error))
            show_error(f"{self.label or 'napari-selfdiff'}: {message}")
            self.status.value = f"not started: {message}"
            return
        self.start(make_run, on_result)

    def start(
        self, make_run: RunFactory, on_result: ResultHandler, words: Callable[[Any], str] | None = None
    ) -> None:
        """Run ``make_run(cancel_event)`` in a thread worker; ``on_result`` gets its return value.

        ``words(event)`` is the status line of a progress event (default: stage, planes, step and
        time left).
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
        self.clock = ProgressClock()
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
        self.progress_bar.value = int(1000 * event.fraction)
        self.status.value = (self._words or self.clock.describe)(event)
        self.on_progress(event)

    def _on_returned(self, result: Any, on_result: ResultHandler) -> None:
        if not self._alive:
            return
        self.cleanup()
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
        self.worker = None
        self._cancel_event = None
        self.run_button.enabled = True
        self.cancel_button.enabled = False
