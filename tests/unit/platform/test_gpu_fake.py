"""GPU memory through NVML, against tests/fakes/pynvml.py.

This machine has no NVIDIA GPU and no NVML, so every test here but the
"library absent" one runs against a fake ``pynvml`` module (see its docstring
for where its shapes and figures come from). The "absent" test is real: it
hides any installed pynvml.
"""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from guardrun.platform.gpu import GpuProbe, gpu_level
from guardrun.units import parse_threshold

MIB = 1 << 20


def test_devices_and_tree_usage(nvml: ModuleType) -> None:
    gpu = GpuProbe()
    ok, reason = gpu.available()
    assert ok, reason
    assert reason == "NVML: 2 GPUs"
    devices = gpu.devices()
    assert devices == [
        {"index": 0, "name": "NVIDIA H100 80GB HBM3", "used": 20_480 * MIB, "total": 81559 * MIB},
        {"index": 1, "name": "NVIDIA H100 80GB HBM3", "used": 4 * MIB, "total": 81559 * MIB},
    ]
    # 777 is a graphics process, 4242 a compute one; 1 is not on the GPU at all.
    assert gpu.tree_usage([4242, 777, 1]) == {4242: 18_000 * MIB, 777: 2_000 * MIB}
    assert gpu.tree_usage([1]) == {}
    gpu.close()
    assert nvml.initialized == 0  # nvmlShutdown balanced nvmlInit


def test_same_pid_in_both_lists_and_on_two_devices(nvml: ModuleType) -> None:
    proc = nvml.ProcessInfo
    nvml.PROCESSES = [
        # CUDA + OpenGL in one process: listed twice on device 0 with the same figure.
        {"compute": [proc(10, 500 * MIB)], "graphics": [proc(10, 500 * MIB)]},
        {"compute": [proc(10, 300 * MIB), proc(11, None)], "graphics": []},
    ]
    gpu = GpuProbe()
    # 500 once on device 0, plus 300 on device 1; 11's usage is unknown (WDDM): left out.
    assert gpu.tree_usage([10, 11]) == {10: 800 * MIB}


def test_graphics_not_supported_is_not_an_error(nvml: ModuleType) -> None:
    nvml.FAIL = {"nvmlDeviceGetGraphicsRunningProcesses": (0, nvml.NVML_ERROR_NOT_SUPPORTED)}
    gpu = GpuProbe()
    assert gpu.tree_usage([4242, 777]) == {4242: 18_000 * MIB}
    assert gpu.available()[0]


def test_error_mid_run_turns_the_feature_off(nvml: ModuleType) -> None:
    gpu = GpuProbe()
    assert gpu.tree_usage([4242]) == {4242: 18_000 * MIB}
    # The GPU falls off the bus after the first poll.
    nvml.FAIL = {"nvmlDeviceGetMemoryInfo": (0, nvml.NVML_ERROR_GPU_IS_LOST)}
    assert gpu.devices() == []
    assert gpu.available() == (False, "NVML error in nvmlDeviceGetMemoryInfo: GPU is lost")
    # Once off, it stays off without calling NVML again.
    before = dict(nvml.calls)
    assert gpu.tree_usage([4242]) == {}
    assert nvml.calls == before
    gpu.close()
    assert nvml.initialized == 0


def test_error_while_listing_processes(nvml: ModuleType) -> None:
    # One call per device per poll: the third call is the second poll.
    nvml.FAIL = {"nvmlDeviceGetComputeRunningProcesses": (2, nvml.NVML_ERROR_NO_PERMISSION)}
    gpu = GpuProbe()
    assert gpu.tree_usage([4242]) == {4242: 18_000 * MIB}
    assert gpu.tree_usage([4242]) == {}
    ok, reason = gpu.available()
    assert not ok and "Insufficient Permissions" in reason


def test_driver_older_than_the_module(nvml: ModuleType) -> None:
    # nvidia-ml-py raises NVMLLibraryMismatchError, which is not an NVMLError.
    nvml.FAIL = {"nvmlDeviceGetComputeRunningProcesses": (0, nvml.MISMATCH)}
    gpu = GpuProbe()
    assert gpu.tree_usage([4242]) == {}
    ok, reason = gpu.available()
    assert not ok and "pyNVML version does not match" in reason


@pytest.mark.parametrize(
    ("code", "text"),
    [(12, "NVML Shared Library Not Found"), (9, "Driver Not Loaded")],
)
def test_init_errors(nvml: ModuleType, code: int, text: str) -> None:
    nvml.INIT_ERROR = code
    gpu = GpuProbe()
    assert gpu.available() == (False, f"NVML error in nvmlInit: {text}")
    assert gpu.devices() == [] and gpu.tree_usage([1]) == {}
    gpu.close()  # nothing to shut down: must not call NVML
    assert "nvmlShutdown" not in nvml.calls


def test_no_devices(nvml: ModuleType) -> None:
    nvml.DEVICES = []
    nvml.PROCESSES = []
    gpu = GpuProbe()
    assert gpu.available() == (False, "NVML found no GPU")
    assert nvml.initialized == 0


def test_library_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import pynvml` raise ImportError (real, not a fake).
    monkeypatch.setitem(sys.modules, "pynvml", None)
    gpu = GpuProbe()
    ok, reason = gpu.available()
    assert not ok
    assert "nvidia-ml-py is not installed" in reason
    assert gpu.devices() == [] and gpu.tree_usage([1]) == {}
    gpu.close()


def test_gpu_level_percent_of_the_fullest_device() -> None:
    devices = [
        {"index": 0, "name": "a", "used": 79 * MIB, "total": 100 * MIB},
        {"index": 1, "name": "b", "used": 85 * MIB, "total": 100 * MIB},
    ]
    warning, critical = parse_threshold("80%"), parse_threshold("90%")
    assert gpu_level(devices, 0, warning, critical) == "warning"
    devices[1]["used"] = 90 * MIB
    assert gpu_level(devices, 0, warning, critical) == "critical"
    devices[1]["used"] = 10 * MIB
    assert gpu_level(devices, 0, warning, critical) == "normal"
    assert gpu_level([], 0, warning, critical) == "normal"


def test_gpu_level_size_of_the_tree_own_use() -> None:
    devices = [{"index": 0, "name": "a", "used": 99 * MIB, "total": 100 * MIB}]
    warning, critical = parse_threshold("8GiB"), parse_threshold("12GiB")
    # A full device does not matter to a size threshold: only the tree's own use does.
    assert gpu_level(devices, 1 << 30, warning, critical) == "normal"
    assert gpu_level(devices, 8 << 30, warning, critical) == "warning"
    assert gpu_level(devices, 12 << 30, warning, critical) == "critical"
    # Mixed: warning as a percent of a device, critical as the tree's size.
    assert gpu_level(devices, 1 << 30, parse_threshold("80%"), critical) == "warning"
