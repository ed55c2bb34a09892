"""GPU memory through NVML (``pip install 'guardrun[gpu]'``: nvidia-ml-py, module ``pynvml``).

Optional in every way: without the module, the driver's ``libnvidia-ml``, or a
device, the feature is off with a reason that ``guardrun doctor`` prints, and
nothing else changes. Every NVML call goes through :meth:`GpuProbe._call`: an
NVML error switches the feature off with the error as its reason and never
raises out of this module, because a GPU that falls off the bus (NVML "GPU is
lost") must not stop the supervision of the agent's RAM.

Calls used (nvidia-ml-py 12+):
    nvmlInit / nvmlShutdown / nvmlDeviceGetCount / nvmlDeviceGetHandleByIndex
    nvmlDeviceGetName            str (bytes in releases before 11.515)
    nvmlDeviceGetMemoryInfo      .used, .total in bytes
    nvmlDeviceGetComputeRunningProcesses, nvmlDeviceGetGraphicsRunningProcesses
                                 objects with .pid and .usedGpuMemory (bytes, or
                                 None where the driver cannot tell: Windows WDDM)
A process that uses both CUDA and graphics on one device is listed in both
lists with the same figure, so per device it counts once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrun.units import Threshold

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, TypeVar

    T = TypeVar("T")


_NOT_SUPPORTED = 3  # NVML_ERROR_NOT_SUPPORTED: this device cannot list its processes


class _Unavailable(Exception):
    """Raised inside this module only: NVML failed and the feature is now off."""


class GpuProbe:
    """Device and per-process GPU memory. Never raises; see :meth:`available`."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._ok: bool | None = None  # None: not tried yet
        self._inited = False  # nvmlInit succeeded: nvmlShutdown owed at close
        self._errors: tuple[type[BaseException], ...] = (OSError,)
        self.reason = "not checked yet"

    def _fail(self, reason: str) -> _Unavailable:
        self._ok = False
        self.reason = reason
        return _Unavailable(reason)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except self._errors as err:
            raise self._fail(f"NVML error in {fn.__name__}: {err}") from err

    def available(self) -> tuple[bool, str]:
        """(True, summary) when NVML answers with at least one device, else (False, reason)."""
        if self._ok is not None:
            return self._ok, self.reason
        try:
            # __import__, not importlib.import_module: importing importlib brings warnings,
            # at the first sample of every run (gpu.critical is on by default).
            self._nvml = __import__("pynvml")
        except ImportError:
            self._fail("nvidia-ml-py is not installed (pip install 'guardrun[gpu]')")
            return False, self.reason
        # NVMLLibraryMismatchError (nvidia-ml-py 12+) is not an NVMLError: it comes from
        # an unversioned call, such as the process lists, into a driver older than the module.
        mismatch = getattr(self._nvml, "NVMLLibraryMismatchError", None)
        self._errors = (self._nvml.NVMLError, OSError) + ((mismatch,) if mismatch else ())
        try:
            self._call(self._nvml.nvmlInit)
            self._inited = True
            count = self._call(self._nvml.nvmlDeviceGetCount)
        except _Unavailable:
            return False, self.reason
        if count < 1:
            self._fail("NVML found no GPU")
            self._shutdown()
            return False, self.reason
        self._ok = True
        self.reason = f"NVML: {count} GPU{'s' if count != 1 else ''}"
        return True, self.reason

    def _handles(self) -> list[Any]:
        nvml = self._nvml
        count = self._call(nvml.nvmlDeviceGetCount)
        return [self._call(nvml.nvmlDeviceGetHandleByIndex, i) for i in range(count)]

    def devices(self) -> list[dict[str, Any]]:
        """``[{"index", "name", "used", "total"}]`` per device; [] when unavailable."""
        if not self.available()[0]:
            return []
        nvml = self._nvml
        out: list[dict[str, Any]] = []
        try:
            for index, handle in enumerate(self._handles()):
                name = self._call(nvml.nvmlDeviceGetName, handle)
                if isinstance(name, bytes):
                    name = name.decode("utf-8", "replace")
                mem = self._call(nvml.nvmlDeviceGetMemoryInfo, handle)
                out.append(
                    {"index": index, "name": name, "used": int(mem.used), "total": int(mem.total)}
                )
        except _Unavailable:
            return []
        return out

    def _processes(self, fn: Callable[..., list[Any]], handle: Any) -> list[Any]:
        try:
            return fn(handle)
        except self._errors as err:
            if getattr(err, "value", None) == _NOT_SUPPORTED:
                return []  # e.g. graphics processes on a compute-only board
            raise self._fail(f"NVML error in {fn.__name__}: {err}") from err

    def tree_usage(self, pids: Iterable[int]) -> dict[int, int]:
        """GPU bytes used by each of ``pids`` that uses any, summed over devices.

        A pid whose usage the driver cannot tell is left out. {} when unavailable.
        """
        wanted = set(pids)
        if not wanted or not self.available()[0]:
            return {}
        nvml = self._nvml
        usage: dict[int, int] = {}
        try:
            for handle in self._handles():
                on_device: dict[int, int] = {}
                for fn in (
                    nvml.nvmlDeviceGetComputeRunningProcesses,
                    nvml.nvmlDeviceGetGraphicsRunningProcesses,
                ):
                    for proc in self._processes(fn, handle):
                        used = proc.usedGpuMemory
                        if proc.pid in wanted and used is not None:
                            on_device[proc.pid] = max(on_device.get(proc.pid, 0), int(used))
                for pid, used in on_device.items():
                    usage[pid] = usage.get(pid, 0) + used
        except _Unavailable:
            return {}
        return usage

    def _shutdown(self) -> None:
        if not self._inited:
            return
        self._inited = False
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # shutting down a broken NVML: nothing useful to report
            pass

    def close(self) -> None:
        self._shutdown()
        self._ok = False
        self.reason = "closed"


def gpu_level(
    devices: list[dict[str, Any]], tree_bytes: int, warning: Threshold, critical: Threshold
) -> str:
    """``normal``, ``warning`` or ``critical`` for the GPU.

    A percent threshold is of a device: the fullest device (by anyone's use)
    counts, since a full device fails the agent's next allocation whoever
    filled it. A size threshold is of the tree's own use (``tree_bytes``,
    the sum of :meth:`GpuProbe.tree_usage`).
    """

    def reached(t: Threshold) -> bool:
        if t.percent:
            return any(d["total"] and d["used"] >= t.resolve(d["total"]) for d in devices)
        return tree_bytes >= t.resolve(0)

    if reached(critical):
        return "critical"
    if reached(warning):
        return "warning"
    return "normal"
