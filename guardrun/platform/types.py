"""The types every backend returns: imported by the backends, never ``__init__``
(so a backend module does not pull in the facade that picks it)."""

from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple, Protocol

RSS = itemgetter(2)  # ProcSample.rss, read in C (a tree's total, several times a sample)
SWAP = itemgetter(5)  # ProcSample.swap
FOOTPRINT = itemgetter(6)  # ProcSample.footprint

# What ``memory.metric`` may name. ``footprint`` is what the OS charges a process for
# (what its OOM killer, jetsam or commit limit counts): resident + swapped on Linux,
# phys_footprint on macOS, private bytes on Windows.
METRICS = ("footprint", "rss", "pss", "uss")


class ProcSample(NamedTuple):
    """One process of the tree. Sizes in bytes; pss/uss only when read (Linux smaps_rollup).

    ``rss`` is what is resident in RAM; ``swap`` what the OS charges the process for
    beyond that: swap entries (Linux ``VmSwap``, zram and zswap included), compressed or
    swapped pages (macOS: phys_footprint over RSS), paged-out private bytes (Windows:
    private over the working set). ``footprint`` is the OS's own figure where it has
    one (macOS phys_footprint, Windows private bytes); None means ``rss + swap``."""

    pid: int
    ppid: int
    rss: int
    pss: int | None = None
    uss: int | None = None
    swap: int = 0
    footprint: int | None = None

    @property
    def charged(self) -> int:
        """What the OS charges this process for (the ``footprint`` metric)."""
        return self.rss + self.swap if self.footprint is None else self.footprint


def charged(pid: int, ppid: int, rss: int, footprint: int | None) -> ProcSample:
    """A process whose OS gave its own footprint (macOS, Windows): the part of it not
    resident is its ``swap`` (compressed, swapped or paged out)."""
    if footprint is None:
        return ProcSample(pid, ppid, rss)
    return ProcSample(pid, ppid, rss, None, None, max(0, footprint - rss), footprint)


class Charge(NamedTuple):
    """A tree read as a whole from its own memory cgroup (anonymous + kernel resident,
    and swap; page cache left out)."""

    resident: int
    swapped: int
    source: str  # the cgroup directory


class TreeSample(NamedTuple):
    """The tree at one moment. ``taken_at`` is ``time.monotonic()``. ``cgroup``: the
    tree's own cgroup's charge, when the tree is alone in one (it then is the footprint)."""

    taken_at: float
    procs: tuple[ProcSample, ...]
    cgroup: Charge | None = None

    @property
    def rss(self) -> int:
        return sum(map(RSS, self.procs))

    @property
    def swapped(self) -> int:
        """Bytes charged but not resident (swap, compressed, paged out)."""
        if self.cgroup is not None:
            return self.cgroup.swapped
        return int(sum(map(SWAP, self.procs)))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def total(self, metric: str = "rss") -> int:
        """Sum of ``metric`` over the tree; processes without that reading count their RSS."""
        if metric == "rss":
            return self.rss
        if metric == "footprint":
            if self.cgroup is not None:
                return self.cgroup.resident + self.cgroup.swapped
            procs = self.procs
            if list(map(FOOTPRINT, procs)).count(None) == len(procs):  # Linux: in C
                return int(sum(map(RSS, procs)) + sum(map(SWAP, procs)))
            return sum(p.charged for p in procs)
        total = 0
        for p in self.procs:
            value = getattr(p, metric)
            total += p.rss if value is None else value
        return total

    def resident(self, metric: str = "rss") -> int:
        """The part of ``total(metric)`` that is in RAM (what is not ``swapped``)."""
        total = self.total(metric)
        return total - self.swapped if metric == "footprint" else total

    def top(self, n: int = 5) -> list[ProcSample]:
        return sorted(self.procs, key=lambda p: p.charged, reverse=True)[:n]


class Probe(Protocol):
    """A memory backend."""

    name: str

    def sample(self, roots: Iterable[int]) -> TreeSample:
        """The processes under ``roots`` (each root and all its descendants)."""
        ...

    def close(self) -> None: ...
