"""PSS/USS from smaps_rollup: parsing, real processes sharing memory, and when it is read."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import RECORDED

from guardrun.platform import ProcSample, TreeSample
from guardrun.platform.smaps import PssConfirmer, parse_rollup, read_rollup, supported, with_pss

RECORDED = RECORDED / "smaps_rollup.txt"
MIB = 1 << 20

# A parent writes 64 MiB, then forks: until either writes, both map the same
# 64 MiB of anonymous pages (copy on write), so each one's PSS counts half.
SHARED = """
import os, sys, time
buf = b"\\x01" * (64 << 20)
pid = os.fork()
sys.stdout.write(f"{pid or os.getpid()}\\n")
sys.stdout.flush()
time.sleep(600)
"""

pytestmark = pytest.mark.skipif(not supported(), reason="no /proc/<pid>/smaps_rollup here")


@pytest.fixture
def shared_pair() -> Iterator[tuple[int, int]]:
    """(parent, child) sharing 64 MiB of written anonymous memory."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SHARED], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "fork child did not start"
        child = int(proc.stdout.readline())
        time.sleep(0.05)  # both have printed; the parent printed first or will shortly
        yield proc.pid, child
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def test_parse_recorded_rollup() -> None:
    # Recorded from `cat /proc/self/smaps_rollup` on this machine (Linux 6.18).
    pss, uss = parse_rollup(RECORDED.read_bytes()) or (0, 0)
    assert pss == 357 * 1024
    assert uss == (52 + 116 + 0) * 1024  # Private_Clean + Private_Dirty + Private_Hugetlb


def test_parse_without_pss() -> None:
    assert parse_rollup(b"Rss: 10 kB\n") is None


def test_real_shared_pages_count_half(shared_pair: tuple[int, int]) -> None:
    parent, child = shared_pair
    for pid in (parent, child):
        got = read_rollup(pid)
        assert got is not None
        pss, uss = got
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        assert uss <= pss <= rss
        assert rss >= 64 * MIB  # RSS counts the shared 64 MiB in full, in both
        # PSS counts half of it (plus the interpreter's own pages), USS none of it.
        assert 32 * MIB <= pss < 48 * MIB, pss
        assert uss < 16 * MIB, uss


def test_missing_process_and_missing_file(tmp_path: Path) -> None:
    assert read_rollup(2**22 + 12345) is None  # above pid_max's default: never a process
    (tmp_path / "42").mkdir()  # a /proc without smaps_rollup (Linux before 4.14)
    assert read_rollup(42, str(tmp_path)) is None
    assert not supported(str(tmp_path))
    sample = TreeSample(0.0, (ProcSample(42, 0, 1000),))
    assert with_pss(sample, str(tmp_path)).procs[0].pss is None
    assert with_pss(sample, str(tmp_path)).total("pss") == 1000  # falls back to RSS


def test_pss_is_read_only_when_it_could_matter(shared_pair: tuple[int, int]) -> None:
    parent, child = shared_pair
    sample = TreeSample(
        time.monotonic(),
        (ProcSample(parent, 0, 80 * MIB), ProcSample(child, parent, 80 * MIB)),
    )
    confirmer = PssConfirmer()
    # metric rss never needs smaps.
    assert confirmer.confirm(sample, "rss", 1) is sample
    # RSS under the threshold: PSS <= RSS is under it too, so nothing is read.
    assert confirmer.confirm(sample, "pss", 160 * MIB + 1) is sample
    assert confirmer.reads == 0
    # Within reach: read once per process, and PSS now tells the truth about the tree.
    confirmed = confirmer.confirm(sample, "pss", 100 * MIB)
    assert confirmer.reads == 2
    assert sample.total("pss") == 160 * MIB  # no readings yet: RSS stands in
    assert 64 * MIB <= confirmed.total("pss") < 100 * MIB  # the shared 64 MiB once
    assert confirmed.total("uss") < confirmed.total("pss")
    assert confirmed.taken_at == sample.taken_at
    confirmer.confirm(sample, "uss", 100 * MIB)
    assert confirmer.reads == 4
