"""Swap and the footprint on Linux: the parsers, the machine's level, the probe's
discipline (``status`` read only while swap is in use, through kept fds) and the
tree's totals. The probe runs over a /proc laid out in a temporary directory, so that
swap can be switched on and off under it (the real thing:
tests/e2e/memory/test_swapped_leak.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from guardrun.platform import swap
from guardrun.platform.cgroup_tree import TreeCgroup
from guardrun.platform.linux import ProcProbe, swap_used, vm_swap
from guardrun.platform.pressure import swap_fraction, system_level, system_reason
from guardrun.platform.types import Charge, ProcSample, TreeSample, charged

MIB = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
SWAPS_OFF = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
SWAPS_ON = SWAPS_OFF + (
    "/swap.img                               file\t\t2097148\t\t262144\t\t-2\n"
    "/dev/zram0                              partition\t4194300\t\t0\t\t100\n"
)


def test_parsers() -> None:
    assert swap_used(SWAPS_OFF.encode()) == 0
    assert swap_used(SWAPS_ON.encode()) == 256 * MIB
    assert swap.parse_swaps(SWAPS_ON) == (("/swap.img", "/dev/zram0"), 6291448 * 1024, 256 * MIB)
    status = b"Name:\tnode\nVmRSS:\t  131072 kB\nVmSwap:\t  260096 kB\nThreads:\t11\n"
    assert vm_swap(status) == 254 * MIB
    assert vm_swap(b"Name:\tkthreadd\nThreads:\t1\n") == 0  # kernel threads have none
    assert swap.parse_swapusage(
        "total = 2048.00M  used = 1126.25M  free = 921.75M  (encrypted)"
    ) == (
        2048 * MIB,
        int(1126.25 * MIB),
    )


def test_linux_swap_info(tmp_path: Path) -> None:
    swaps, zswap = tmp_path / "swaps", tmp_path / "zswap"
    swaps.write_text(SWAPS_ON)
    zswap.write_text("Y\n")
    info = swap.linux(str(swaps), str(zswap))
    assert info.on and info.zram and info.zswap and info.compressor is None
    assert "zram among them" in info.describe() and "zswap on" in info.describe()
    swaps.write_text(SWAPS_OFF)
    zswap.write_text("N\n")
    info = swap.linux(str(swaps), str(zswap))
    assert not info.on and info.describe() == "no swap, zswap off"
    assert swap.linux(str(swaps), str(tmp_path / "absent")).zswap is None


MEMINFO = "MemTotal:  16000000 kB\nMemAvailable: 8000000 kB\nSwapTotal: {t} kB\nSwapFree: {f} kB\n"


def test_a_machine_swapping_hard_is_critical() -> None:
    assert swap_fraction(MEMINFO.format(t=0, f=0)) is None
    assert swap_fraction(MEMINFO.format(t=1000, f=150)) == pytest.approx(0.85)
    assert system_level(0.5, 1.0, swap_used=0.85) == "critical"  # RAM and PSI say normal
    assert system_level(0.5, 1.0, swap_used=0.79) == "normal"
    assert system_level(0.5, 1.0, swap_used=0.5, swap=0.5) == "critical"
    assert system_level(0.5, 1.0, swap_used=None) == "normal"
    assert "swap 85% in use, at or over 80%" in system_reason(0.5, 1.0, swap_used=0.85)


def _fake_proc(root: Path) -> Path:
    proc = root / "proc"
    for pid, kids in (("self", ""), ("100", "101"), ("101", "")):
        d = proc / pid
        (d / "task" / "1").mkdir(parents=True)
        (d / "task" / "1" / "children").write_text(kids + (" " if kids else ""))
        (d / "statm").write_text("5000 1000 200 1 0 800 0\n")
        (d / "status").write_text(f"Name:\tp{pid}\nVmSwap:\t   {40 * 1024} kB\n")
    (proc / "swaps").write_text(SWAPS_OFF)
    return proc


def test_swap_is_read_only_while_the_machine_swaps(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    probe = ProcProbe(str(proc), rescan_every=5)
    try:
        sample = probe.sample([100])
        assert not probe.swapping and probe.swap_reads == 0
        assert sample.total("footprint") == sample.rss == 2 * 1000 * PAGE
        (proc / "swaps").write_text(SWAPS_ON)
        for _ in range(3):  # not yet looked at: /proc/swaps is read every 5th poll
            probe.sample([100])
        assert probe.swap_reads == 0
        probe.sample([100])
        sample = probe.sample([100])  # the 5th: swap is in use, every process read afresh
        assert probe.swapping and probe.swap_reads == 2
        assert sample.swapped == 2 * 40 * MIB
        assert sample.total("footprint") == sample.rss + 80 * MIB
        assert sample.total("rss") == 2 * 1000 * PAGE
        # An idle tree (statm unchanged) is not read again until the next 5th poll ...
        for _ in range(3):
            probe.sample([100])
        assert probe.swap_reads == 2
        probe.sample([100])  # ... which reads every process (swap freed, statm unchanged)
        assert probe.swap_reads == 4
        # A page swapped in changes statm: that process's status is read, only it.
        (proc / "101" / "statm").write_text("5000 1001 200 1 0 800 0\n")
        (proc / "101" / "status").write_text("Name:\tp101\nVmSwap:\t   1024 kB\n")
        sample = probe.sample([100])
        assert probe.swap_reads == 5
        assert sample.swapped == 41 * MIB
        (proc / "swaps").write_text(SWAPS_OFF)
        for _ in range(5):
            sample = probe.sample([100])
        assert not probe.swapping and sample.swapped == 0
    finally:
        probe.close()


def test_a_real_process_reads_no_swap_without_swap() -> None:
    probe = ProcProbe()
    try:
        sample = probe.sample([os.getpid()])
        if not probe.swapping:
            assert probe.swap_reads == 0 and sample.swapped == 0
        assert sample.total("footprint") == sample.rss + sample.swapped
    finally:
        probe.close()


def test_tree_totals() -> None:
    procs = (ProcSample(1, 0, 100, swap=50), charged(2, 1, 30, 80), charged(3, 1, 90, 60))
    sample = TreeSample(0.0, procs)
    assert sample.rss == 220
    assert sample.swapped == 50 + 50 + 0  # footprint over RSS; never negative
    assert sample.total("footprint") == 150 + 80 + 60
    assert sample.resident("footprint") == 290 - 100
    assert sample.total("pss") == 220  # unread: RSS counts
    assert [p.pid for p in sample.top(2)] == [1, 2]  # by what each is charged
    cg = sample._replace(cgroup=Charge(400, 300, "/sys/fs/cgroup/x"))
    assert cg.total("footprint") == 700 and cg.swapped == 300 and cg.resident("footprint") == 400
    assert cg.total("rss") == 220  # rss stays the processes' sum


def test_cgroup_charge_v2_and_v1(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.current").write_text(f"{300 * MIB}\n")
    (v2 / "memory.swap.current").write_text(f"{200 * MIB}\n")
    (v2 / "memory.stat").write_text(f"anon {250 * MIB}\nfile {40 * MIB}\nkernel 1000\n")
    (v2 / "cgroup.procs").write_text("10\n11\n")
    (v2 / "child").mkdir()
    (v2 / "child" / "cgroup.procs").write_text("12\n")
    cg = TreeCgroup(2, str(v2))
    assert cg.charge() == Charge(260 * MIB, 200 * MIB, str(v2))  # page cache left out
    assert cg.charge(own=10 * MIB) == Charge(250 * MIB, 200 * MIB, str(v2))
    assert cg.members() == {10, 11, 12}
    assert cg.holds_only({1, 10, 11, 12}) and not cg.holds_only({10, 11})
    cg.close()

    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "memory.memsw.usage_in_bytes").write_text(f"{500 * MIB}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{300 * MIB}\n")
    (v1 / "memory.stat").write_text(
        f"cache {MIB}\nrss {MIB}\ntotal_cache {40 * MIB}\ntotal_rss {260 * MIB}\n"
        f"total_swap {200 * MIB}\n"
    )
    cg = TreeCgroup(1, str(v1))
    assert cg.charge() == Charge(260 * MIB, 200 * MIB, str(v1))
    cg.close()
    (v1 / "memory.memsw.usage_in_bytes").unlink()  # swapaccount=0: RAM only
    cg = TreeCgroup(1, str(v1))
    assert cg.charge() == Charge(260 * MIB, 200 * MIB, str(v1))
    cg.close()
    with pytest.raises(OSError):
        TreeCgroup(2, str(tmp_path / "absent"))
