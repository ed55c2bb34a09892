"""Portable backend over psutil: ``children(recursive=True)`` and ``memory_info()``.

psutil's recursive walk reads the whole process table each time (milliseconds
for a tree of 50, growing with every process on the machine: docs/benchmarks.md),
so this is the fallback on Linux and the first choice where ``/proc`` is absent.
Process objects are kept between polls: reusing one costs less than half of a new
one, and psutil checks its create time so a reused pid is not misread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from guardrun.errors import ProbeError
from guardrun.platform.types import ProcSample, TreeSample, charged

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


class PsutilProbe:
    name = "psutil"

    def __init__(
        self,
        footprint: Callable[[int], int | None] | None = None,
        private: bool = False,
        psutil: Any = None,
    ) -> None:
        """``footprint``: pid -> the OS's footprint (macOS libproc); ``private``: take
        ``memory_info().private`` as it (Windows). ``psutil``: the module (tests give a
        fake of Windows' psutil)."""
        if psutil is None:
            try:
                import psutil
            except ImportError as err:  # pragma: no cover - a declared dependency
                raise ProbeError("psutil is not installed") from err
        self._psutil: Any = psutil
        self._footprint = footprint
        self._private = private
        self._procs: dict[int, Any] = {}

    def _process(self, pid: int) -> Any:
        proc = self._procs.get(pid)
        if proc is None or not proc.is_running():
            proc = self._psutil.Process(pid)
            self._procs[pid] = proc
        return proc

    def sample(self, roots: Iterable[int]) -> TreeSample:
        ps = self._psutil
        procs: list[ProcSample] = []
        seen: set[int] = set()
        for root in roots:
            try:
                top = self._process(root)
                members = [(top, 0)]
                for kid in top.children(recursive=True):
                    members.append((kid, -1))
            except (ps.NoSuchProcess, ps.ZombieProcess):
                continue
            except ps.Error as err:
                raise ProbeError(f"psutil cannot read process {root}: {err}") from err
            for proc, ppid in members:
                if proc.pid in seen:
                    continue
                try:
                    info = proc.memory_info()
                    rss = info.rss
                    if ppid < 0:
                        ppid = proc.ppid()
                except (ps.NoSuchProcess, ps.ZombieProcess):
                    continue
                except ps.AccessDenied as err:
                    raise ProbeError(f"psutil: access denied to process {proc.pid}") from err
                seen.add(proc.pid)
                self._procs.setdefault(proc.pid, proc)
                foot: int | None = None
                if self._private:
                    foot = getattr(info, "private", None)
                elif self._footprint is not None:
                    foot = self._footprint(proc.pid)
                procs.append(
                    ProcSample(proc.pid, ppid, int(rss))
                    if foot is None
                    else charged(proc.pid, ppid, int(rss), int(foot))
                )
        for pid in [p for p in self._procs if p not in seen]:
            del self._procs[pid]
        return TreeSample(time.monotonic(), tuple(procs))

    def close(self) -> None:
        self._procs.clear()
