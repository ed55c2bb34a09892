"""decide: pure decisions of the run loop, every branch, with the clock's value passed in."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.defaults import moment

from guardrun.platform.types import TreeSample
from guardrun.supervisor import decide
from guardrun.supervisor.decide import PLANNED, Acting, Decider, Moment
from guardrun.supervisor.levels import CRITICAL, EMERGENCY, LEVELS, NORMAL, WARNING
from guardrun.supervisor.memory import Tick
from guardrun.supervisor.trend import Estimate


@pytest.mark.parametrize("tree", LEVELS)
@pytest.mark.parametrize("machine", (NORMAL, WARNING, CRITICAL))
def test_acting_level_is_the_worse_of_tree_and_machine_critical(tree: str, machine: str) -> None:
    got = decide.acting_level(tree, machine, "gpu")
    if machine == CRITICAL and tree in (NORMAL, WARNING):
        assert got == Acting(CRITICAL, "gpu")
    else:  # the machine's warning never acts; a tree at critical or above acts as itself
        assert got == Acting(tree, tree)
    assert decide.acting_level(NORMAL, CRITICAL, "") == Acting(CRITICAL, "system")


def test_critical_since_starts_holds_and_ends() -> None:
    assert decide.critical_since(WARNING, None, 5.0) is None
    assert decide.critical_since(CRITICAL, None, 5.0) == 5.0
    assert decide.critical_since(EMERGENCY, 5.0, 9.0) == 5.0
    assert decide.critical_since(NORMAL, 5.0, 9.0) is None


def test_emergency_restarts_at_once_whatever_the_agent_is_doing() -> None:
    acting = Acting(EMERGENCY, EMERGENCY)
    assert decide.restart_now(acting, 10.0, 10.0, 10.0, Moment(5.0, 120.0, 0, 0)) == EMERGENCY


def test_critical_waits_for_a_quiet_moment() -> None:
    acting = Acting(CRITICAL, CRITICAL)
    # Output 1 s ago: not quiet yet (quiet is 5 s), and 2 min not reached.
    assert decide.restart_now(acting, 0.0, 10.0, 9.0, Moment(5.0, 120.0, 0, 0)) is None
    # Quiet exactly idle_quiet: restart.
    assert decide.restart_now(acting, 0.0, 14.0, 9.0, Moment(5.0, 120.0, 0, 0)) == CRITICAL
    # Busy all along, but idle_wait reached: restart anyway.
    assert decide.restart_now(acting, 0.0, 120.0, 119.9, Moment(5.0, 120.0, 0, 0)) == CRITICAL
    assert decide.restart_now(acting, 0.0, 119.9, 119.8, Moment(5.0, 120.0, 0, 0)) is None


def test_critical_without_a_terminal_counts_quiet_from_the_stretch_start() -> None:
    acting = Acting(CRITICAL, "system")
    assert decide.restart_now(acting, 10.0, 14.9, None, Moment(5.0, 120.0, 0, 0)) is None
    assert decide.restart_now(acting, 10.0, 15.0, None, Moment(5.0, 120.0, 0, 0)) == "system"


def test_planning_off_is_the_quiet_moment_rule_alone() -> None:
    """Moment(..., 0, 0) above; here the defaults, with no terminal (``--no-pty``): never
    planned, since idleness cannot be seen."""
    soon = Estimate(1e6, 10.0, 20.0)
    assert decide.restart_now(Acting(WARNING, WARNING), None, 100.0, None, moment(), soon) is None


def test_below_critical_never_restarts() -> None:
    for level in (NORMAL, WARNING):
        assert (
            decide.restart_now(Acting(level, level), 0.0, 1e6, 0.0, Moment(0.0, 0.0, 0, 0)) is None
        )
    assert (
        decide.restart_now(Acting(CRITICAL, CRITICAL), None, 1e6, 0.0, Moment(0.0, 0.0, 0, 0))
        is None
    )


@given(
    since=st.floats(0, 1e4),
    quiet_for=st.floats(0, 1e4),
    at_critical=st.floats(0, 1e4),
    idle_quiet=st.floats(0.1, 100),
    idle_wait=st.floats(0.1, 1000),
)
def test_critical_restart_rule(
    since: float, quiet_for: float, at_critical: float, idle_quiet: float, idle_wait: float
) -> None:
    now = since + at_critical
    last_io = now - quiet_for
    when = Moment(idle_quiet, idle_wait, 0, 0)
    got = decide.restart_now(Acting(CRITICAL, CRITICAL), since, now, last_io, when)
    # Written independently of the code: quiet long enough, or at critical long enough.
    expected = (now - last_io) >= idle_quiet or (now - since) >= idle_wait
    assert (got == CRITICAL) is expected


def test_retry_is_never_sooner_than_a_poll() -> None:
    assert decide.retry_at(100.0, 0.0, 1.0) == 101.0
    assert decide.retry_at(100.0, 30.0, 1.0) == 130.0


@pytest.mark.parametrize(
    ("code", "sig", "sent", "oom", "tail", "kind"),
    [
        (0, None, (), 0, b"", None),  # a clean exit
        (130, None, (), 0, b"", None),  # the user's Ctrl-C, as a shell reports it
        (None, signal.SIGINT, (), 0, b"", None),
        (None, signal.SIGQUIT, (), 0, b"", None),
        (None, signal.SIGTERM, (signal.SIGTERM,), 0, b"", None),  # guardrun's own stop
        (None, signal.SIGTERM, (), 0, b"", "crash"),  # someone else's SIGTERM
        (1, None, (), 0, b"", "crash"),
        (None, signal.SIGKILL, (), 1, b"", "oom"),  # the kernel's OOM killer
        (None, signal.SIGKILL, (), 0, b"", "crash"),  # SIGKILL but no OOM kill counted
        (134, None, (), 0, b"FATAL ERROR: Reached heap limit", "oom"),  # V8
        (1, None, (), 0, b"...MemoryError\n", "oom"),  # CPython
        (1, None, (), 0, b"memory allocation of 4096 bytes failed", "oom"),  # Rust
    ],
)
def test_exit_kind(
    code: int | None, sig: int | None, sent: tuple[int, ...], oom: int, tail: bytes, kind: str
) -> None:
    assert decide.exit_kind(code, sig, sent, oom, tail) == kind


def test_start_failure_is_before_min_uptime() -> None:
    assert decide.start_failure(1.99, 2.0)
    assert not decide.start_failure(2.0, 2.0)


MIN = 60.0
WHEN = Moment(idle_quiet=5.0, idle_wait=120.0, plan_ahead=15 * MIN, idle=30.0)


def test_planned_when_emergency_is_near_and_the_agent_idle() -> None:
    near = Estimate(1e6, 5 * MIN, 14 * MIN)
    warning = Acting(WARNING, WARNING)
    assert decide.restart_now(warning, None, 100.0, 70.0, WHEN, near) == PLANNED
    assert decide.restart_now(warning, None, 100.0, 70.1, WHEN, near) is None  # typing
    far = Estimate(1e6, 5 * MIN, 16 * MIN)
    assert decide.restart_now(warning, None, 100.0, 0.0, WHEN, far) is None
    assert decide.restart_now(warning, None, 100.0, 0.0, WHEN, Estimate()) is None
    # Under warning a restart would reclaim too little: never planned there.
    assert decide.restart_now(Acting(NORMAL, NORMAL), None, 100.0, 0.0, WHEN, near) is None
    off = WHEN._replace(plan_ahead=0.0)
    assert decide.restart_now(warning, None, 100.0, 0.0, off, near) is None
    assert decide.restart_now(warning, None, 100.0, 0.0, WHEN._replace(idle=0.0), near) is None


def test_at_critical_a_far_emergency_waits_for_the_planned_moment() -> None:
    critical = Acting(CRITICAL, CRITICAL)
    far = Estimate(1e6, None, 10 * MIN)
    # Quiet 10 s (the quiet-moment rule would restart) and 5 min at critical: still waits.
    assert decide.restart_now(critical, 0.0, 300.0, 290.0, WHEN, far) is None
    assert decide.restart_now(critical, 0.0, 300.0, 270.0, WHEN, far) == PLANNED
    # Emergency within idle_wait: the quiet-moment rule again (and idle_wait forces).
    near = Estimate(1e6, None, 90.0)
    assert decide.restart_now(critical, 0.0, 300.0, 294.0, WHEN, near) == CRITICAL
    assert decide.restart_now(critical, 0.0, 120.0, 119.9, WHEN, near) == CRITICAL
    # No trend (flat at critical): the quiet-moment rule.
    assert decide.restart_now(critical, 0.0, 300.0, 294.0, WHEN, Estimate()) == CRITICAL


def test_a_rate_over_max_growth_is_critical() -> None:
    assert decide.acting_level(NORMAL, NORMAL, "", 5e6, 3e6) == Acting(CRITICAL, "growth")
    assert decide.acting_level(WARNING, NORMAL, "", 2e6, 3e6) == Acting(WARNING, WARNING)
    assert decide.acting_level(NORMAL, NORMAL, "", None, 3e6) == Acting(NORMAL, NORMAL)
    assert decide.acting_level(NORMAL, NORMAL, "", 5e6, None) == Acting(NORMAL, NORMAL)
    assert decide.acting_level(EMERGENCY, NORMAL, "", 5e6, 3e6) == Acting(EMERGENCY, EMERGENCY)


def test_planned_needs_the_tree_at_warning_or_above() -> None:
    """Under warning a fast leak's emergency is already predicted within plan_ahead; a
    restart there would win back a minute of growth for one of the breaker's attempts."""
    near = Estimate(1e7, 5 * MIN, 10 * MIN)
    assert decide.restart_now(Acting(NORMAL, NORMAL), None, 100.0, 0.0, WHEN, near) is None
    assert decide.restart_now(Acting(WARNING, WARNING), None, 100.0, 0.0, WHEN, near) == PLANNED
    # The machine's critical acts as critical: planned at idle, trend or none.
    system = Acting(CRITICAL, "system")
    assert decide.restart_now(system, 50.0, 100.0, 0.0, WHEN, Estimate()) == PLANNED


