"""A tree alone in its own memory cgroup, read from the cgroup: what the kernel charges.

A systemd scope (``systemd-run --user --scope guardrun -- claude``) or a container
holds the agent's tree and nothing else; there the kernel's own count is the tree's
footprint, kernel memory (page tables, socket buffers) included, which a sum over
processes misses. It counts only while the cgroup holds only the tree, guardrun and
guardrun's own helpers (``alone``, checked every few samples by the supervisor);
guardrun's own anonymous memory and swap are taken off.

Files read, through kept fds (sizes in bytes):

==========  ==============================  ===============================================
            cgroup v2                       cgroup v1 (memory controller)
==========  ==============================  ===============================================
charged     memory.current                  memory.memsw.usage_in_bytes (RAM + swap; with
                                            swapaccount off: memory.usage_in_bytes)
swapped     memory.swap.current             memory.stat ``total_swap``
page cache  memory.stat ``file``            memory.stat ``total_cache``
members     cgroup.procs, here and below    cgroup.procs, here and below
==========  ==============================  ===============================================

resident = charged - page cache (- swapped, for v1's memsw): anonymous and kernel
memory. Page cache is left out: the kernel drops it before it kills anything.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from guardrun.platform.cgroup import CGROUP_ROOT
from guardrun.platform.cgroup_events import memory_cgroup, parse_keyed
from guardrun.platform.linux import vm_swap
from guardrun.platform.types import Charge

if TYPE_CHECKING:
    from collections.abc import Iterator

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


class TreeCgroup:
    """One cgroup directory's charge (``charge``) and members (``members``)."""

    def __init__(self, version: int, directory: str) -> None:
        self.version = version
        self.dir = directory
        self._fds: dict[str, int] = {}
        if version == 2:
            names = ("memory.current", "memory.swap.current", "memory.stat")
        else:
            names = ("memory.memsw.usage_in_bytes", "memory.usage_in_bytes", "memory.stat")
        for name in names:
            try:
                self._fds[name] = os.open(os.path.join(directory, name), _FLAGS)
            except OSError:
                pass  # no swap accounting here: read without it
        if "memory.stat" not in self._fds:
            self.close()
            raise OSError(f"{directory}/memory.stat cannot be read")

    @classmethod
    def of(cls, pid: int, root: str = CGROUP_ROOT) -> TreeCgroup | None:
        """The memory cgroup ``pid`` is in, unless it is v1's root (the whole machine: v2's
        root has no ``memory.current``, so ``memory_cgroup`` finds none there) or cannot
        be read; None then."""
        found = memory_cgroup(pid, root)
        if found is None:
            return None
        version, d = found
        if version == 1 and os.path.normpath(d) == os.path.normpath(os.path.join(root, "memory")):
            return None
        try:
            return cls(version, d)
        except OSError:
            return None

    def _read(self, name: str) -> bytes:
        fd = self._fds.get(name)
        if fd is None:
            return b""
        try:
            return os.pread(fd, 16384, 0)
        except OSError:
            return b""

    def charge(self, own: int = 0) -> Charge | None:
        """The cgroup's charge less page cache, less ``own`` bytes (guardrun's own
        anonymous memory and swap) off the resident part; None when it cannot be read."""
        stat = parse_keyed(self._read("memory.stat").decode("ascii", "replace"))
        if self.version == 2:
            current = self._read("memory.current").strip()
            if not current.isdigit() or "file" not in stat:
                return None
            swap = self._read("memory.swap.current").strip()
            swapped = int(swap) if swap.isdigit() else 0
            resident = int(current) - stat["file"]
        else:
            cache, swapped = stat.get("total_cache"), stat.get("total_swap", 0)
            memsw = self._read("memory.memsw.usage_in_bytes").strip()
            if cache is None:
                return None
            if memsw.isdigit():
                resident = int(memsw) - cache - swapped
            else:
                usage = self._read("memory.usage_in_bytes").strip()
                if not usage.isdigit():
                    return None
                resident = int(usage) - cache
        return Charge(max(0, resident - own), max(0, swapped), self.dir)

    def members(self) -> set[int]:
        """Every pid in this cgroup and the cgroups below it."""
        pids: set[int] = set()
        for found in self._procs():
            pids.update(found)
        return pids

    def holds_only(self, ours: set[int]) -> bool:
        """Whether every process of this cgroup (and below) is in ``ours``. Stops at the
        first stranger: a cgroup shared with a desktop's worth of processes costs one
        read of its own ``cgroup.procs``, not a walk of everything under it."""
        return all(found <= ours for found in self._procs())

    def _procs(self) -> Iterator[set[int]]:
        for d, _dirs, files in os.walk(self.dir):
            if "cgroup.procs" not in files:
                continue
            try:
                with open(os.path.join(d, "cgroup.procs"), "rb") as f:
                    yield {int(x) for x in f.read().split()}
            except (OSError, ValueError):
                continue

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}


def own_charge(proc: str = "/proc") -> int:
    """guardrun's own anonymous memory and swap, in bytes (what it adds to a cgroup's
    charge): statm's resident less its shared (file-backed) pages, and ``VmSwap``."""
    try:
        with open(f"{proc}/self/statm", "rb") as f:
            fields = f.read().split()
        with open(f"{proc}/self/status", "rb") as f:
            status = f.read()
    except OSError:
        return 0
    anon = (int(fields[1]) - int(fields[2])) * os.sysconf("SC_PAGE_SIZE")
    return max(0, anon) + vm_swap(status)
