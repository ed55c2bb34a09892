"""What the tree's memory is, and at what level: the tree's probe, the level
tracker, the PSS/USS confirmation, the machine's pressure and a short history.

No reporting here: each sample comes back as a ``Tick`` and the supervisor decides
what to say and do about it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from guardrun.errors import ProbeError
from guardrun.platform.cgroup import MemoryLimit
from guardrun.platform.types import TreeSample
from guardrun.supervisor.levels import NORMAL, LevelTracker, Thresholds
from guardrun.supervisor.settings import RunSettings
from guardrun.supervisor.tree import Tree

if TYPE_CHECKING:
    from guardrun.supervisor.external import Reading

HISTORY = 120  # samples kept for states and the title's direction (trimmed to half)


class Pressure(Protocol):
    """Whole-machine pressure (RAM, PSI, GPU): ``supervisor.external.ExternalPressure``."""

    def check(self, now: float, pids: list[int]) -> Reading: ...
    def close(self) -> None: ...


class Tick(NamedTuple):
    sample: TreeSample
    value: int  # what levels are judged on (metric, PSS confirmed when near a threshold)
    previous: str  # the tree's level before this sample
    level: str  # ... and after it
    external: Reading | None  # the machine's pressure (None: not watched)
    external_changed: bool


class MemoryWatch:
    def __init__(
        self,
        settings: RunSettings,
        limit: MemoryLimit,
        tree: Tree,
        external: Pressure | None,
        warn: Callable[[str], None],
    ) -> None:
        self.s = settings
        self.metric = settings.metric
        self.limit = limit
        self.tree = tree
        self.external = external
        self._warn = warn
        total = limit.bytes
        self.thresholds = Thresholds(
            settings.warning.resolve(total),
            settings.critical.resolve(total),
            settings.emergency.resolve(total),
        )
        self.tracker = LevelTracker(
            self.thresholds, settings.sustained, settings.hysteresis, settings.hysteresis_bytes
        )
        self.last_sample: TreeSample | None = None
        self.history: list[tuple[float, int]] = []
        self.external_level = NORMAL
        self._pss: object = None

    @property
    def level(self) -> str:
        return self.tracker.level

    def new_child(self, pid: int) -> None:
        """A fresh child starts at normal, with no history."""
        self.tree.new_child(pid)
        self.tracker.reset()
        self.history = []
        self.last_sample = None

    def sample(self) -> TreeSample | None:
        """Read the tree now (None when no probe works)."""
        sample = self.tree.sample()
        if sample is None:
            return None
        self.last_sample = sample
        self.history.append((time.time(), sample.rss))
        if len(self.history) > HISTORY:
            del self.history[: -HISTORY // 2]
        return sample

    def judge(self, sample: TreeSample, now: float) -> Tick:
        previous = self.tracker.level
        value = self._value(sample)
        level = self.tracker.update(value)
        ext = self.external.check(now, sample.pids) if self.external is not None else None
        changed = ext is not None and ext.level != self.external_level
        if ext is not None:
            self.external_level = ext.level
        return Tick(self.last_sample or sample, value, previous, level, ext, changed)

    def probe_again(self) -> str:
        """Try the backends again (unwatched); the working one's name, or ProbeError."""
        self.tree.open_probes(self.s.probe)
        if self.tree.sample() is None:
            raise ProbeError("the probe opened but cannot read the tree")
        return self.tree.probe.name if self.tree.probe is not None else "?"

    def _value(self, sample: TreeSample) -> int:
        if self.metric == "rss":
            return sample.rss
        # USS <= PSS <= RSS: under the lowest threshold in play, RSS settles it cheaply.
        if sample.rss < self.thresholds.warning * (1 - self.s.hysteresis):
            return sample.rss
        from guardrun.platform.smaps import PssConfirmer, supported

        if self._pss is None:
            if not supported():
                self._warn(f"metric {self.metric} needs smaps_rollup (Linux): using rss")
                self.metric = "rss"
                return sample.rss
            self._pss = PssConfirmer()
        assert isinstance(self._pss, PssConfirmer)
        full = self._pss.with_pss(sample)
        self.last_sample = full
        return int(full.total(self.metric))

    def close(self) -> None:
        self.tree.close()
        if self.external is not None:
            self.external.close()