def test_critical_waits_for_the_plan_while_emergency_is_twice_idle_wait_away() -> None:
    critical = Acting(CRITICAL, CRITICAL)
    quiet = 290.0  # 10 s quiet at 300: the quiet-moment rule would restart
    assert decide.restart_now(critical, 0.0, 300.0, quiet, WHEN, Estimate(1e6, None, 241.0)) is None
    got = decide.restart_now(critical, 0.0, 300.0, quiet, WHEN, Estimate(1e6, None, 240.0))
    assert got == CRITICAL


def test_the_wait_for_the_plan_does_not_count_toward_idle_wait() -> None:
    """Critical from 0 s, waiting for an idle moment while emergency is far; once it is
    near (within 2 x idle_wait) a busy agent gets idle_wait to fall quiet, counted from
    the end of the wait, not an immediate restart mid-answer."""
    d = Decider(WHEN)
    far, near = Estimate(1e6, None, 10 * MIN), Estimate(1e6, None, 3 * MIN)
    for now in (0.0, 100.0, 300.0):
        acting = d.level(CRITICAL, NORMAL, "", far, now)
        assert d.restart(acting, now, now, far) is None  # busy: no planned moment
    acting = d.level(CRITICAL, NORMAL, "", near, 301.0)
    assert d.restart(acting, 301.0, 301.0, near) is None  # the stretch is 301 s old
    assert d.restart(acting, 419.9, 419.9, near) is None
    assert d.restart(acting, 420.0, 420.0, near) == CRITICAL  # idle_wait after 300 s
    # A quiet moment before that restarts at once.
    d = Decider(WHEN)
    d.level(CRITICAL, NORMAL, "", far, 0.0)
    assert d.restart(acting, 300.0, 300.0, far) is None
    assert d.restart(acting, 306.0, 300.0, near) == CRITICAL
    # Without a terminal there is no plan to wait for, and the stretch's start stands
    # for the last output: idle_quiet after it.
    d = Decider(WHEN)
    d.level(CRITICAL, NORMAL, "", far, 0.0)
    assert d.restart(acting, 4.9, None, far) is None
    assert d.restart(acting, 5.0, None, far) == CRITICAL


