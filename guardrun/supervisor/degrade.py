"""Degradation modes (pure): what guardrun does when it cannot do what it would.

normal          watching, restarting when memory says so.
monitor_only    restart protection refused: the child keeps running and keeps
                being watched, reported and notified; a later allowed restart
                (the breaker's half-open probe) brings back ``normal``.
unwatched       no memory probe works: the child keeps running, guardrun says so.
emergency_stop  restarts refused and memory at emergency with on_exhausted=stop:
                capture, stop the tree, exit 75. Terminal.
"""

from typing import NamedTuple

NORMAL, MONITOR_ONLY, UNWATCHED, EMERGENCY_STOP = (
    "normal",
    "monitor_only",
    "unwatched",
    "emergency_stop",
)
MODES = (NORMAL, MONITOR_ONLY, UNWATCHED, EMERGENCY_STOP)

# Inputs the supervisor reports.
RESTART_REFUSED = "restart_refused"
RESTART_ALLOWED = "restart_allowed"
EMERGENCY_REFUSED = "emergency_refused"  # at emergency and the breaker refuses
PROBE_LOST = "probe_lost"  # every backend failed
PROBE_BACK = "probe_back"  # a backend works again
EVENTS = (RESTART_REFUSED, RESTART_ALLOWED, EMERGENCY_REFUSED, PROBE_LOST, PROBE_BACK)


class Transition(NamedTuple):
    mode: str
    changed: bool
    action: str  # "none" | "warn" | "stop" (capture, stop the tree, exit 75)
    previous: str = ""  # the mode before


def next_mode(mode: str, event: str, on_exhausted: str = "monitor") -> Transition:
    """The mode after ``event`` in ``mode``."""
    if mode not in MODES or event not in EVENTS:
        raise ValueError(f"unknown mode or event: {mode!r}, {event!r}")
    if on_exhausted not in ("monitor", "stop"):
        raise ValueError(f"unknown on_exhausted: {on_exhausted!r}")
    if mode == EMERGENCY_STOP:
        return Transition(mode, False, "none", mode)
    new, action = mode, "none"
    if event == PROBE_LOST:
        new, action = UNWATCHED, "warn"
    elif mode == UNWATCHED:
        # Memory is unknown: only a working probe changes anything.
        if event == PROBE_BACK:
            new = NORMAL
    elif event == RESTART_REFUSED:
        new, action = MONITOR_ONLY, "warn"
    elif event == EMERGENCY_REFUSED:
        if on_exhausted == "stop":
            new, action = EMERGENCY_STOP, "stop"
        else:
            new, action = MONITOR_ONLY, "warn"
    elif event == RESTART_ALLOWED:
        new = NORMAL
    if new == mode and action == "warn":
        action = "none"  # already degraded this way: say it once
    return Transition(new, new != mode, action, mode)
