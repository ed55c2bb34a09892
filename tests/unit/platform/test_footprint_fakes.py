"""The footprint on macOS and Windows, against fakes of what exists only there.

macOS: libproc's ``proc_pid_rusage`` is faked by a real ctypes callback with the C
signature (``CFUNCTYPE``), so the structure is filled through a pointer as libproc
would fill it. Windows: psutil's ``memory_info()`` there has a ``private`` field (private
bytes) that Linux's psutil lacks, so a fake psutil module stands in for it; WMI is
tests/fakes/wmi.py. The ``ps`` and psutil backends around them run for real here.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import subprocess
import sys
from collections import namedtuple
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from support import FAKES

from guardrun import platform
from guardrun.platform import darwin
from guardrun.platform.darwin import RUSAGE_FUNC, RUSAGE_INFO_V2, Libproc, RusageInfoV2
from guardrun.platform.portable import PsutilProbe
from guardrun.platform.ps import PsProbe

MIB = 1 << 20


class FakeLibproc:
    """libproc.dylib as ctypes sees it: ``proc_pid_rusage`` a C function pointer.
    ``footprints``: pid -> phys_footprint; other pids fail with ESRCH, as on macOS."""

    def __init__(self, footprints: dict[int, int]) -> None:
        self.footprints = footprints
        self.calls: list[tuple[int, int]] = []

        def rusage(pid: int, flavor: int, buf: Any) -> int:
            self.calls.append((pid, flavor))
            if pid not in self.footprints or flavor != RUSAGE_INFO_V2:
                ctypes.set_errno(errno.ESRCH)
                return -1
            buf.contents.ri_phys_footprint = self.footprints[pid]
            buf.contents.ri_resident_size = 1  # not what is read
            return 0

        self.proc_pid_rusage = RUSAGE_FUNC(rusage)


def test_the_structure_is_rusage_info_v2() -> None:
    # <sys/resource.h>: 16 bytes of uuid, then uint64s; phys_footprint is the 8th.
    assert RusageInfoV2.ri_phys_footprint.offset == 16 + 7 * 8  # type: ignore[attr-defined]
    assert ctypes.sizeof(RusageInfoV2) == 16 + 18 * 8


def test_libproc_reads_phys_footprint_one_call_per_pid() -> None:
    lib = FakeLibproc({100: 13 << 30})
    reader = Libproc(lib)
    assert reader.footprint(100) == 13 << 30
    assert reader.footprint(101) is None  # gone: the backend keeps its RSS
    assert lib.calls == [(100, RUSAGE_INFO_V2), (101, RUSAGE_INFO_V2)]


def test_libproc_that_will_not_load_is_none_here() -> None:
    # This is Linux: /usr/lib/libproc.dylib does not exist, so the backends keep RSS.
    assert darwin.load() is None


def test_psutil_probe_on_macos_counts_the_footprint(reaper: list[int]) -> None:
    """Real psutil on real processes; libproc's answer faked: a 66 MB RSS with a 13 GB
    footprint (the figure another project's guard missed) counts 13 GB."""
    kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    reaper.append(kid.pid)
    me = os.getpid()
    lib = FakeLibproc({kid.pid: 13 << 30})  # this process: ESRCH, keeps its RSS
    probe = PsutilProbe(footprint=Libproc(lib).footprint)
    sample = probe.sample([me])
    procs = {p.pid: p for p in sample.procs}
    assert procs[kid.pid].footprint == 13 << 30
    assert procs[kid.pid].swap == (13 << 30) - procs[kid.pid].rss  # compressed or swapped
    assert procs[me].footprint is None and procs[me].swap == 0
    assert sample.total("footprint") == (13 << 30) + procs[me].rss
    assert sample.total("rss") == sample.rss < 1 << 30
    assert sorted(pid for pid, _ in lib.calls) == sorted(procs)  # one call per process
    kid.kill()
    kid.wait()


def test_ps_probe_on_macos_takes_libproc_and_falls_back_to_ps_rss(reaper: list[int]) -> None:
    kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    reaper.append(kid.pid)
    lib = FakeLibproc({kid.pid: 5 << 30})
    sample = PsProbe(footprint=Libproc(lib).footprint).sample([os.getpid()])
    procs = {p.pid: p for p in sample.procs}
    assert procs[kid.pid].footprint == 5 << 30
    assert procs[os.getpid()].footprint is None  # libproc failed: ps RSS stands
    assert sample.total("footprint") == (5 << 30) + procs[os.getpid()].rss
    kid.kill()
    kid.wait()


def test_make_probe_gives_macos_backends_the_libproc_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lib = FakeLibproc({})
    monkeypatch.setattr(platform, "IS_MACOS", True)
    monkeypatch.setattr(darwin, "load", lambda: Libproc(lib))
    probe = platform.make_probe("psutil")
    probe.sample([os.getpid()])
    assert [pid for pid, _ in lib.calls] == [os.getpid()]
    probe = platform.make_probe("ps")
    probe.sample([os.getpid()])
    assert [pid for pid, _ in lib.calls] == [os.getpid()] * 2


# -- Windows ---------------------------------------------------------------------------

# psutil's memory_info() on Windows (psutil/_pswindows.py, pmem): rss is the working set.
WinMem = namedtuple(
    "WinMem",
    "rss vms num_page_faults peak_wset wset peak_paged_pool paged_pool peak_nonpaged_pool "
    "nonpaged_pool pagefile peak_pagefile private",
)


def fake_windows_psutil(table: dict[int, tuple[int, int, int]]) -> ModuleType:
    """psutil as on Windows: pid -> (ppid, working set, private bytes)."""
    mod = ModuleType("psutil")

    class Error(Exception):
        pass

    class NoSuchProcess(Error):
        pass

    class ZombieProcess(NoSuchProcess):
        pass

    class AccessDenied(Error):
        pass

    class Process:
        def __init__(self, pid: int) -> None:
            if pid not in table:
                raise NoSuchProcess(pid)
            self.pid = pid

        def is_running(self) -> bool:
            return self.pid in table

        def ppid(self) -> int:
            return table[self.pid][0]

        def children(self, recursive: bool = False) -> list[Process]:
            out, todo = [], [self.pid]
            while todo:
                parent = todo.pop()
                for pid, (ppid, _, _) in table.items():
                    if ppid == parent:
                        out.append(Process(pid))
                        todo.append(pid)
            return out

        def memory_info(self) -> WinMem:
            _, wset, private = table[self.pid]
            return WinMem(wset, private, 0, wset, wset, 0, 0, 0, 0, private, private, private)

    for name, value in dict(
        Error=Error,
        NoSuchProcess=NoSuchProcess,
        ZombieProcess=ZombieProcess,
        AccessDenied=AccessDenied,
        Process=Process,
    ).items():
        setattr(mod, name, value)
    return mod


def test_windows_counts_private_bytes_not_the_working_set() -> None:
    # claude.exe trimmed to a 300 MB working set while it holds 2 GB private: the
    # page file has the rest, and the commit limit counts all of it.
    table = {
        500: (1, 300 * MIB, 2048 * MIB),
        510: (500, 90 * MIB, 70 * MIB),  # shared pages: private under the working set
    }
    probe = PsutilProbe(private=True, psutil=fake_windows_psutil(table))
    sample = probe.sample([500])
    procs = {p.pid: p for p in sample.procs}
    assert procs[500].footprint == 2048 * MIB and procs[500].swap == 1748 * MIB
    assert procs[510].footprint == 70 * MIB and procs[510].swap == 0
    assert sample.total("footprint") == 2118 * MIB
    assert sample.total("rss") == 390 * MIB
    assert sample.swapped == 1748 * MIB
    assert sample.resident("footprint") == 370 * MIB


def test_make_probe_asks_psutil_for_private_bytes_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform, "IS_WINDOWS", True)
    monkeypatch.setitem(sys.modules, "psutil", fake_windows_psutil({7: (1, 10 * MIB, 50 * MIB)}))
    sample = platform.make_probe("psutil").sample([7])
    assert sample.total("footprint") == 50 * MIB and sample.rss == 10 * MIB


@pytest.fixture
def wmi(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("wmi", FAKES / "wmi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "wmi", module)
    spec.loader.exec_module(module)
    yield module


def test_wmi_counts_private_page_count_as_the_footprint(wmi: ModuleType) -> None:
    sample = platform.make_probe("wmi").sample([10300])
    procs = {p.pid: p for p in sample.procs}
    assert procs[10300].footprint == 380 * MIB and procs[10300].swap == 0  # under its 412 MB
    assert procs[10520].footprint is None  # torn down: no private count, RSS stands
    assert sample.total("footprint") == (380 + 70 + 8 + 40) * MIB


def test_portable_probe_without_a_reader_is_rss() -> None:
    sample = PsutilProbe().sample([os.getpid()])
    assert sample.total("footprint") == sample.rss  # Linux psutil: no private, no libproc
