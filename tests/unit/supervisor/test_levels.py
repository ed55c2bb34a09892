"""levels.py: sustain, immediate emergency, hysteresis, poll intervals (pure)."""

from __future__ import annotations

from hypothesis import given, settings
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
    assert t.update(475) == WARNING  # exactly 5% under: not under it yet
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
    assert t.update(740) == EMERGENCY  # exactly the threshold less the margin: not under
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


ORDER = (NORMAL, WARNING, CRITICAL, EMERGENCY)


def expected_levels(
    values: list[int], t: Thresholds, sustained: int, margin_bytes: int | None = None
) -> list[str]:
    """The acting level after each sample, from the module docstring alone (the oracle):
    emergency on the first sample at or over it; warning or critical once the last
    ``sustained`` samples were all at or over it; down, through as many levels as apply,
    once a sample is under the level's threshold less 5% of it (in whole bytes, rounded
    down), or less ``margin_bytes``."""
    limit = {WARNING: t.warning, CRITICAL: t.critical, EMERGENCY: t.emergency}

    def leave_under(level: str) -> int:
        if margin_bytes is not None:
            return limit[level] - margin_bytes
        return limit[level] * 95 // 100  # exact integer arithmetic: no float in the oracle

    level, out = NORMAL, []
    for i, v in enumerate(values):
        last = values[i + 1 - sustained : i + 1] if i + 1 >= sustained else []
        if v >= t.emergency:
            level = EMERGENCY
        elif (up := [x for x in (CRITICAL, WARNING) if ORDER.index(x) > ORDER.index(level)
                     and last and min(last) >= limit[x]]):  # fmt: skip
            level = up[0]
        else:
            while level != NORMAL and v < leave_under(level):
                level = ORDER[ORDER.index(level) - 1]
        out.append(level)
    return out


@st.composite
def thresholds_and_samples(
    draw: st.DrawFn, margin: int | None = None
) -> tuple[Thresholds, list[int]]:
    """Thresholds, and samples that sit on and beside each threshold and each exit point
    (threshold less 5%, or less ``margin``), where an off-by-one in a comparison shows."""
    w = draw(st.integers(min_value=20, max_value=10**12))
    c = draw(st.integers(min_value=w + 1, max_value=w * 3))
    e = draw(st.integers(min_value=c + 1, max_value=c * 3))
    marks = [x for m in (w, c, e) for x in (m, m * 95 // 100, m * 96 // 100, m * 94 // 100)]
    if margin is not None:
        marks += [m - margin for m in (w, c, e)]
    near = sorted({m + d for m in marks for d in (-1, 0, 1)})
    on_marks = st.sampled_from(near)
    sample = st.one_of(on_marks, on_marks, st.integers(min_value=0, max_value=e * 2))
    return Thresholds(w, c, e), draw(st.lists(sample, max_size=60))


@settings(max_examples=400)
@given(thresholds_and_samples(), st.integers(min_value=1, max_value=5))
def test_levels_match_the_documented_rules(
    case: tuple[Thresholds, list[int]], sustained: int
) -> None:
    t, values = case
    tracker = LevelTracker(t, sustained=sustained)
    assert [tracker.update(v) for v in values] == expected_levels(values, t, sustained)


@settings(max_examples=200)
@given(st.data(), st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=50))
def test_levels_with_a_margin_in_bytes_match_the_documented_rules(
    data: st.DataObject, sustained: int, margin: int
) -> None:
    t, values = data.draw(thresholds_and_samples(margin))
    tracker = LevelTracker(t, sustained=sustained, hysteresis_bytes=margin)
    assert [tracker.update(v) for v in values] == expected_levels(values, t, sustained, margin)


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
        # Falling needs 5% under the threshold (whole bytes), computed here, not by the
        # tracker's own exit_point().
        if RANK[level] < RANK[before]:
            assert v < T.of(before) * 95 // 100
        if level != NORMAL:
            assert v >= T.of(level) * 95 // 100
