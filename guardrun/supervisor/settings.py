"""What the supervisor needs to know, as plain values, built by ``runner`` from the
config's memory and restart sections and the terminal flags. What the observer needs
(state, hooks, notifications, resume) it reads from its own sections of the config."""

from __future__ import annotations

from typing import NamedTuple

from guardrun.supervisor.breaker import Policy
from guardrun.units import Threshold


class RunSettings(NamedTuple):
    argv: list[str]
    warning: Threshold = Threshold(50.0, True)
    critical: Threshold = Threshold(65.0, True)
    emergency: Threshold = Threshold(75.0, True)
    metric: str = "footprint"
    probe: str = "auto"
    interval: float = 1.0
    sustained: int = 3
    hysteresis: float = 0.05
    hysteresis_bytes: int | None = None
    grace: float = 10.0
    idle_quiet: float = 5.0
    idle_wait: float = 120.0
    trend_window: float = 300.0
    max_growth: float | None = None  # bytes per second; a sustained rate over it is critical
    plan_ahead: float = 900.0  # planned restart when emergency is predicted within this
    idle: float = 30.0  # ... and the agent has been idle this long (0: no planning)
    restart: bool = True
    on_crash: bool = True
    # A command that fails this soon after starting has a start problem (a bad
    # flag, a missing login), not a crash: restarting it would only loop.
    min_uptime: float = 2.0
    on_exhausted: str = "monitor"
    policy: Policy = Policy()
    pty: bool | None = None  # None: when stdin and stdout are terminals
    priority: int = 0  # several runs over the machine budget: the lowest gives way first
    cwd: str | None = None
