"""Progress in words, one bar and the whole run's time left, the parts weighed by their cost (#39)."""

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
    assert "in this stage" not in text  # the time left is the whole run's
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


def test_time_left_is_the_whole_runs_from_the_expected_part_costs():
    """A fast first part does not make the slow second one look short: the parts weigh their cost."""
    clock = ProgressClock(parts=(2.0, 40.0), trusted=True)
    # Part 1 done in 2 s as expected: 40 s of part 2 left (not 2 s, as equal parts would say).
    left = clock.remaining(event(part=0, n_parts=2, step=3, inner=10, elapsed=2.0))
    assert left == pytest.approx(40.0)
    # Part 2 a quarter done after 20 s of its own (twice slower than expected): the run's pace so
    # far (22 s for 12 expected) weighed with the estimate's (4.2 s of prior at pace 1): ~48 s left.
    left = clock.remaining(event(part=1, n_parts=2, n_steps=1, inner=25, n_inner=100, elapsed=22.0))
    assert 45 < left < 55
    assert format_seconds(left)[-1] in "s0123456789" and format_seconds(125) == "2:05"
    assert format_seconds(float("nan")) == "?"


def test_time_left_moves_between_events_and_the_bar_is_monotone():
    """The restoration reports once per plane group: the clock moves on between its events."""
    clock = ProgressClock(parts=(10.0,), after=10.0, trusted=True)
    clock.describe(event(n_steps=1, inner=5, n_inner=10, elapsed=5.0))  # half the first part
    before = clock.remaining(None, 5.0)
    later = clock.remaining(None, 8.0)  # 3 s later, no event
    assert later == pytest.approx(before - 3.0, abs=0.5)
    capped = clock.remaining(None, 30.0)  # the part's end: no further without an event
    assert capped == pytest.approx(clock.remaining(None, 40.0)) and capped > 9.0
    bars = [clock.fraction(t, clock.remaining(None, t)) for t in (5.0, 6.0, 8.0, 30.0, 40.0)]
    assert bars == sorted(bars) and bars[-1] < 1.0
    # The last event of the last part: what is left (a drained restoration) runs down with the clock.
    clock.describe(event(n_steps=1, inner=10, n_inner=10, elapsed=10.0))
    assert clock.remaining(None, 15.0) == pytest.approx(5.0, abs=0.6)
    assert "finishing" in clock.describe(event(n_steps=1, inner=10, n_inner=10, elapsed=10.0), 25.0)


def test_the_cascade_adds_its_fallback_only_when_it_begins():
    clock = ProgressClock(parts=(5.0, 5.0), fallback=100.0, trusted=True)
    assert clock.remaining(event(part=0, n_parts=3, step=3, inner=10, elapsed=5.0)) == pytest.approx(5.0)
    shown = clock.fraction(5.0, 5.0)
    assert clock.remaining(event(part=2, n_parts=3, step=1, inner=1, elapsed=13.5)) > 90  # it began
    assert clock.fraction(13.5, clock.remaining(None, 13.5)) >= shown  # never backwards


def test_cli_bar_weighs_the_stages_by_the_runs_estimate():
    """The command line's bar is the whole run's: a cheap first stage done is a small share of it."""
    import io

    from napari_selfdiff.cli.progress_bar import ProgressBar

    costs = {"parts": (1.0, 9.0), "after": 0.0, "seconds_if_flagged": 0.0, "calibrated": True}
    estimate = type("Estimate", (), costs)
    weighted, equal = ProgressBar(io.StringIO(), estimate=estimate()), ProgressBar(io.StringIO())
    first_done = event(part=0, n_parts=2, n_steps=1, inner=10, elapsed=1.0)
    for bar in (weighted, equal):
        bar(first_done)
    assert weighted.clock.shown == pytest.approx(0.1, abs=0.02)
    assert equal.clock.shown == pytest.approx(0.5, abs=0.02)
    shown = [weighted.clock.shown]
    for inner in (2, 5, 9):
        weighted(event(part=1, n_parts=2, n_steps=1, inner=inner, elapsed=1.0 + inner))
        shown.append(weighted.clock.shown)
    assert shown == sorted(shown) and shown[-1] < 1.0  # monotone, full only when the run ends
    weighted.close(seconds=10.0)
    assert weighted.stream.getvalue().rstrip().endswith("100.0% done in 10 s")


def test_cli_bar_in_a_log_writes_a_line_at_least_every_30_s():
    """A log gets a line per outer step, and one every LOG_EVERY s of a long step."""
    import io

    from napari_selfdiff.cli.progress_bar import ProgressBar

    bar = ProgressBar(io.StringIO())
    for second in range(0, 100, 5):  # one 100 s outer step, an event every 5 s
        bar(event(n_steps=4, step=1, inner=1 + second // 10, n_inner=10, elapsed=float(second)))
    lines = bar.stream.getvalue().splitlines()
    assert len(lines) == 3 and all("elapsed" in line for line in lines)  # at 30, 60 and 90 s
