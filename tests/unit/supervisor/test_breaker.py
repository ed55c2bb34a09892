"""breaker.py with a fake clock: attempts per window, growing cooldown, circuit states."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.defaults import policy

from guardrun.supervisor.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, Policy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw: float) -> tuple[Breaker, Clock]:
    clock = Clock()
    return Breaker(policy(**kw), clock), clock


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


def test_a_restart_exactly_one_window_old_no_longer_counts() -> None:
    b, clock = make(max_attempts=2, window=100, cooldown=10, reset_after=10_000)
    restart(b)
    clock.now += 50
    restart(b)
    clock.now += 49.5
    assert not b.request().allowed  # both within the last 100 s: open
    b, clock = make(max_attempts=2, window=100, cooldown=10, reset_after=10_000)
    restart(b)
    clock.now += 50
    restart(b)
    clock.now += 50  # the first is 100 s old: out of the window, one restart left in it
    d = b.request()
    assert d.allowed and d.wait == 10 and d.attempt == 2


def test_a_failing_probe_reopens_even_with_attempts_left_in_the_window() -> None:
    """Half-open allows one probe, not max_attempts: the next restart soon after it is
    refused though the window holds only that one."""
    b, clock = make(max_attempts=3, window=100, reset_after=1000)
    for _ in range(3):
        restart(b)
        clock.now += 1
    assert not b.request().allowed
    clock.now += 100
    restart(b)  # the probe
    clock.now += 5
    d = b.request()
    assert not d.allowed and b.state == OPEN and "did not hold" in d.reason


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


class Model:
    """The breaker as the module docstring states it, written out for the tests: the
    oracle the properties below compare the code with (independent of its own values).

    The restarts since history was last forgotten are kept whole (never pruned), and
    "in the window" is computed from them at each question."""

    def __init__(self, p: Policy) -> None:
        self.p = p
        self.times: list[float] = []
        self.opened: float | None = None  # when the circuit opened
        self.probing = False  # half-open: the window passed since it opened
        self.probe: float | None = None  # when the probe restart happened

    def state(self) -> str:
        if self.probing or self.probe is not None:
            return HALF_OPEN
        return CLOSED if self.opened is None else OPEN

    def forget(self, now: float) -> None:
        """Stable uptime of reset_after since the last restart forgets history."""
        if self.times and now - self.times[-1] >= self.p.reset_after:
            self.times, self.opened, self.probing, self.probe = [], None, False, None

    def wait_for(self, now: float) -> float:
        """0 for the first restart in the window, then cooldown, 2x, 4x ... up to the cap."""
        n = len([t for t in self.times if now - t < self.p.window])
        return 0.0 if n == 0 else min(self.p.cooldown * 2 ** (n - 1), self.p.max_cooldown)

    def request(self, now: float) -> tuple[bool, float]:
        p = self.p
        self.forget(now)
        if p.max_attempts <= 0:
            return False, 0.0
        if self.probe is not None:  # the probe did not hold for reset_after: open again
            self.opened, self.probing, self.probe = now, False, None
            return False, p.window
        if self.opened is not None:
            # Elapsed against the window, as the breaker compares it (float boundaries:
            # opened + window <= now can hold while now - opened < window).
            if now - self.opened < p.window:
                return False, max(0.0, self.opened + p.window - now)
            self.probing = True  # one probe restart
            return True, self.wait_for(now)
        if len([t for t in self.times if now - t < p.window]) >= p.max_attempts:
            self.opened = now
            return False, p.window
        return True, self.wait_for(now)

    def record(self, now: float) -> None:
        self.forget(now)
        self.times.append(now)
        if self.probing:
            self.probing, self.probe = False, now


@st.composite
def scenarios(
    draw: st.DrawFn, reset_not_above_window: bool
) -> tuple[Policy, list[tuple[float, bool]]]:
    """A policy, and steps (time passed, then a request, then a restart or not) that land
    on and beside the policy's own boundaries, where an off-by-one in a comparison shows."""
    window = draw(st.sampled_from([10.0, 60.0, 100.0, 1000.0]))
    reset = draw(st.sampled_from([1.0, 10.0, 60.0, 100.0, 3000.0]))
    if reset_not_above_window:
        reset = min(reset, window)
    cooldown = draw(st.sampled_from([0.0, 1.0, 10.0]))
    policy = Policy(
        max_attempts=draw(st.integers(min_value=0, max_value=5)),
        window=window,
        cooldown=cooldown,
        max_cooldown=draw(st.sampled_from([0.0, 8.0, 20.0, 300.0])),
        reset_after=reset,
    )
    marks = [window, reset, window / 2, reset / 2, cooldown]
    near = sorted({m + e for m in marks for e in (-1.0, 0.0, 1.0) if m + e >= 0})
    on_marks = st.sampled_from(near)
    dt = st.one_of(on_marks, on_marks, st.sampled_from([0.0, 0.5]), st.integers(0, 20_000).map(
        lambda n: n / 10))  # fmt: skip
    return policy, draw(st.lists(st.tuples(dt, st.booleans()), max_size=40))


