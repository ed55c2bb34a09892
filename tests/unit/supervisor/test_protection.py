"""Protection: the breaker's answer turned into a mode, a message and a retry time."""

from __future__ import annotations

from support.defaults import policy

from guardrun.supervisor import degrade
from guardrun.supervisor.levels import CRITICAL, EMERGENCY
from guardrun.supervisor.protection import Protection


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(on_exhausted: str = "monitor", attempts: int = 1) -> tuple[Protection, Clock]:
    clock = Clock()
    settings = policy(max_attempts=attempts, window=60.0, cooldown=10.0, reset_after=600.0)
    return Protection(settings, 1.0, on_exhausted, clock), clock


def test_allowed_then_refused_goes_monitor_only_and_waits_before_asking_again() -> None:
    p, clock = make()
    v = p.ask(CRITICAL, crashed=False, name="claude")
    assert v.allowed and v.transition is None and p.mode == degrade.NORMAL
    p.record_restart()
    v = p.ask(CRITICAL, crashed=False, name="claude")
    assert not v.allowed and p.mode == degrade.MONITOR_ONLY
    assert v.transition is not None and v.transition.changed and v.transition.action == "warn"
    assert "claude keeps running, watched only" in v.message
    assert not p.may_ask(clock.now) and not p.may_ask(clock.now + 59.0)
    assert p.may_ask(clock.now + 60.0)  # the breaker's wait, not one poll later


def test_a_refused_crash_restart_changes_no_mode() -> None:
    p, _ = make(attempts=0)
    v = p.ask("crash", crashed=True, name="x")
    assert not v.allowed and v.transition is None and p.mode == degrade.NORMAL


def test_emergency_refused_with_stop_ends_in_emergency_stop() -> None:
    p, _ = make("stop", attempts=0)
    v = p.ask(EMERGENCY, crashed=False, name="x")
    assert v.transition is not None and v.transition.action == "stop"
    assert p.mode == degrade.EMERGENCY_STOP


def test_half_open_probe_restart_brings_normal_back() -> None:
    p, clock = make()
    p.ask(CRITICAL, False, "x")
    p.record_restart()
    p.ask(CRITICAL, False, "x")  # refused: circuit open, monitor-only
    clock.now += 61.0
    v = p.ask(CRITICAL, False, "x")
    assert v.allowed and p.mode == degrade.NORMAL
    assert v.transition is not None and v.transition.previous == degrade.MONITOR_ONLY


def test_probe_lost_and_back() -> None:
    p, _ = make()
    assert p.change(degrade.PROBE_LOST).mode == degrade.UNWATCHED
    t = p.change(degrade.PROBE_BACK)
    assert t.changed and t.mode == degrade.NORMAL and t.previous == degrade.UNWATCHED


def test_announce_names_the_attempt_and_the_cooldown() -> None:
    p, _ = make(attempts=3)
    text, wait = p.announce("claude", "memory 5 GB over critical")
    assert text.startswith("restarting claude: memory 5 GB over critical (attempt 1/3 within 60s")
    assert wait == p.breaker.cooldown()


def test_a_restart_the_user_asked_for_has_no_cooldown_but_counts() -> None:
    """SIGUSR1 / `guardrun restart`: never delayed, still an attempt of the window's."""
    p, _ = make(attempts=3)
    p.record_restart()
    assert p.breaker.cooldown() > 0
    text, wait = p.announce("claude", "asked", asked=True)
    assert wait == 0.0 and "cooldown" not in text and "attempt 2/3" in text
