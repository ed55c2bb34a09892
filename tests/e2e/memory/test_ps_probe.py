"""The ``ps`` backend, run for real against procps ``ps`` on this Linux machine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrun.errors import ProbeError
from guardrun.platform import make_probe
from guardrun.platform.ps import PsProbe, parse_ps, tree_from_table


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(["sleep", "60"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_parse_ps_output() -> None:
    # Right-aligned columns as both procps and BSD/macOS ps print them; a stray
    # header (some ps builds ignore "=") and blank or odd lines are skipped.
    text = "  PID  PPID   RSS\n    1     0 16336\n  812     1  2048\n\n 813   812\nx y z\n"
    assert parse_ps(text) == {1: (0, 16336 * 1024), 812: (1, 2048 * 1024)}


def test_tree_from_table_walks_down_from_roots_only() -> None:
    table = {1: (0, 10), 5: (1, 20), 6: (5, 30), 7: (5, 40), 8: (1, 50), 9: (6, 60)}
    procs = tree_from_table(table, [5])
    assert {p.pid: p.ppid for p in procs} == {5: 0, 6: 5, 7: 5, 9: 6}
    assert sum(p.rss for p in procs) == 150
    # Overlapping roots count each process once; an unknown root is ignored.
    assert sorted(p.pid for p in tree_from_table(table, [5, 6, 12345])) == [5, 6, 7, 9]


def test_tree_from_table_survives_a_parent_cycle() -> None:
    # A reused pid can make ppid links loop; the walk must end.
    table = {10: (11, 1), 11: (10, 1), 0: (0, 1)}
    assert sorted(p.pid for p in tree_from_table(table, [10])) == [10, 11]
    assert [p.pid for p in tree_from_table(table, [0])] == [0]


def test_real_ps_sample(sleeper: subprocess.Popen[bytes]) -> None:
    probe = make_probe("ps")
    assert probe.name == "ps"
    sample = probe.sample([os.getpid()])
    procs = {p.pid: p for p in sample.procs}
    assert procs[os.getpid()].ppid == 0
    assert procs[sleeper.pid].ppid == os.getpid()
    # ps is our child while it runs; it must not count itself in our tree.
    assert set(procs) == {os.getpid(), sleeper.pid}
    with open(f"/proc/{os.getpid()}/statm") as f:
        statm_rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(procs[os.getpid()].rss - statm_rss) <= 1 << 20
    probe.close()


def test_missing_ps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProbeError, match="ps command is not on PATH"):
        PsProbe()


def test_ps_that_cannot_be_run(tmp_path: Path) -> None:
    not_exec = tmp_path / "ps"
    not_exec.write_text("not a program")
    with pytest.raises(ProbeError, match="cannot run"):
        PsProbe(str(not_exec)).sample([1])


def test_ps_that_prints_nothing(tmp_path: Path) -> None:
    quiet = tmp_path / "ps"
    quiet.write_text("#!/bin/sh\nexit 0\n")
    quiet.chmod(0o755)
    with pytest.raises(ProbeError, match="printed no processes"):
        PsProbe(str(quiet)).sample([1])


def test_ps_that_hangs(tmp_path: Path) -> None:
    stuck = tmp_path / "ps"
    stuck.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    stuck.chmod(0o755)
    with pytest.raises(ProbeError, match=r"did not answer in 0.3s"):
        PsProbe(str(stuck), timeout=0.3).sample([1])
