"""Memory levels with sustain and hysteresis (pure: values in, decisions out).

A sample's raw level is the highest threshold it is at or over. Climbing to a
level takes ``sustained`` consecutive samples at or over it, so one spike (a
ripgrep burst, a GC pause) does not restart an agent; emergency acts on the
first sample, because at that point waiting costs more than a false alarm.
Falling is immediate but only once memory is a hysteresis margin under the
level's threshold, so a tree hovering at a threshold does not flap.
"""

from typing import NamedTuple

NORMAL, WARNING, CRITICAL, EMERGENCY = "normal", "warning", "critical", "emergency"
LEVELS = (NORMAL, WARNING, CRITICAL, EMERGENCY)
RANK = {name: i for i, name in enumerate(LEVELS)}


class Thresholds(NamedTuple):
    """Resolved thresholds in bytes (percentages already applied to the limit)."""

    warning: int
    critical: int
    emergency: int

    def of(self, level: str) -> int:
        return int(getattr(self, level))

    def as_dict(self) -> dict[str, int]:
        return {WARNING: self.warning, CRITICAL: self.critical, EMERGENCY: self.emergency}


def raw_level(value: int, thresholds: Thresholds) -> str:
    """The highest level whose threshold ``value`` is at or over."""
    for level in (EMERGENCY, CRITICAL, WARNING):
        if value >= thresholds.of(level):
            return level
    return NORMAL


class LevelTracker:
    """Feeds samples through sustain and hysteresis; ``level`` is the acting level."""

    def __init__(
        self,
        thresholds: Thresholds,
        sustained: int = 3,
        hysteresis: float = 0.05,
        hysteresis_bytes: int | None = None,
    ) -> None:
        if sustained < 1:
            raise ValueError("sustained must be at least 1")
        self.thresholds = thresholds
        self.sustained = sustained
        self.hysteresis = hysteresis
        self.hysteresis_bytes = hysteresis_bytes
        self.level = NORMAL
        self._streak = {WARNING: 0, CRITICAL: 0, EMERGENCY: 0}

    def exit_point(self, level: str) -> int:
        """Memory must fall under this to leave ``level``."""
        threshold = self.thresholds.of(level)
        if self.hysteresis_bytes is not None:
            return threshold - self.hysteresis_bytes
        return int(threshold * (1.0 - self.hysteresis))

    def update(self, value: int) -> str:
        """Record one sample; return the level to act on."""
        for level in (WARNING, CRITICAL, EMERGENCY):
            if value >= self.thresholds.of(level):
                self._streak[level] += 1
            else:
                self._streak[level] = 0
        current = RANK[self.level]
        if value >= self.thresholds.emergency:
            self.level = EMERGENCY
            return self.level
        for level in (CRITICAL, WARNING):
            if RANK[level] > current and self._streak[level] >= self.sustained:
                self.level = level
                return self.level
        while self.level != NORMAL and value < self.exit_point(self.level):
            self.level = LEVELS[RANK[self.level] - 1]
        return self.level

    def reset(self) -> None:
        """Forget history (a fresh child starts at normal)."""
        self.level = NORMAL
        self._streak = dict.fromkeys(self._streak, 0)


def poll_interval(level: str, base: float) -> float:
    """Faster polling when closer to acting: overshoot is growth rate x interval."""
    if level == WARNING:
        return base / 2
    if level in (CRITICAL, EMERGENCY):
        return base / 4
    return base
