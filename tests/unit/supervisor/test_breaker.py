"""breaker.py with a fake clock: attempts per window, growing cooldown, circuit states."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from guardrun.supervisor.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, Policy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw: float) -> tuple[Breaker, Clock]:
    clock = Clock()
    return Breaker(Policy(**kw), clock), clock  # type: ignore[arg-type]


def restart(b: Breaker) -> float:
    d = b.request()
    assert d.allowed, d.reason
    b.record_restart()
    return d.wait


def test_cooldown_doubles_up_to_the_cap() -> None:
    b, clock = make(max_attempts=10, cooldown=10, max_cooldown=50, reset_after=10_000)
    waits = []
    for _ in range(5):
        waits.append(restart(b))
        clock.now += 1
    assert waits == [0, 10, 20, 40, 50]  # the first restart is immediate


def test_max_attempts_within_window_then_open() -> None:
    b, clock = make(max_attempts=3, window=3600, reset_after=10_000)
    for _ in range(3):
        restart(b)
        clock.now += 60
    d = b.request()
    assert not d.allowed
    assert b.state == OPEN
    assert "circuit open" in d.reason
    clock.now += 1000
    assert not b.request().allowed  # still within the window since it opened


def test_half_open_probe_after_window_then_closes_when_stable() -> None:
    b, clock = make(max_attempts=2, window=100, reset_after=150)
    restart(b)
    clock.now += 1
    restart(b)
    clock.now += 1
    assert not b.request().allowed
    clock.now += 100
    d = b.request()
    assert d.allowed and b.state == HALF_OPEN
    b.record_restart()
    clock.now += 150  # stable for reset_after
    assert b.request().allowed
    assert b.state == CLOSED


def test_half_open_probe_failing_reopens() -> None:
    b, clock = make(max_attempts=1, window=100, reset_after=1000)
    restart(b)
    clock.now += 1
    assert not b.request().allowed
    clock.now += 100
    assert b.request().allowed
    b.record_restart()
    clock.now += 5
    d = b.request()
    assert not d.allowed and b.state == OPEN


def test_stable_uptime_forgets_earlier_restarts() -> None:
    b, clock = make(max_attempts=2, window=3600, cooldown=10, reset_after=600)
    assert restart(b) == 0
    clock.now += 1
    assert restart(b) == 10
    clock.now += 600
    assert restart(b) == 0  # history forgotten: the next restart is immediate again


def test_window_slides() -> None:
    b, clock = make(max_attempts=2, window=100, reset_after=10_000)
    restart(b)
    clock.now += 60
    restart(b)
    clock.now += 50  # the first restart is out of the window now
    assert b.request().allowed


def test_zero_attempts_never_allows() -> None:
    b, _ = make(max_attempts=0)
    d = b.request()
    assert not d.allowed and "disabled" in d.reason


def test_snapshot_reports_state() -> None:
    b, clock = make(max_attempts=1, window=100, reset_after=1000)
    restart(b)
    b.request()
    snap = b.snapshot()
    assert snap["state"] == OPEN
    assert snap["restarts_in_window"] == 1
    assert snap["next_allowed_in_s"] == 100


@given(
    st.lists(st.tuples(st.floats(min_value=0, max_value=2000), st.booleans()), max_size=40),
    st.integers(min_value=0, max_value=5),
    st.floats(min_value=1, max_value=1000),
    st.floats(min_value=1, max_value=3000),
)
def test_never_more_than_max_attempts_in_any_window(
    steps: list[tuple[float, bool]], max_attempts: int, window: float, reset_after: float
) -> None:
    b, clock = make(
        max_attempts=max_attempts,
        window=window,
        cooldown=1,
        max_cooldown=8,
        reset_after=reset_after,
    )
    done: list[float] = []
    for dt, do_restart in steps:
        clock.now += dt
        d = b.request()
        assert d.wait >= 0
        if d.allowed:
            assert d.wait <= 8
            if do_restart:
                b.record_restart()
                done.append(clock.now)
        assert b.state in (CLOSED, OPEN, HALF_OPEN)
    # Within any window, restarts that followed each other without a stable gap
    # of reset_after never exceed max_attempts (+1 for a half-open probe).
    for i, t in enumerate(done):
        burst = [t]
        for u in done[i + 1 :]:
            if u - burst[-1] >= reset_after or u - t >= window:
                break
            burst.append(u)
        assert len(burst) <= max_attempts + 1
