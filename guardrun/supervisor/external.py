"""Pressure from outside the tree: the whole machine's RAM and PSI, and GPU memory.

RAM in use, PSI and swap in use count at the system level. At system (or GPU)
critical the supervisor treats its child as at critical (restart at the next quiet
moment) and says why: the machine, not the agent, is short. Readings are
rate-limited: meminfo and PSI cost tens of microseconds (once a second), NVML
calls cost milliseconds (once every 5 s).
"""

from typing import TYPE_CHECKING, Any, NamedTuple

from guardrun.supervisor.levels import CRITICAL, NORMAL, WARNING
from guardrun.units import Threshold

if TYPE_CHECKING:
    from guardrun.platform.pressure import KeptReader

_RANK = {NORMAL: 0, WARNING: 1, CRITICAL: 2}


class Reading(NamedTuple):
    level: str = NORMAL
    source: str = ""  # "system" | "gpu"
    reason: str = ""


_NORMAL = Reading()


class ExternalPressure:
    def __init__(
        self,
        system_warning: float = 0.85,  # fractions of RAM in use
        system_critical: float = 0.95,
        psi: float = 40.0,
        swap: float = 0.8,  # fraction of the swap there is, in use: critical
        gpu_warning: Threshold | None = None,
        gpu_critical: Threshold | None = None,
        system_every: float = 1.0,
        gpu_every: float = 5.0,
    ) -> None:
        self.system_warning = system_warning
        self.system_critical = system_critical
        self.psi = psi
        self.swap = swap
        self.gpu_warning = gpu_warning
        self.gpu_critical = gpu_critical
        self.system_every = system_every
        self.gpu_every = gpu_every
        self._next_system = 0.0
        self._next_gpu = 0.0
        self._system = Reading()
        self._gpu = Reading()
        self._gpu_probe: Any = None
        self.gpu_off: str | None = None  # why GPU watching is off
        self._meminfo: KeptReader | None = None  # opened at the first reading
        self._psi_file: KeptReader | None = None

    def check(self, now: float, pids: list[int]) -> Reading:
        """The worse of the machine's and the GPU's levels (cached between reads)."""
        if now >= self._next_system:
            self._next_system = now + self.system_every
            self._system = self._read_system()
        if self.gpu_critical is None:
            return self._system  # no GPU watched (most runs): nothing to compare
        if self.gpu_off is None and now >= self._next_gpu:
            self._next_gpu = now + self.gpu_every
            self._gpu = self._read_gpu(pids)
        return max(self._system, self._gpu, key=lambda r: _RANK[r.level])

    def _read_system(self) -> Reading:
        from guardrun.platform import pressure as p

        if self._meminfo is None:
            self._meminfo, self._psi_file = p.KeptReader(p.MEMINFO), p.KeptReader(p.PSI_MEMORY)
        meminfo = text = self._meminfo.read()
        parsed = p.parse_meminfo(text) if text is not None else None
        try:
            used = parsed[0] if parsed is not None else p.system_memory()[0]
        except (OSError, ValueError):
            return Reading()
        assert self._psi_file is not None
        text = self._psi_file.read()  # None where there is no PSI (not Linux, old kernel)
        some = p.psi_some_avg10(text) if text is not None else None
        swapped = p.swap_fraction(meminfo) if meminfo is not None else None
        args = (used, some, self.system_warning, self.system_critical, self.psi, swapped, self.swap)
        level = p.system_level(*args)
        if level == NORMAL:
            return _NORMAL
        return Reading(level, "system", p.system_reason(*args))

    def _read_gpu(self, pids: list[int]) -> Reading:
        from guardrun.platform.gpu import GpuProbe, gpu_level
        from guardrun.units import format_bytes

        if self._gpu_probe is None:
            self._gpu_probe = GpuProbe()
        ok, why = self._gpu_probe.available()
        if not ok:
            self.gpu_off = why
            return Reading()
        devices = self._gpu_probe.devices()
        usage = self._gpu_probe.tree_usage(pids)
        ok, why = self._gpu_probe.available()
        if not ok:  # an NVML error mid-run turns the feature off, nothing else
            self.gpu_off = why
            return Reading()
        assert self.gpu_warning is not None and self.gpu_critical is not None
        tree = sum(usage.values())
        level = gpu_level(devices, tree, self.gpu_warning, self.gpu_critical)
        if level == NORMAL:
            return Reading()
        fullest = max(devices, key=lambda d: d["used"] / d["total"] if d["total"] else 0)
        return Reading(
            level,
            "gpu",
            f"GPU memory {level}: device {fullest['index']} {format_bytes(fullest['used'])} of "
            f"{format_bytes(fullest['total'])}, the tree uses {format_bytes(tree)}",
        )

    def close(self) -> None:
        for kept in (self._meminfo, self._psi_file):
            if kept is not None:
                kept.close()
        if self._gpu_probe is not None:
            self._gpu_probe.close()
