"""levels.py: sustain, immediate emergency, hysteresis, poll intervals (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from guardrun.supervisor.levels import (
    CRITICAL,
    EMERGENCY,
    LEVELS,
    NORMAL,
    RANK,
    WARNING,
    LevelTracker,
    Thresholds,
    poll_interval,
    raw_level,
)

T = Thresholds(warning=500, critical=650, emergency=750)


def feed(tracker: LevelTracker, values: list[int]) -> list[str]:
    return [tracker.update(v) for v in values]


def test_raw_level_boundaries() -> None:
    assert raw_level(499, T) == NORMAL
    assert raw_level(500, T) == WARNING
    assert raw_level(649, T) == WARNING
    assert raw_level(650, T) == CRITICAL
    assert raw_level(750, T) == EMERGENCY


def test_warning_needs_three_consecutive_samples() -> None:
    t = LevelTracker(T)
    assert feed(t, [600, 600, 100, 600, 600]) == [NORMAL] * 5
    assert t.update(600) == WARNING


def test_critical_needs_three_and_can_skip_warning() -> None:
    t = LevelTracker(T)
    assert feed(t, [700, 700, 700]) == [NORMAL, NORMAL, CRITICAL]


def test_emergency_acts_on_first_sample() -> None:
    t = LevelTracker(T)
    assert t.update(800) == EMERGENCY


def test_hysteresis_leaves_only_five_percent_under() -> None:
    t = LevelTracker(T)
    feed(t, [600, 600, 600])
    assert t.level == WARNING
    assert t.update(480) == WARNING  # under 500 but not under 475
    assert t.update(476) == WARNING
    assert t.update(474) == NORMAL


def test_falls_through_several_levels_at_once() -> None:
    t = LevelTracker(T)
    t.update(800)
    assert t.update(100) == NORMAL


def test_falls_one_level_when_still_over_the_lower() -> None:
    t = LevelTracker(T)
    t.update(800)
    assert t.update(600) == WARNING


def test_hysteresis_in_bytes() -> None:
    t = LevelTracker(T, hysteresis_bytes=10)
    t.update(800)
    assert t.update(741) == EMERGENCY
    assert t.update(739) == CRITICAL


def test_reset_forgets_streaks() -> None:
    t = LevelTracker(T)
    feed(t, [600, 600])
    t.reset()
    assert t.update(600) == NORMAL


def test_sustained_one_acts_at_once() -> None:
    t = LevelTracker(T, sustained=1)
    assert t.update(660) == CRITICAL


def test_poll_interval_faster_when_closer() -> None:
    assert poll_interval(NORMAL, 1.0) == 1.0
    assert poll_interval(WARNING, 1.0) == 0.5
    assert poll_interval(CRITICAL, 1.0) == 0.25
    assert poll_interval(EMERGENCY, 1.0) == 0.25


@given(
    st.lists(st.integers(min_value=0, max_value=1000), max_size=60),
    st.integers(min_value=1, max_value=5),
)
def test_level_invariants(values: list[int], sustained: int) -> None:
    t = LevelTracker(T, sustained=sustained)
    for i, v in enumerate(values):
        before = t.level
        level = t.update(v)
        assert level in LEVELS
        if v >= T.emergency:
            assert level == EMERGENCY
        # Climbing past the raw level never happens; falling needs the margin.
        if RANK[level] > RANK[before]:
            assert RANK[level] <= RANK[raw_level(v, T)]
            if level != EMERGENCY:
                window = values[max(0, i - sustained + 1) : i + 1]
                assert len(window) == sustained
                assert all(x >= T.of(level) for x in window)
        if RANK[level] < RANK[before]:
            assert v < t.exit_point(before)
        if level != NORMAL:
            assert v >= t.exit_point(level)
