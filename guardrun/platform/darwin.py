"""macOS: a process's ``phys_footprint`` from libproc's ``proc_pid_rusage``, by ctypes.

``phys_footprint`` is what macOS charges a process for: what Activity Monitor's Memory
column and jetsam (macOS's OOM killer) count. It takes in the process's compressed
and swapped pages, which ``ps`` RSS leaves out: idle Claude Code sessions were
measured at 1.84-2.2x their RSS, and a guard reading RSS saw 66 MB of a process whose
footprint was 13 GB. One call per process and poll, no ``ps`` spawned; where libproc
cannot be loaded (not macOS) or a call fails (the process is gone or another user's),
the backend keeps its RSS for that process.

``struct rusage_info_v2`` (``<sys/resource.h>``, ``RUSAGE_INFO_V2 = 2``) fields, in
order: uuid[16] bytes, then uint64 user_time, system_time, pkg_idle_wkups,
interrupt_wkups, pageins, wired_size, resident_size, phys_footprint,
proc_start_abstime, proc_exit_abstime, child_user_time, child_system_time,
child_pkg_idle_wkups, child_interrupt_wkups, child_pageins, child_elapsed_abstime,
diskio_bytesread, diskio_byteswritten. Sizes are bytes.
"""

from __future__ import annotations

import ctypes
from typing import Any

from guardrun.errors import ProbeError

LIBPROC = "/usr/lib/libproc.dylib"
RUSAGE_INFO_V2 = 2


class RusageInfoV2(ctypes.Structure):
    _fields_ = [
        ("ri_uuid", ctypes.c_uint8 * 16),
        *(
            (name, ctypes.c_uint64)
            for name in (
                "ri_user_time",
                "ri_system_time",
                "ri_pkg_idle_wkups",
                "ri_interrupt_wkups",
                "ri_pageins",
                "ri_wired_size",
                "ri_resident_size",
                "ri_phys_footprint",
                "ri_proc_start_abstime",
                "ri_proc_exit_abstime",
                "ri_child_user_time",
                "ri_child_system_time",
                "ri_child_pkg_idle_wkups",
                "ri_child_interrupt_wkups",
                "ri_child_pageins",
                "ri_child_elapsed_abstime",
                "ri_diskio_bytesread",
                "ri_diskio_byteswritten",
            )
        ),
    ]


# proc_pid_rusage(int pid, int flavor, rusage_info_t *buffer) -> 0, or -1 with errno
RUSAGE_FUNC = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.POINTER(RusageInfoV2), use_errno=True
)


class Libproc:
    """``footprint(pid)``: phys_footprint in bytes, or None. ``lib``: a loaded libproc
    (tests pass a fake, since libproc exists only on macOS)."""

    def __init__(self, lib: Any = None) -> None:
        if lib is None:
            try:
                lib = ctypes.CDLL(LIBPROC, use_errno=True)
            except OSError as err:
                raise ProbeError(f"cannot load {LIBPROC}: {err}") from err
        try:
            fn = lib.proc_pid_rusage
        except AttributeError as err:
            raise ProbeError(f"{LIBPROC} has no proc_pid_rusage") from err
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(RusageInfoV2)]
        fn.restype = ctypes.c_int
        self._fn = fn
        self._buf = RusageInfoV2()  # reused: one structure, one call per process
        self._ref = ctypes.byref(self._buf)
        self.calls = 0

    def footprint(self, pid: int) -> int | None:
        self.calls += 1
        if self._fn(pid, RUSAGE_INFO_V2, self._ref) != 0:
            return None  # ESRCH (gone) or EPERM (another user's): keep the RSS
        return int(self._buf.ri_phys_footprint)


def load() -> Libproc | None:
    """libproc when it loads (macOS), else None: the backend keeps ps/psutil RSS."""
    try:
        return Libproc()
    except ProbeError:
        return None
