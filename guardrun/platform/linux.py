"""Linux backend: the tree from ``/proc/<pid>/task/<tid>/children``, RSS from ``statm``.

Cost model (docs/benchmarks.md, "Costs"): ``os.pread`` on a kept-open statm fd is a
fraction of an open+read, and walking the children files costs in proportion
to the tree, where a scan of every ``/proc/*/stat`` grows with the machine. So
every pid of the tree keeps two kinds of fd open between polls: its ``statm``
and one ``children`` file per thread (a child forked by a non-main thread is
listed only in that thread's file). Thread lists are re-read every
``rescan_every`` polls and whenever a pid is first seen. A kept fd of a process
that has exited fails with ESRCH, so a reused pid is never misread: it is
reopened as the new process it now is, if the walk still reaches it.

Between walks the tree can only gain a process by a fork or a clone, and every
one takes a pid: the last pid the kernel handed out (the last field of
``/proc/loadavg``, of guardrun's pid namespace, which holds the pids of every
namespace below it) stands still while nothing on the machine forks. While it
stands still, the roots are the same and every process of the last walk still
has its memory (a process that exits, even a zombie not yet reaped, reads 0 in
``statm``'s first field, and its children move to a subreaper: a new root), the
tree is the last walk's: only the ``statm`` files are read, not the ``children``
ones (half the reads). The counter is trusted once it was seen to move, and
never again once a walk finds a newcomer it did not show (a kernel where it
stands still, or a fake ``/proc`` without it, walks every time); after the
counter moves the tree is walked twice (a fork in flight as the counter was read
is linked to its parent a moment later), and every ``rescan_every`` polls the
tree is walked anyway. A machine where something forks every second walks
every time, as before. At either kind of poll, what reads as at the last one (a
``statm``, a ``children`` file) is not parsed again, and a tree that stood still
comes back as the same tuple of samples.

``/proc/<pid>/statm`` fields, in pages: size resident shared text lib data dt.

Swapped memory (the ``footprint`` metric counts it: what the OOM killer charges a
process for is its resident memory and its swap entries) is not in ``statm``. It is
``VmSwap`` of ``/proc/<pid>/status`` (kB; swap on zram and pages held by zswap
included, as both keep a swap entry), read through a kept fd as ``statm`` is, and
only while the machine has swap in use: ``/proc/swaps`` (a kept fd, its ``Used``
column) is read every ``rescan_every`` polls, and while it says nothing is swapped
no ``status`` is read. While swap is in use a process's ``status`` is read when its
``statm`` changed (a page swapped out leaves RSS, one swapped in comes back to it)
and at every ``rescan_every``-th poll (swap freed without a change in ``statm``, by
``MADV_DONTNEED`` of swapped pages); an idle tree reads none in between.
"""

from __future__ import annotations

import errno
import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import ProbeError
from guardrun.platform.types import ProcSample, TreeSample

if TYPE_CHECKING:
    from collections.abc import Iterable

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_GONE = (errno.ESRCH, errno.ENOENT)


_FORKS_UNKNOWN = b""


class _Entry:
    __slots__ = ("statm", "status", "children", "tids", "data", "sample", "kids")

    def __init__(self, statm: int) -> None:
        self.statm = statm
        self.status = -1  # /proc/<pid>/status, opened at the first swap reading
        self.children: list[int] = []
        self.tids: list[str] = []
        # What the last walk read (statm, children files) and made of it: what reads the
        # same is not parsed again (a quiet tree reads the same at every walk).
        self.data = b""
        self.sample: ProcSample | None = None
        self.kids: dict[bytes, list[tuple[int, int]]] = {}  # children file -> stack items

    def close(self) -> None:
        for fd in (self.statm, *self.children, *((self.status,) if self.status >= 0 else ())):
            try:
                os.close(fd)
            except OSError:
                pass
        self.children = []