@settings(max_examples=600)
@given(scenarios(reset_not_above_window=False))
def test_never_more_than_max_attempts_in_any_window(
    scenario: tuple[Policy, list[tuple[float, bool]]],
) -> None:
    """Counted from the restarts made: in any span shorter than the window with no stable
    gap of reset_after in it, at most max_attempts (the half-open probe comes only once a
    whole window has passed since the circuit opened, so it never adds one)."""
    policy, steps = scenario
    b, clock = make(**policy._asdict())
    done: list[float] = []
    for dt, do_restart in steps:
        clock.now += dt
        d = b.request()
        assert 0 <= d.wait <= max(policy.window, policy.max_cooldown) + 1e-6  # float sums
        if d.allowed and do_restart:
            b.record_restart()
            done.append(clock.now)
    for i, t in enumerate(done):
        burst = [t]
        for u in done[i + 1 :]:
            if u - burst[-1] >= policy.reset_after or u - t >= policy.window:
                break
            burst.append(u)
        assert len(burst) <= policy.max_attempts, (burst, policy)


@settings(max_examples=600)
@given(scenarios(reset_not_above_window=True))
@example(  # found by hypothesis: 1060.1 - 1000.1 < 60 while 1000.1 + 60 == 1060.1
    (
        Policy(max_attempts=2, window=60.0, cooldown=1.0, max_cooldown=0.0, reset_after=60.0),
        [(0.0, True), (0.1, True), (0.0, False), (60.0, False)],
    )
)
def test_every_decision_matches_the_documented_model(
    scenario: tuple[Policy, list[tuple[float, bool]]],
) -> None:
    """Allowed or not, the wait, and the state, at every step, against ``Model``, for
    reset_after up to the window (the defaults: 10 min, 1 h). There an open circuit is always
    forgotten (reset_after since the last restart) before a window since it opened has
    passed, so half-open is never reached: the examples above cover it, and the xfail
    test below where the code and the docstring part ways."""
    policy, steps = scenario
    b, clock = make(**policy._asdict())
    model = Model(policy)
    for dt, do_restart in steps:
        clock.now += dt
        d = b.request()
        assert (d.allowed, d.wait) == model.request(clock.now), (clock.now, policy)
        assert b.state == model.state()
        if d.allowed and do_restart:
            b.record_restart()
            model.record(clock.now)
            assert b.state == model.state()


def test_a_probe_that_fails_after_the_window_but_before_reset_after_reopens() -> None:
    b, clock = make(max_attempts=1, window=100, reset_after=1000)
    restart(b)
    clock.now += 1
    assert not b.request().allowed  # open
    clock.now += 100
    restart(b)  # the probe
    clock.now += 150  # needed again sooner than reset_after: "the breaker opens again"
    d = b.request()
    assert not d.allowed and b.state == OPEN


def test_half_open_and_the_window_agree_on_float_boundaries() -> None:
    """Found by hypothesis: opened at 1000.1 with a 60 s window, 1000.1 + 60 == 1060.1 but
    1060.1 - 1000.1 < 60, so a probe was allowed while the first restart still counted."""
    b, clock = make(max_attempts=1, window=60.0, cooldown=0.0, max_cooldown=0.0,
                    reset_after=60.0)  # fmt: skip
    clock.now += 0.1
    restart(b)
    assert not b.request().allowed  # the circuit opens at 1000.1
    clock.now += 60.0
    d = b.request()
    assert not d.allowed and 0.0 <= d.wait < 1e-6