def test_a_stopped_child_is_never_idle_nor_quiet_only_emergency_restarts_it() -> None:
    """Ctrl-Z: the user put the agent aside. Its silence is no idle moment for a planned
    restart, no quiet moment at critical; emergency still acts (the machine first)."""
    d = Decider(WHEN)
    near = Estimate(1e6, None, 3 * MIN)
    for level in (WARNING, CRITICAL):
        acting = d.level(level, NORMAL, "", near, 0.0)
        assert d.restart(acting, 0.0, 0.0, near) is None
        # An hour of silence later: a running child would be restarted (planned/critical).
        assert d.restart(acting, 3600.0, 0.0, near) is not None
        assert d.restart(acting, 3600.0, 0.0, near, stopped=True) is None
    acting = d.level(EMERGENCY, NORMAL, "", near, 3601.0)
    assert d.restart(acting, 3601.0, 3600.0, near, stopped=True) == EMERGENCY


class _Watch:
    """A judge whose ticks are given: ``decide.step``'s view of ``MemoryWatch``."""

    def __init__(self, level: str, previous: str = NORMAL, external: object = None) -> None:
        self.estimate = Estimate(None, None, None)
        self.tick = Tick(TreeSample(0.0, ()), 1, previous, level, external, False)  # type: ignore[arg-type]
        self.calls: list[str] = []

    def judge(self, sample: TreeSample, now: float) -> Tick:
        self.calls.append("judge")
        return self.tick

    def next_delay(self, acting: str) -> float:
        return {EMERGENCY: 0.05, CRITICAL: 0.25}.get(acting, 1.0)


