"""What the tree's memory is, and at what level: the tree's probe, the level
tracker, the PSS/USS confirmation, the machine's pressure, a short history, the
growth trend, and when to look again.

The ``footprint`` metric (the default) is what the OS charges the tree for: the
probes carry resident and swapped memory apart, and a tree alone in its own memory
cgroup (a systemd scope, a container) is read from that cgroup instead
(``platform.cgroup_tree``), checked to hold only the tree every ``ALONE_EVERY`` samples.

No reporting here: each sample comes back as a ``Tick`` and the supervisor decides
what to say and do about it.
"""

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from guardrun.errors import ProbeError
from guardrun.platform.cgroup import MemoryLimit
from guardrun.platform.types import TreeSample
from guardrun.supervisor.external import Reading
from guardrun.supervisor.levels import (
    NORMAL,
    RANK,
    LevelTracker,
    Thresholds,
    poll_interval,
    raw_level,
)
from guardrun.supervisor.settings import RunSettings
from guardrun.supervisor.tree import Tree
from guardrun.supervisor.trend import UNKNOWN, Estimate, Trend

if TYPE_CHECKING:
    from guardrun.platform.cgroup_tree import TreeCgroup

HISTORY = 120  # samples kept for states and the title's direction (trimmed to half)
FLOOR = 0.05  # the soonest the next sample comes (memory.interval's lower bound)
AIM = 0.005  # a sample aimed at a threshold's crossing comes this long after it ...
AIM_SHARE = 0.1  # ... plus this share of the time it had to wait for it
ALONE_EVERY = 10  # samples between checks that the child's cgroup holds only the tree


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
        self.trend = Trend(settings.trend_window)
        self.estimate: Estimate = UNKNOWN
        self._prev: tuple[float, int] | None = None  # the last judged (time, value)
        self._speed = 0.0  # bytes per second between the last two samples
        self._cgroup: TreeCgroup | None = None  # the child's cgroup (footprint only)
        self._alone = False  # ... holds only the tree (and guardrun)
        self._alone_in = 0  # samples until that is checked again

    @property
    def level(self) -> str:
        return self.tracker.level

    def new_child(self, pid: int) -> None:
        """A fresh child starts at normal, with no history."""
        self.tree.new_child(pid)
        self.tracker.reset()
        self.history = []
        self.last_sample = None
        self.trend.reset()
        self.estimate = UNKNOWN
        self._prev, self._speed = None, 0.0
        if self._cgroup is not None:
            self._cgroup.close()
        self._cgroup, self._alone, self._alone_in = None, False, 0
        if self.metric == "footprint":
            from guardrun.platform.cgroup_tree import TreeCgroup

            self._cgroup = TreeCgroup.of(pid)  # None where there is none (not Linux)

    def sample(self) -> TreeSample | None:
        """Read the tree now (None when no probe works)."""
        sample = self.tree.sample()
        if sample is None:
            return None
        if self._cgroup is not None:
            sample = self._from_cgroup(sample, self._cgroup)
        self.last_sample = sample
        value = sample.total(self.metric) if self.metric in ("rss", "footprint") else sample.rss
        self.history.append((time.time(), value))
        if len(self.history) > HISTORY:
            del self.history[: -HISTORY // 2]
        return sample

    def judge(self, sample: TreeSample, now: float) -> Tick:
        previous = self.tracker.level
        value = self._value(sample)
        level = self.tracker.update(value)
        self.trend.add(now, value)
        t = self.thresholds
        self.estimate = self.trend.estimate(t.critical, t.emergency)
        prev = self._prev
        self._speed = (value - prev[1]) / (now - prev[0]) if prev and now > prev[0] else 0.0
        self._prev = (now, value)
        ext = self.external.check(now, sample.pids) if self.external is not None else None
        changed = ext is not None and ext.level != self.external_level
        if ext is not None:
            self.external_level = ext.level
        return Tick(self.last_sample or sample, value, previous, level, ext, changed)

    def next_delay(self, acting: str) -> float:
        """Seconds until the next sample: the level's interval (shorter at warning and
        critical, and while a level's sustain is building), or sooner when the tree,
        at the speed it had between the last two samples, would reach the next
        threshold before then: halfway there while it is far, then just after the
        crossing, never sooner than ``FLOOR``. A fast leak is caught just past a
        threshold; a flat tree is still sampled once per interval."""
        prev = self._prev
        value = prev[1] if prev is not None else 0
        raw = raw_level(value, self.thresholds)
        level = raw if RANK[raw] > RANK[acting] else acting
        ceiling = poll_interval(level, self.s.interval)
        speed = self._speed
        if speed <= 0 or prev is None:
            return ceiling
        t = self.thresholds
        for threshold in (t.warning, t.critical, t.emergency):
            if value < threshold:
                due = (threshold - value) / speed  # seconds until it crosses, at this speed
                # Far: look again halfway, to learn the speed afresh. Near (under two
                # floors): just after the crossing, so it is seen barely past.
                # (Past it by a margin that grows with the distance: a speed read over
                # a tenth of a second is a few percent off, and a sample just short of
                # the crossing costs a whole floor more of overshoot.)
                delay = due / 2 if due >= 2 * FLOOR else max(FLOOR, due * (1 + AIM_SHARE) + AIM)
                return min(ceiling, delay)
        return ceiling

    def probe_again(self) -> str:
        """Try the backends again (unwatched); the working one's name, or ProbeError."""
        self.tree.open_probes(self.s.probe)
        if self.tree.sample() is None:
            raise ProbeError("the probe opened but cannot read the tree")
        return self.tree.probe.name if self.tree.probe is not None else "?"

    def _from_cgroup(self, sample: TreeSample, cgroup: "TreeCgroup") -> TreeSample:
        """The sample with its cgroup's charge, while the cgroup holds only the tree."""
        self._alone_in -= 1
        if self._alone_in <= 0:
            self._alone_in = ALONE_EVERY
            from guardrun.platform import own_children

            ours = {*sample.pids, os.getpid(), *own_children()}
            self._alone = cgroup.holds_only(ours)
        if not self._alone:
            return sample
        from guardrun.platform.cgroup_tree import own_charge

        charge = cgroup.charge(own_charge())
        return sample if charge is None else sample._replace(cgroup=charge)

    def _value(self, sample: TreeSample) -> int:
        if self.metric in ("rss", "footprint"):
            return sample.total(self.metric)
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
        if self._cgroup is not None:
            self._cgroup.close()
            self._cgroup = None
        self.tree.close()
        if self.external is not None:
            self.external.close()
