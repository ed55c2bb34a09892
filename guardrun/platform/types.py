"""The types every backend returns: imported by the backends, never ``__init__``
(so a backend module does not pull in the facade that picks it)."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable

RSS = itemgetter(2)  # ProcSample.rss, read in C (a tree's total, several times a sample)


class ProcSample(NamedTuple):
    """One process of the tree. Sizes in bytes; pss/uss only when read (Linux smaps_rollup)."""

    pid: int
    ppid: int
    rss: int
    pss: int | None = None
    uss: int | None = None


class TreeSample(NamedTuple):
    """The tree at one moment. ``taken_at`` is ``time.monotonic()``."""

    taken_at: float
    procs: tuple[ProcSample, ...]

    @property
    def rss(self) -> int:
        return sum(map(RSS, self.procs))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def total(self, metric: str = "rss") -> int:
        """Sum of ``metric`` over the tree; processes without that reading count their RSS."""
        if metric == "rss":
            return self.rss
        total = 0
        for p in self.procs:
            value = getattr(p, metric)
            total += p.rss if value is None else value
        return total

    def top(self, n: int = 5) -> list[ProcSample]:
        return sorted(self.procs, key=lambda p: p.rss, reverse=True)[:n]


class Probe(Protocol):
    """A memory backend."""

    name: str

    def sample(self, roots: Iterable[int]) -> TreeSample:
        """The processes under ``roots`` (each root and all its descendants)."""
        ...

    def close(self) -> None: ...
