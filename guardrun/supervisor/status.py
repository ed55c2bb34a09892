"""``RunStatus``: what a run is doing, as one immutable snapshot.

The teller (``observe.observer``), the conversation, the live file, the terminal title
and the events read this; none of them ever receives the ``Supervisor``. The
supervisor builds one whenever it has something to tell (a sample, a level change, a
restart), so readers always see a consistent picture.
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from guardrun.platform.types import TreeSample
from guardrun.supervisor.levels import Thresholds


class RunStatus(NamedTuple):
    name: str  # the command's basename, for messages
    metric: str  # footprint | rss | pss | uss
    mode: str  # degradation mode
    level: str  # the tree's level
    restarts: int  # restarts so far in this run
    child_pid: int | None = None
    child_argv: Sequence[str] = ()
    child_started_wall: float | None = None  # time.time() at spawn
    child_exit: int | None = None  # exit code, or -N for signal N; None while it runs
    sample: TreeSample | None = None
    history: Sequence[tuple[float, int]] = ()  # (time.time(), tree bytes), oldest first
    thresholds: Thresholds | None = None
    cgroup_dir: str | None = None  # where the memory limit comes from, if a cgroup
    breaker: Mapping[str, object] = {}
    next_restart_at: float | None = None  # time.time() when restarts are allowed again
    env: Mapping[str, str] = {}
    child_title: str | None = None  # the agent's own terminal title
    priority: int = 0  # several runs: the lowest gives way first
    idle_since: float | None = None  # wall time of the child's last output or keys
    passed: bool = False  # restart protection refused this run's turn to give way
    stopped: str | None = None  # the signal that stopped the child (Ctrl-Z), while stopped
    budget: int | None = None  # machine.budget in bytes (None: none set)
    machine_level: str = "normal"  # the machine's pressure level (RAM, PSI, GPU)
    growth: float | None = None  # bytes per second over the trend's window (None: unknown)
    eta_critical: float | None = None  # seconds until critical at that rate
    eta_emergency: float | None = None
    session_id: str | None = None  # the agent's conversation, once known

    def trend(self) -> dict[str, float | None]:
        """The trend as the live file, events, states and ``status --json`` name it."""
        return {
            "growth_bytes_per_second": _round(self.growth),
            "eta_critical_seconds": _round(self.eta_critical),
            "eta_emergency_seconds": _round(self.eta_emergency),
        }

    @property
    def memory_bytes(self) -> int | None:
        return None if self.sample is None else self.sample.total(self.metric)

    @property
    def swapped_bytes(self) -> int | None:
        """The part of the tree's memory out of RAM (swap, zram, compressed, paged out)."""
        return None if self.sample is None else self.sample.swapped

    @property
    def memory_source(self) -> str | None:
        """Where the figure comes from: ``cgroup <dir>`` for a tree alone in its cgroup,
        else ``processes`` (the sum over the tree's processes)."""
        if self.sample is None:
            return None
        cg = self.sample.cgroup
        return "processes" if cg is None else f"cgroup {cg.source}"

    @property
    def processes(self) -> int | None:
        return None if self.sample is None else len(self.sample.procs)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
