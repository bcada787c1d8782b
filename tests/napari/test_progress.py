"""One progress bar for the whole run, with the total time left, on a 20-plane stack (#39 item 2)."""

import re
import time

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari_selfdiff._napari.blind import BlindDeconvolutionWidget  # noqa: E402
from napari_selfdiff.samples.widefield import make_microscopy_case  # noqa: E402

PLUGIN = "napari-selfdiff"


def _seconds(text: str) -> float | None:
    """The time left said on a status line ("~42 s left", "~3:05 left"), or None."""
    found = re.search(r"~(?:(\d+):(\d\d)|(\d+) s) left", text)
    if found is None:
        return None
    minutes, seconds, alone = found.groups()
    return float(alone) if alone is not None else 60.0 * int(minutes) + int(seconds)


@pytest.mark.timing
def test_one_bar_with_the_whole_runs_time_left(viewer, qtbot, monkeypatch):
    monkeypatch.setattr(BlindDeconvolutionWidget, "auto_calibrate", True)  # the estimate is measured
    stack = make_microscopy_case((20, 40, 40), seed=1).blurred
    layer = viewer.add_image(stack, name="stack")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Blind deconvolution")
    widget.image.value, widget.kernel_size.value = layer, 5
    qtbot.waitUntil(lambda: "measured on this machine" in widget.estimate.value, timeout=60_000)
    records = []  # (time, bar, status) at every change of either

    def record(*_: object) -> None:
        records.append((time.perf_counter(), widget.progress_bar.value, widget.status.value))

    widget.progress_bar.changed.connect(record)
    widget.status.changed.connect(record)
    start = time.perf_counter()
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    end = next(t for t, bar, _ in records if bar == 1000)  # the run's result was taken
    during = [r for r in records if r[0] < end]
    bars = [bar for _, bar, _ in records]
    assert bars == sorted(bars) and bars[-1] == 1000  # monotone, full at the end ...
    assert all(bar < 1000 for _, bar, _ in during)  # ... and only then
    times = [start, *(t for t, _, _ in during)]
    assert max(np.diff(times)) < 2.5  # never frozen (a tick a second; 0.5 s of slack for a loaded CI)
    assert "in this stage" not in " ".join(text for _, _, text in during)
    checked = 0
    for moment, bar, text in during:
        left, truth = _seconds(text), end - moment
        if bar >= 200 and left is not None and truth >= 1.0:  # from 20 % on
            assert truth / 2 - 1 <= left <= 2 * truth + 1, (bar, text, round(truth, 1), widget.estimate.value)
            checked += 1
    assert checked >= 3, during
