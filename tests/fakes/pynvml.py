"""A fake ``pynvml`` (nvidia-ml-py) for machines without an NVIDIA GPU, such as the test machine.

It has the names guardrun.platform.gpu calls, with the same shapes as
nvidia-ml-py 13.615.71 (read from its pynvml.py): ``NVMLError(value)`` maps
each code to a subclass (``NVMLError_GpuIsLost`` ...) and carries ``.value``;
device names are ``str``; memory info has ``.used``/``.total`` in bytes;
process lists are objects with ``.pid`` and ``.usedGpuMemory`` (``None`` when
the driver cannot tell, as under Windows WDDM).

The figures are those of an H100 80GB HBM3 as NVML reports it (81559 MiB
total) with a CUDA process and a graphics process; no GPU was available to
capture them live, so they are representative, not a recording of a session.

Tests load a fresh copy per test and steer it through the module attributes:
``DEVICES``, ``PROCESSES``, ``FAIL`` (function name -> (calls before failing,
error code, or MISMATCH)) and ``INIT_ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15

_STRINGS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
}


class NVMLLibraryMismatchError(Exception):
    """Not an NVMLError, as in nvidia-ml-py: raised by unversioned calls into an older driver."""


class NVMLError(Exception):
    _classes: dict[int, type[NVMLError]] = {}

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._classes.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _STRINGS.get(self.value, f"NVML Error with code {self.value}")


def _subclass(name: str, code: int) -> type[NVMLError]:
    cls = type(name, (NVMLError,), {})
    NVMLError._classes[code] = cls
    return cls


NVMLError_NotSupported = _subclass("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_DriverNotLoaded = _subclass("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _subclass("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_GpuIsLost = _subclass("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)


@dataclass
class Memory:
    total: int
    free: int
    used: int


@dataclass
class ProcessInfo:
    pid: int
    usedGpuMemory: int | None  # noqa: N815 - the name pynvml uses
    gpuInstanceId: int = 0xFFFFFFFF  # noqa: N815
    computeInstanceId: int = 0xFFFFFFFF  # noqa: N815


MIB = 1 << 20
H100_TOTAL = 81559 * MIB

# index -> (name, used bytes)
DEVICES: list[tuple[str, int]] = [
    ("NVIDIA H100 80GB HBM3", 20_480 * MIB),
    ("NVIDIA H100 80GB HBM3", 4 * MIB),
]
# index -> {"compute": [...], "graphics": [...]}
PROCESSES: list[dict[str, list[ProcessInfo]]] = [
    {"compute": [ProcessInfo(4242, 18_000 * MIB)], "graphics": [ProcessInfo(777, 2_000 * MIB)]},
    {"compute": [], "graphics": []},
]
FAIL: dict[str, tuple[int, int]] = {}
MISMATCH = -1  # an error code in FAIL that raises NVMLLibraryMismatchError instead
INIT_ERROR: int | None = None
calls: dict[str, int] = {}
initialized = 0


def _enter(name: str) -> None:
    calls[name] = calls.get(name, 0) + 1
    if name in FAIL:
        after, code = FAIL[name]
        if calls[name] > after:
            if code == MISMATCH:
                raise NVMLLibraryMismatchError(
                    "Unversioned function called and the pyNVML version does not match the "
                    f"NVML lib version. Either use matching pyNVML and NVML lib versions or "
                    f"use a versioned function such as {name}_v2"
                )
            raise NVMLError(code)
    if name != "nvmlInit" and initialized <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)


def nvmlInit() -> None:
    global initialized
    calls["nvmlInit"] = calls.get("nvmlInit", 0) + 1
    if INIT_ERROR is not None:
        raise NVMLError(INIT_ERROR)
    initialized += 1


def nvmlShutdown() -> None:
    global initialized
    _enter("nvmlShutdown")
    initialized -= 1


def nvmlDeviceGetCount() -> int:
    _enter("nvmlDeviceGetCount")
    return len(DEVICES)


def nvmlDeviceGetHandleByIndex(index: int) -> Any:
    _enter("nvmlDeviceGetHandleByIndex")
    if not 0 <= index < len(DEVICES):
        raise NVMLError(2)  # NVML_ERROR_INVALID_ARGUMENT
    return ("handle", index)


def nvmlDeviceGetName(handle: Any) -> str:
    _enter("nvmlDeviceGetName")
    return DEVICES[handle[1]][0]


def nvmlDeviceGetMemoryInfo(handle: Any) -> Memory:
    _enter("nvmlDeviceGetMemoryInfo")
    used = DEVICES[handle[1]][1]
    return Memory(total=H100_TOTAL, free=H100_TOTAL - used, used=used)


def nvmlDeviceGetComputeRunningProcesses(handle: Any) -> list[ProcessInfo]:
    _enter("nvmlDeviceGetComputeRunningProcesses")
    return list(PROCESSES[handle[1]]["compute"])


def nvmlDeviceGetGraphicsRunningProcesses(handle: Any) -> list[ProcessInfo]:
    _enter("nvmlDeviceGetGraphicsRunningProcesses")
    return list(PROCESSES[handle[1]]["graphics"])