class _Protection:
    def __init__(self, may: bool) -> None:
        self.may = may

    def may_ask(self, now: float) -> bool:
        return self.may


def test_step_judges_tells_then_asks_the_turn_and_decides() -> None:
    """One sample's decision, as the loop and the simulator both take it: the teller
    hears of the tick before the fleet is asked whose turn it is."""
    watch = _Watch(EMERGENCY, previous=CRITICAL)
    order: list[str] = []

    def turn(machine_critical: bool) -> str | None:
        order.append("turn")
        return None

    step = decide.step(
        Decider(moment()), watch, _Protection(True), TreeSample(0.0, ()), 10.0,
        restart=True, last_io=None, turn=turn, judged=lambda tick: order.append("judged"),
    )  # fmt: skip
    assert watch.calls == ["judge"] and order == ["judged", "turn"]
    assert step.acting == Acting(EMERGENCY, EMERGENCY) and step.delay == 0.05
    assert step.restart == EMERGENCY and step.tick is watch.tick


def test_step_does_not_restart_when_restarts_are_off_or_protection_says_wait() -> None:
    for restart, may in ((False, True), (True, False)):
        step = decide.step(
            Decider(moment()), _Watch(EMERGENCY), _Protection(may), TreeSample(0.0, ()), 1.0,
            restart=restart, last_io=None,
        )  # fmt: skip
        assert step.restart is None and step.acting.level == EMERGENCY


def test_step_takes_the_machine_turn() -> None:
    step = decide.step(
        Decider(moment()), _Watch(NORMAL), _Protection(True), TreeSample(0.0, ()), 1.0,
        restart=True, last_io=None, turn=lambda critical: decide.BUDGET,
    )  # fmt: skip
    assert step.acting == Acting(CRITICAL, decide.BUDGET) and step.delay == 0.25
    assert step.restart is None  # critical waits for a quiet moment: it has just begun
