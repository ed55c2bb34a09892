"""Whole-machine memory: /proc/meminfo, PSI parsing from recorded files, and the level rule.

Recorded files (tests/fakes/recorded/), all from this machine (Linux 6.18, 2 cores):
psi_memory_idle.txt        /proc/pressure/memory at rest
psi_memory_thrashing.txt   the same, read right after a process in a 40 MiB
                           cgroup v1 had spent 12 s reading random pages of a
                           120 MB file through mmap (page-cache refaults)
meminfo_linux.txt          /proc/meminfo
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from support import RECORDED

from guardrun.platform.pressure import (
    parse_meminfo,
    parse_psi,
    psi_memory,
    psi_some_avg10,
    system_level,
    system_memory,
    system_reason,
)


def test_psi_idle() -> None:
    assert psi_memory(RECORDED / "psi_memory_idle.txt") == {
        "some": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 1573.0},
        "full": {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 1141.0},
    }


def test_psi_thrashing() -> None:
    psi = psi_memory(RECORDED / "psi_memory_thrashing.txt")
    assert psi is not None
    assert psi["some"]["avg10"] == 13.05
    assert psi["full"]["avg300"] == 0.91
    assert psi["some"]["total"] == 3187993


def test_psi_absent_or_garbled(tmp_path: Path) -> None:
    assert psi_memory(tmp_path / "nope") is None  # kernels without PSI
    assert parse_psi("") is None
    assert parse_psi("full avg10=1.00 avg60=0 avg300=0 total=0\n") is None  # no "some"
    bad = tmp_path / "memory"
    bad.write_text("some avg10=x\n")
    assert psi_memory(bad) is None


def test_psi_some_avg10_reads_what_parse_psi_reads(tmp_path: Path) -> None:
    """The once-a-second reading takes ``some avg10`` alone; it agrees with the full parse."""
    recorded = ("psi_memory_idle.txt", "psi_memory_thrashing.txt")
    texts = [(RECORDED / name).read_text() for name in recorded]
    texts += [
        "full avg10=1.00 avg60=0 avg300=0 total=0\nsome avg10=7.50 avg60=0 avg300=0 total=9\n",
        "some avg60=1.00 avg10=2.25 avg300=0 total=0",  # no newline, another order
        "wholesome avg10=9.00\nsome avg10=3.00 avg60=0 avg300=0 total=0\n",
    ]
    for text in texts:
        psi = parse_psi(text)
        assert psi is not None
        assert psi_some_avg10(text) == psi["some"]["avg10"], text
    assert psi_some_avg10((RECORDED / "psi_memory_thrashing.txt").read_text()) == 13.05
    for none in ("", "full avg10=1.00 avg60=0 avg300=0 total=0\n", "some avg60=1.0\n"):
        assert psi_some_avg10(none) is None
    assert psi_some_avg10("some avg10=x\n") is None  # garbled: no reading, not an error


def test_psi_live_if_present() -> None:
    live = Path("/proc/pressure/memory")
    if not live.exists():
        pytest.skip("this kernel has no PSI (/proc/pressure/memory absent)")
    psi = psi_memory(live)
    assert psi is not None and 0.0 <= psi["some"]["avg10"] <= 100.0


def test_meminfo_recorded() -> None:
    used, total, available = parse_meminfo((RECORDED / "meminfo_linux.txt").read_text()) or (
        0,
        0,
        0,
    )
    assert total == 24684092 * 1024
    assert available == 24379148 * 1024
    assert used == pytest.approx(1 - 24379148 / 24684092)


def test_meminfo_without_memavailable() -> None:
    assert parse_meminfo("MemTotal: 1000 kB\nMemFree: 10 kB\n") is None


def test_system_memory_matches_psutil(tmp_path: Path) -> None:
    used, total, available = system_memory()
    vm = psutil.virtual_memory()
    assert total == vm.total
    assert abs(available - vm.available) < 64 << 20  # read a moment apart
    assert 0.0 <= used < 1.0
    # Without a usable /proc/meminfo, psutil answers.
    assert system_memory(tmp_path / "missing")[1] == vm.total


@pytest.mark.parametrize(
    ("used", "psi", "level"),
    [
        (0.10, 0.0, "normal"),
        (0.10, None, "normal"),
        (0.849, 39.9, "normal"),
        (0.85, None, "warning"),
        (0.94, 10.0, "warning"),
        (0.95, None, "critical"),
        (0.20, 40.0, "critical"),  # thrashing with RAM "available": PSI alone is enough
        (1.00, 100.0, "critical"),
    ],
)
def test_system_level(used: float, psi: float | None, level: str) -> None:
    assert system_level(used, psi) == level


def test_system_level_custom_thresholds() -> None:
    assert system_level(0.7, 5.0, warning=0.6, critical=0.8, psi=10.0) == "warning"
    assert system_level(0.5, 13.05, warning=0.6, critical=0.8, psi=10.0) == "critical"


def test_system_reason() -> None:
    assert system_reason(0.5, 1.0) == "the machine has memory to spare (RAM 50% in use)"
    assert system_reason(0.96, None) == (
        "the machine, not the agent, is short of memory: RAM 96% in use, at or over 95%"
    )
    assert system_reason(0.9, 55.0) == (
        "the machine, not the agent, is short of memory: RAM 90% in use, at or over 85%; "
        "tasks stalled on memory 55% of the last 10 s (PSI, limit 40%)"
    )
