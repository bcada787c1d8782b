"""Progress in words: stage, plane batch and the time left from the measured stage cost (#29 item 3)."""

import dataclasses

import pytest

from napari_selfdiff.progress_text import ProgressClock, format_seconds
from napari_selfdiff.results import Progress


def event(**changes):
    base = Progress(plane=0, n_planes=1, step=1, n_steps=3, inner=1, n_inner=10, loss=1.0, elapsed=0.0)
    return dataclasses.replace(base, **changes)


def test_stage_and_plane_batch_in_words():
    clock = ProgressClock()
    text = clock.describe(event(stage="refit_psf", part=1, n_parts=3, plane=8, n_planes=20, batch=(8, 8)))
    assert text.startswith("stage 2/3: PSF refit · planes 9-16 of 20 · step 1/3")
    assert "left in this stage" in text
    assert "plane 3 of 5" in ProgressClock().describe(event(plane=2, n_planes=5))


def test_batched_fraction_rises_without_saw_tooth():
    """Groups solved 8 at a time: the first group's and the last member's events agree."""
    events = [
        event(plane=first + p, n_planes=20, step=step, inner=10, batch=(first, min(8, 20 - first)))
        for first in (0, 8, 16)
        for step in (1, 2, 3)
        for p in range(min(8, 20 - first))
    ]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert events[0].fraction == pytest.approx(8 * 10 / (20 * 30))


def test_time_left_is_measured_per_stage():
    """A fast first stage does not make the slow second one look short, nor the reverse."""
    clock = ProgressClock()
    clock.describe(event(part=0, n_parts=2, step=3, inner=10, elapsed=2.0))  # stage 1 done in 2 s
    # Stage 2: a quarter done after 10 s of its own -> 30 s left (not derived from the 2 s stage).
    left = clock.remaining(event(part=1, n_parts=2, n_steps=1, inner=25, n_inner=100, elapsed=12.0))
    assert left == pytest.approx(30.0)
    assert (
        format_seconds(left) == "30 s"
        and format_seconds(125) == "2:05"
        and format_seconds(float("nan")) == "?"
    )
