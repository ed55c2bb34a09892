"""Restart protection: attempts per window, growing cooldown, circuit breaker.

Pure and side-effect free, with the clock injected (as circus' flapping plugin
and honcho's ``_clock`` seam do), so every path is tested with a fake clock.

closed     restarts allowed. The first after a stable period is immediate (as
           systemd's 100 ms RestartSec, PM2 and supervisord do); the next ones wait
           ``cooldown * 2**(n-1)`` (n = restarts still in the window), capped at
           ``max_cooldown``: 0, 10 s, 20 s, 40 s ... 5 min, so a loop is slowed and
           bounded while a one-off restart costs nothing.
open       ``max_attempts`` restarts happened within ``window``: refused until
           ``window`` has passed since the breaker opened.
half_open  the window passed: one probe restart is allowed. If the child then
           runs ``reset_after`` without needing another, the breaker closes;
           if it needs one sooner, the breaker opens again.
Stable uptime of ``reset_after`` since the last restart forgets history in any state.
"""

from collections.abc import Callable
from typing import NamedTuple

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Policy(NamedTuple):
    """Restart protection's settings (``restart.*``); their defaults are the config
    schema's, declared there once (``runner.settings_from_config`` builds this)."""

    max_attempts: int
    window: float
    cooldown: float
    max_cooldown: float
    reset_after: float


class Decision(NamedTuple):
    allowed: bool
    wait: float  # seconds to wait before the restart (allowed) or until one may be (refused)
    reason: str
    attempt: int  # the number this restart would be, within the window


class Breaker:
    def __init__(self, policy: Policy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self.state = CLOSED
        self.restarts: list[float] = []  # those still within the window
        self.opened_at: float | None = None
        # Kept apart from ``restarts``, which forgets what is out of the window: with a
        # window shorter than reset_after, the last restart and the half-open probe must
        # still count once they are out of it.
        self.last: float | None = None
        self.probe_at: float | None = None

    def _forget(self, now: float) -> None:
        p = self.policy
        if self.last is not None and now - self.last >= p.reset_after:
            # Stable since the last restart: earlier ones no longer predict a loop.
            self.restarts.clear()
            self.state = CLOSED
            self.opened_at = self.last = self.probe_at = None
            return
        self.restarts = [t for t in self.restarts if now - t < p.window]

    def cooldown(self) -> float:
        p = self.policy
        n = len(self.restarts)
        if n == 0:
            return 0.0
        return float(min(p.cooldown * (2 ** (n - 1)), p.max_cooldown))

    def request(self) -> Decision:
        """May the child be restarted now? Does not record anything."""
        now = self.clock()
        self._forget(now)
        p = self.policy
        attempt = len(self.restarts) + 1
        if p.max_attempts <= 0:
            return Decision(False, 0.0, "restarts are disabled (max_attempts is 0)", attempt)
        if self.state == OPEN:
            assert self.opened_at is not None
            # Elapsed against the window, as _forget compares restarts: with floats,
            # opened_at + window <= now can hold while now - opened_at < window.
            if now - self.opened_at < p.window:
                return Decision(
                    False,
                    max(0.0, self.opened_at + p.window - now),
                    f"{p.max_attempts} restarts within {p.window:g}s: circuit open",
                    attempt,
                )
            self.state = HALF_OPEN
            return Decision(True, self.cooldown(), "window passed: one probe restart", attempt)
        if self.state == HALF_OPEN and self.probe_at is not None:
            # The probe restart did not hold for reset_after: back to open.
            self.state = OPEN
            self.opened_at = now
            self.probe_at = None
            return Decision(
                False, p.window, "probe restart did not hold: circuit open again", attempt
            )
        if len(self.restarts) >= p.max_attempts:
            self.state = OPEN
            self.opened_at = now
            return Decision(
                False,
                p.window,
                f"{p.max_attempts} restarts within {p.window:g}s: circuit open",
                attempt,
            )
        return Decision(True, self.cooldown(), "allowed", attempt)

    def record_restart(self) -> None:
        now = self.clock()
        self._forget(now)
        self.restarts.append(now)
        self.last = now
        if self.state == HALF_OPEN:
            self.probe_at = now

    def next_allowed(self) -> float | None:
        """Clock time at which a restart may next be allowed (None: now)."""
        if self.state == OPEN and self.opened_at is not None:
            return self.opened_at + self.policy.window
        return None

    def snapshot(self) -> dict[str, object]:
        now = self.clock()
        nxt = self.next_allowed()
        return {
            "state": self.state,
            "restarts_in_window": len([t for t in self.restarts if now - t < self.policy.window]),
            "max_attempts": self.policy.max_attempts,
            "window_s": self.policy.window,
            "next_cooldown_s": self.cooldown(),
            "next_allowed_in_s": None if nxt is None else max(0.0, nxt - now),
        }
