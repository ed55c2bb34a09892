"""How memory is read on each OS, behind one interface.

Every backend has the same shape: ``sample(roots)`` returns a :class:`TreeSample`
of the processes under ``roots`` (the child, plus any orphans guardrun adopted
as a subreaper), and ``close()`` releases what it keeps open. Backends know
nothing of thresholds; they raise :class:`guardrun.errors.ProbeError` when they
cannot read, and the supervisor falls back to the next one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from guardrun.errors import ProbeError, UsageError


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
        return sum(p.rss for p in self.procs)

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


PROBE_NAMES = ("proc", "psutil", "ps", "wmi")


def backend_order(system: str | None = None) -> list[str]:
    """Backends to try, best first, for ``system`` (``sys.platform`` by default)."""
    system = system or sys.platform
    if system.startswith("linux"):
        return ["proc", "psutil", "ps"]
    if system == "win32":
        return ["psutil", "wmi"]
    return ["psutil", "ps"]


def make_probe(name: str) -> Probe:
    """Build the backend called ``name``; ProbeError when it cannot run here."""
    if name == "proc":
        from guardrun.platform.linux import ProcProbe

        return ProcProbe()
    if name == "psutil":
        from guardrun.platform.portable import PsutilProbe

        return PsutilProbe()
    if name == "ps":
        from guardrun.platform.ps import PsProbe

        return PsProbe()
    if name == "wmi":
        from guardrun.platform.windows import WmiProbe

        return WmiProbe()
    raise UsageError(f"unknown probe {name!r} (choose from auto, {', '.join(PROBE_NAMES)})")


def probe_names(name: str = "auto") -> list[str]:
    """Backends to try for ``--probe NAME``: the fallback order, or just the one forced."""
    return backend_order() if name == "auto" else [name]


def open_next(names: list[str], errors: list[str]) -> Probe | None:
    """Open the first backend of ``names`` that works, consuming ``names`` up to it;
    why each one before it failed is appended to ``errors``."""
    while names:
        name = names.pop(0)
        try:
            return make_probe(name)
        except ProbeError as err:
            errors.append(f"{name}: {err}")
    return None


def available_probes(name: str = "auto") -> list[Probe]:
    """Every working backend in fallback order; ``name`` other than auto forces one."""
    names = probe_names(name)
    probes: list[Probe] = []
    errors: list[str] = []
    while (probe := open_next(names, errors)) is not None:
        probes.append(probe)
    if not probes:
        raise ProbeError("no memory probe works here (" + "; ".join(errors) + ")")
    return probes


def default_probe(name: str = "auto") -> Probe:
    return available_probes(name)[0]


def physical_memory() -> int:
    """Bytes of physical RAM."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        import psutil

        return int(psutil.virtual_memory().total)