class ProcProbe:
    """The ``proc`` backend. Not thread-safe: one supervisor loop owns it."""

    name = "proc"

    def __init__(
        self,
        proc: str = "/proc",
        rescan_every: int = 10,
        loadavg: str | None = None,
        swaps: str | None = None,
    ) -> None:
        self._proc = proc
        self._rescan_every = max(1, rescan_every)
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._entries: dict[int, _Entry] = {}
        self._polls = 0
        # The quick poll (module docstring): the last walk, its roots and the fork
        # counter read before it.
        self._walk: list[tuple[int, int, int, bool]] = []  # pid, ppid, statm fd, zombie
        # What the quick poll last read of each (b"": not yet), and the samples it made of
        # it: a statm that reads as before is the sample before, not parsed again.
        self._walk_data: list[bytes] = []
        self._walk_procs: tuple[ProcSample, ...] = ()
        self._walk_roots: tuple[int, ...] = ()
        self._walk_forks = _FORKS_UNKNOWN
        self._last_forks = _FORKS_UNKNOWN  # as read at the previous poll
        self._settled = False  # the last walk came after a whole poll without forks
        self._moved = False  # the counter was seen to move: it follows forks
        self._stuck = False  # a walk found a newcomer the counter did not show
        self._opened = False  # the walk opened a pid it had not seen
        self._zombies: set[int] = set()  # the walk's processes without memory (exited)
        try:
            self._loadavg: int | None = os.open(loadavg or f"{proc}/loadavg", _FLAGS)
        except OSError:
            self._loadavg = None
        try:
            self._swaps: int | None = os.open(swaps or f"{proc}/swaps", _FLAGS)
        except OSError:
            self._swaps = None  # no swap support (or a fake /proc): nothing is swapped
        self.swapping = self._swap_in_use()
        self.swap_reads = 0  # status files read for VmSwap (tests and benchmarks count them)
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
        self._opened = True
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

    def _swap_in_use(self) -> bool:
        """Whether any swap device (a file, a partition, zram) holds pages now."""
        if self._swaps is None:
            return False
        try:
            data = os.pread(self._swaps, 65536, 0)
        except OSError:
            return False
        return swap_used(data) > 0

    def _swap(self, pid: int, entry: _Entry) -> int:
        """Bytes of ``pid`` in swap (``VmSwap``); 0 for a process gone or without it."""
        self.swap_reads += 1
        if entry.status < 0:
            try:
                entry.status = os.open(f"{self._proc}/{pid}/status", _FLAGS)
            except OSError:
                return 0
        try:
            data = os.pread(entry.status, 4096, 0)
        except OSError:
            return 0
        return vm_swap(data)

    def _drop(self, pid: int) -> None:
        entry = self._entries.pop(pid, None)
        if entry is not None:
            entry.close()

    def _forks(self) -> bytes:
        """The last pid handed out, as ``/proc/loadavg`` says it (b"": unknown)."""
        if self._loadavg is None:
            return _FORKS_UNKNOWN
        try:
            data = os.pread(self._loadavg, 128, 0)
        except OSError:
            return _FORKS_UNKNOWN
        return data[data.rfind(b" ") + 1 :]

    def _quick(self) -> tuple[ProcSample, ...] | None:
        """The last walk's processes with their memory now; None if one exited. A statm
        that reads as at the last quick poll keeps its sample; when none changed, the
        last tuple itself comes back (readers may skip what they made of it)."""
        page = self._page
        pread = os.pread
        new = tuple.__new__
        last = self._walk_data
        procs: list[ProcSample] | None = None  # made at the first change
        for i, (pid, ppid, fd, zombie) in enumerate(self._walk):
            try:
                data = pread(fd, 256, 0)
            except OSError:
                data = b""  # gone (ESRCH)
            if data == last[i] and data:
                continue
            fields = data.split(None, 2)
            if len(fields) < 2 or (fields[0] == b"0") != zombie:
                # Gone, or exiting (its children go to a subreaper): a walk must say, and
                # until one has, nothing read here is taken as read.
                self._walk_data = [b""] * len(last)
                return None
            if procs is None:
                procs = list(self._walk_procs)
            swap = self._swap(pid, self._entries[pid]) if self.swapping else 0
            procs[i] = new(ProcSample, (pid, ppid, int(fields[1]) * page, None, None, swap, None))
            last[i] = data
        if procs is not None:
            self._walk_procs = tuple(procs)
        return self._walk_procs

    def sample(self, roots: Iterable[int]) -> TreeSample:
        self._polls += 1
        rescan = self._polls % self._rescan_every == 0
        roots = tuple(roots)
        if rescan:
            swapping = self._swap_in_use()
            if swapping != self.swapping:
                self.swapping = swapping
                for entry in self._entries.values():
                    entry.data = b""  # every process read afresh, with or without swap
        forks = self._forks()
        settled = forks == self._last_forks
        if not settled and self._last_forks and forks:
            self._moved = True
        self._last_forks = forks
        if (
            settled
            and self._settled
            and self._moved
            and not self._stuck
            and not rescan
            and forks == self._walk_forks
            and roots == self._walk_roots
        ):
            quick = self._quick()
            if quick is not None:
                return TreeSample(time.monotonic(), quick)
        self._opened = False
        self._zombies = set()
        sample = self._walk_tree(roots, rescan)
        if (
            self._opened
            and self._settled
            and forks
            and forks == self._walk_forks
            and roots == self._walk_roots
        ):
            # A newcomer, though nothing forked since a walk that missed no fork in
            # flight: this counter does not follow forks here. Walk every time.
            self._stuck = True
        self._settled = settled
        self._walk_forks, self._walk_roots = forks, roots
        entries, zombies = self._entries, self._zombies
        walk = [(p.pid, p.ppid, entries[p.pid].statm, p.pid in zombies) for p in sample.procs]
        if walk == self._walk and sample.procs == self._walk_procs:
            # The same tree with the same memory (the walk kept its samples): the same
            # tuple, and the quick poll's reads still stand.
            return TreeSample(sample.taken_at, self._walk_procs)
        self._walk = walk
        self._walk_data = [b""] * len(walk)
        self._walk_procs = sample.procs
        return sample

    def _walk_tree(self, roots: tuple[int, ...], rescan: bool) -> TreeSample:
        page = self._page
        swapping = self.swapping
        reswap = rescan and swapping  # every process's swap, whether or not statm changed
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
            proc = entry.sample
            if data != entry.data or proc is None or proc[1] != ppid or reswap:
                fields = data.split(None, 2)
                swap = self._swap(pid, entry) if swapping else 0
                # tuple.__new__: ProcSample's own __new__ is a Python call (twice the cost).
                made = new(ProcSample, (pid, ppid, int(fields[1]) * page, None, None, swap, None))
                if made != proc:
                    proc = made
                entry.data, entry.sample = data, proc
            if data.startswith(b"0 "):
                self._zombies.add(pid)  # no memory: exited, not yet reaped
            procs.append(proc)
            for cfd in entry.children:
                try:
                    kids = pread(cfd, 4096, 0)  # ~580 pids: a page, not 64 KiB, per read
                    if len(kids) == 4096:
                        kids = pread(cfd, 1 << 20, 0)
                except OSError:
                    continue
                if not kids:
                    continue
                items = entry.kids.get(kids)
                if items is None:
                    if len(entry.kids) > len(entry.children):
                        entry.kids.clear()  # kept: the latest of each thread's, about
                    items = entry.kids[kids] = [(int(kid), pid) for kid in kids.split()]
                stack.extend(items)
        if len(entries) > len(seen):
            for pid in [p for p in entries if p not in seen]:
                self._drop(pid)
        return TreeSample(time.monotonic(), tuple(procs))

    def close(self) -> None:
        for pid in list(self._entries):
            self._drop(pid)
        self._walk, self._walk_data, self._walk_procs = [], [], ()
        for fd in (self._loadavg, self._swaps):
            if fd is not None:
                os.close(fd)
        self._loadavg = self._swaps = None


def swap_used(swaps: bytes) -> int:
    """Bytes in use over every device of a ``/proc/swaps`` text.

    Columns: Filename Type Size Used Priority (sizes in KiB), one line per device after
    the header; a file, a partition or a zram device alike (zswap is a cache in front of
    one of them: the pages it holds keep their swap entries, so they count as used)."""
    used = 0
    for line in swaps.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[3].isdigit():
            used += int(fields[3]) * 1024
    return used


def vm_swap(status: bytes) -> int:
    """``VmSwap`` of a ``/proc/<pid>/status`` text, in bytes (0 when absent: a kernel
    thread or a zombie)."""
    at = status.find(b"VmSwap:")
    if at < 0:
        return 0
    end = status.find(b"\n", at)
    fields = status[at + 7 : end if end >= 0 else None].split()
    return int(fields[0]) * 1024 if fields and fields[0].isdigit() else 0
