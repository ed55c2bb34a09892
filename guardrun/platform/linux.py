"""Linux backend: the tree from ``/proc/<pid>/task/<tid>/children``, RSS from ``statm``.

Cost model (docs/architecture.md, "Costs"; 2 cores): ``os.pread`` on a kept-open statm fd is ~1 µs
against ~8 µs for open+read, and walking the children files costs in proportion
to the tree, where a scan of every ``/proc/*/stat`` grows with the machine. So
every pid of the tree keeps two kinds of fd open between polls: its ``statm``
and one ``children`` file per thread (a child forked by a non-main thread is
listed only in that thread's file). Thread lists are re-read every
``rescan_every`` polls and whenever a pid is first seen. A kept fd of a process
that has exited fails with ESRCH, so a reused pid is never misread: it is
reopened as the new process it now is, if the walk still reaches it.

``/proc/<pid>/statm`` fields, in pages: size resident shared text lib data dt.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable

from guardrun.errors import ProbeError
from guardrun.platform.types import ProcSample, TreeSample

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_GONE = (errno.ESRCH, errno.ENOENT)


class _Entry:
    __slots__ = ("statm", "children", "tids")

    def __init__(self, statm: int) -> None:
        self.statm = statm
        self.children: list[int] = []
        self.tids: list[str] = []

    def close(self) -> None:
        for fd in (self.statm, *self.children):
            try:
                os.close(fd)
            except OSError:
                pass
        self.children = []


class ProcProbe:
    """The ``proc`` backend. Not thread-safe: one supervisor loop owns it."""

    name = "proc"

    def __init__(self, proc: str = "/proc", rescan_every: int = 10) -> None:
        self._proc = proc
        self._rescan_every = max(1, rescan_every)
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._entries: dict[int, _Entry] = {}
        self._polls = 0
        me = f"{proc}/self"
        try:
            os.close(os.open(f"{me}/statm", _FLAGS))
            tid = os.listdir(f"{me}/task")[0]
            os.close(os.open(f"{me}/task/{tid}/children", _FLAGS))
        except (OSError, IndexError) as err:
            raise ProbeError(f"{proc} cannot be read for the tree ({err})") from err

    def _open(self, pid: int) -> _Entry | None:
        try:
            entry = _Entry(os.open(f"{self._proc}/{pid}/statm", _FLAGS))
        except OSError:
            return None
        self._entries[pid] = entry
        self._rescan(pid, entry)
        return entry

    def _rescan(self, pid: int, entry: _Entry) -> None:
        try:
            tids = os.listdir(f"{self._proc}/{pid}/task")
        except OSError:
            return
        if tids == entry.tids:
            return
        for fd in entry.children:
            os.close(fd)
        entry.children = []
        entry.tids = tids
        for tid in tids:
            try:
                entry.children.append(os.open(f"{self._proc}/{pid}/task/{tid}/children", _FLAGS))
            except OSError:
                pass  # the thread ended between listdir and open

    def _statm(self, pid: int, entry: _Entry) -> bytes:
        try:
            return os.pread(entry.statm, 256, 0)
        except OSError as err:
            if err.errno in _GONE:
                return b""
            raise ProbeError(f"reading {self._proc}/{pid}/statm: {err}") from err

    def _drop(self, pid: int) -> None:
        entry = self._entries.pop(pid, None)
        if entry is not None:
            entry.close()

    def sample(self, roots: Iterable[int]) -> TreeSample:
        self._polls += 1
        rescan = self._polls % self._rescan_every == 0
        page = self._page
        pread = os.pread
        new = tuple.__new__
        entries = self._entries
        procs: list[ProcSample] = []
        seen: set[int] = set()
        stack: list[tuple[int, int]] = [(pid, 0) for pid in roots]
        while stack:
            pid, ppid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            entry = entries.get(pid)
            if entry is None:
                entry = self._open(pid)
                if entry is None:
                    continue
            elif rescan:
                self._rescan(pid, entry)
            try:  # inline: once per process per poll (``_statm`` for the cold paths)
                data = pread(entry.statm, 256, 0)
            except OSError as err:
                if err.errno not in _GONE:
                    raise ProbeError(f"reading {self._proc}/{pid}/statm: {err}") from err
                data = b""
            if not data:
                # The process behind the kept fd exited (ESRCH). The pid came from a
                # current children list (or is our unreaped child), so whatever
                # holds it now is in the tree: open it afresh.
                self._drop(pid)
                reopened = self._open(pid)
                data = self._statm(pid, reopened) if reopened is not None else b""
                if not data or reopened is None:
                    self._drop(pid)
                    continue
                entry = reopened
            # tuple.__new__: ProcSample's own __new__ is a Python call (twice the cost).
            procs.append(
                new(ProcSample, (pid, ppid, int(data.split(None, 2)[1]) * page, None, None))
            )
            for cfd in entry.children:
                try:
                    kids = pread(cfd, 4096, 0)  # ~580 pids: a page, not 64 KiB, per read
                    if len(kids) == 4096:
                        kids = pread(cfd, 1 << 20, 0)
                except OSError:
                    continue
                for kid in kids.split():
                    stack.append((int(kid), pid))
        if len(entries) > len(seen):
            for pid in [p for p in entries if p not in seen]:
                self._drop(pid)
        return TreeSample(time.monotonic(), tuple(procs))

    def close(self) -> None:
        for pid in list(self._entries):
            self._drop(pid)
