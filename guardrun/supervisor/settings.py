"""What the supervisor needs to know, as plain values, built by ``runner`` from the
config's memory and restart sections and the terminal flags. What the teller and the
conversation need (state, hooks, notifications, resume) ``runner`` gives them from
their own sections of the config."""

from typing import NamedTuple

from guardrun.supervisor.breaker import Policy
from guardrun.units import Threshold


class RunSettings(NamedTuple):
    """Built by ``runner.settings_from_config`` alone: every default is the config
    schema's (``config.schema.KEYS``), declared once there."""

    argv: list[str]
    warning: Threshold  # memory.*
    critical: Threshold
    emergency: Threshold
    metric: str
    probe: str
    interval: float
    sustained: int
    hysteresis: float  # a share of the threshold ...
    hysteresis_bytes: int | None  # ... or bytes, when memory.hysteresis is a size
    trend_window: float
    max_growth: float | None  # bytes per second; a sustained rate over it is critical
    grace: float  # restart.*
    idle_quiet: float
    idle_wait: float
    plan_ahead: float  # planned restart when emergency is predicted within this ...
    idle: float  # ... and the agent has been idle this long (0: no planning)
    restart: bool
    on_crash: bool
    min_uptime: float  # a command that fails sooner has a start problem, not a crash
    on_exhausted: str
    policy: Policy  # restart protection: attempts, window, cooldowns
    pty: bool | None  # --no-pty; None: when stdin and stdout are terminals
    priority: int  # several runs over the machine budget: the lowest gives way first
    cwd: str | None = None  # where the child starts (None: guardrun's own directory)
