"""Pressure from outside the tree: the real machine's RAM and PSI, and GPU memory.

The GPU half runs against the fake ``pynvml`` in tests/fakes (this machine has no
NVIDIA GPU); the system half reads this machine's real /proc/meminfo.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from support import Guarded, child, starts, wait_for

from guardrun.platform.pressure import system_memory
from guardrun.supervisor.external import ExternalPressure
from guardrun.units import Threshold

MIB = 1 << 20


def test_machine_under_its_thresholds_is_normal() -> None:
    used = system_memory()[0]
    ext = ExternalPressure(system_warning=min(0.999, used + 0.5), system_critical=0.9999, psi=101)
    assert ext.check(0.0, [os.getpid()]).level == "normal"


def test_machine_over_critical_says_the_machine_is_short() -> None:
    # Thresholds under what this machine really uses: it is "short" by definition.
    ext = ExternalPressure(system_warning=0.000001, system_critical=0.000002)
    reading = ext.check(0.0, [os.getpid()])
    assert reading.level == "critical" and reading.source == "system"
    assert "the machine, not the agent" in reading.reason


def test_readings_are_rate_limited() -> None:
    ext = ExternalPressure(system_warning=0.000001, system_critical=0.000002, system_every=10)
    assert ext.check(0.0, []).level == "critical"
    ext.system_critical = ext.system_warning = 0.9999
    assert ext.check(5.0, []).level == "critical"  # cached within the 10 s
    assert ext.check(10.0, []).level == "normal"


def test_gpu_over_critical_by_device_percent(nvml: ModuleType) -> None:
    nvml.DEVICES = [("NVIDIA H100 80GB HBM3", 78_000 * MIB)]
    nvml.PROCESSES = [{"compute": [nvml.ProcessInfo(4242, 70_000 * MIB)], "graphics": []}]
    ext = ExternalPressure(
        system_warning=0.9999,
        system_critical=0.99999,
        psi=101,
        gpu_warning=Threshold(80, True),
        gpu_critical=Threshold(90, True),
    )
    reading = ext.check(0.0, [4242])
    assert (reading.level, reading.source) == ("critical", "gpu")
    assert "device 0" in reading.reason and "the tree uses 73.4 GB" in reading.reason


def test_gpu_by_the_trees_own_size(nvml: ModuleType) -> None:
    ext = ExternalPressure(
        system_warning=0.9999,
        system_critical=0.99999,
        psi=101,
        gpu_warning=Threshold(1 << 30, False),
        gpu_critical=Threshold(100 << 30, False),
    )
    assert ext.check(0.0, [4242]).level == "warning"  # 18 000 MiB of the fake's pid 4242
    assert ext.check(6.0, [1]).level == "normal"  # not on the GPU at all


def test_gpu_error_mid_run_turns_gpu_watching_off(nvml: ModuleType) -> None:
    ext = ExternalPressure(
        system_warning=0.9999,
        system_critical=0.99999,
        psi=101,
        gpu_warning=Threshold(1, True),
        gpu_critical=Threshold(2, True),
    )
    assert ext.check(0.0, [4242]).source == "gpu"
    nvml.FAIL = {"nvmlDeviceGetMemoryInfo": (0, nvml.NVML_ERROR_GPU_IS_LOST)}
    assert ext.check(6.0, [4242]).level == "normal"
    assert ext.gpu_off and "lost" in ext.gpu_off.lower()
    ext.close()


def test_no_nvml_leaves_everything_else_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml fails, as without the extra
    ext = ExternalPressure(
        system_warning=0.9999,
        system_critical=0.99999,
        psi=101,
        gpu_warning=Threshold(1, True),
        gpu_critical=Threshold(2, True),
    )
    assert ext.check(0.0, [os.getpid()]).level == "normal"
    assert ext.gpu_off


def test_system_critical_restarts_the_agent_and_says_why(tmp_path: Path) -> None:
    """End to end: a machine 'short' by its thresholds restarts an agent that is itself small."""
    env = {
        **os.environ,
        "GUARDRUN_SYSTEM_WARNING": "0.001%",
        "GUARDRUN_SYSTEM_CRITICAL": "0.002%",
        "GUARDRUN_RESTART_IDLE_QUIET": "300ms",
    }
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "1")
    with Guarded("--no-pty", "--force", "--cooldown", "100ms", "--max-restarts", "1", "--",
                 *leak, cwd=tmp_path, env=env) as g:  # fmt: skip
        wait_for(lambda: len(starts(log)) >= 2, timeout=15)
        err = g.stop()
    assert "starting anyway (--force)" in err
    assert "the machine, not the agent, is short" in err


def test_admission_waits_on_a_machine_at_system_critical(tmp_path: Path) -> None:
    env = {**os.environ, "GUARDRUN_SYSTEM_WARNING": "0.001%", "GUARDRUN_SYSTEM_CRITICAL": "0.002%"}
    log = tmp_path / "starts"
    leak = child("leak.py", "--starts", str(log), "--to", "1")
    with Guarded("--no-pty", "--", *leak, cwd=tmp_path, env=env) as g:
        time.sleep(2.5)
        assert not starts(log), "started another agent on a machine at system critical"
        err = g.stop(signal.SIGINT)
    assert "waiting for memory before starting" in err
    assert g.returncode == 130
