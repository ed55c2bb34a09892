"""Restart protection as the run loop sees it: the breaker, the degradation mode it
leads to, and when to ask again after a refusal. Pure, with the clock injected: it
answers what to do and what to say; the supervisor does it and the teller says it.
"""

from collections.abc import Callable
from typing import NamedTuple

from guardrun.supervisor import decide, degrade
from guardrun.supervisor.breaker import Breaker, Policy
from guardrun.supervisor.levels import EMERGENCY
from guardrun.units import format_duration


class Verdict(NamedTuple):
    allowed: bool
    why: str  # the breaker's reason
    wait: float  # refused: seconds until a restart may be allowed
    transition: degrade.Transition | None  # a mode change to report (None: none)
    message: str  # what to tell the user about it


class Protection:
    def __init__(
        self, policy: Policy, interval: float, on_exhausted: str, clock: Callable[[], float]
    ) -> None:
        self.breaker = Breaker(policy, clock)
        self.policy = policy
        self.interval = interval
        self.on_exhausted = on_exhausted
        self.clock = clock
        self.mode = degrade.NORMAL
        self.retry_at = 0.0  # refused: no new request before this clock time

    def may_ask(self, now: float) -> bool:
        return now >= self.retry_at

    def change(self, event: str) -> degrade.Transition:
        """Feed a degradation event (probe lost or back, ...); returns the transition."""
        t = degrade.next_mode(self.mode, event, self.on_exhausted)
        self.mode = t.mode
        return t

    def ask(self, reason: str, crashed: bool, name: str) -> Verdict:
        """May ``name`` be restarted now for ``reason``? Records nothing but the refusal."""
        decision = self.breaker.request()
        if decision.allowed:
            t = self.change(degrade.RESTART_ALLOWED) if self.mode != degrade.NORMAL else None
            said = "restart protection allows a probe restart"
            return Verdict(True, decision.reason, 0.0, t, said)
        self.retry_at = decide.retry_at(self.clock(), decision.wait, self.interval)
        if crashed:
            return Verdict(False, decision.reason, decision.wait, None, "")
        event = degrade.EMERGENCY_REFUSED if reason == EMERGENCY else degrade.RESTART_REFUSED
        t = self.change(event)
        message = (
            f"restart refused ({decision.reason}); {name} keeps running, watched only "
            f"(next restart possible in {format_duration(decision.wait)})"
        )
        return Verdict(False, decision.reason, decision.wait, t, message)

    def announce(self, name: str, why: str, asked: bool = False) -> tuple[str, float]:
        """The line that says a restart is coming, and the cooldown before it: none for
        a restart the user asked for (it still counts toward the window's limit)."""
        wait = 0.0 if asked else self.breaker.cooldown()
        attempt = len(self.breaker.restarts) + 1
        p = self.policy
        pause = f", cooldown {format_duration(wait)}" if wait > 0 else ""
        text = (
            f"restarting {name}: {why} (attempt {attempt}/{p.max_attempts} within "
            f"{format_duration(p.window)}{pause})"
        )
        return text, wait

    def record_restart(self) -> None:
        self.breaker.record_restart()
