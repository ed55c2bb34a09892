"""How memory is read on each OS, behind one interface.

Every backend has the same shape: ``sample(roots)`` returns a :class:`TreeSample`
of the processes under ``roots`` (the child, plus any orphans guardrun adopted
as a subreaper), and ``close()`` releases what it keeps open. Backends know
nothing of thresholds; they raise :class:`guardrun.errors.ProbeError` when they
cannot read, and the supervisor falls back to the next one.
"""

from __future__ import annotations

import os
import sys

# Not typing's: the sentinel's program imports this module for start_time and marked,
# and imports nothing it does not use (supervisor/sentinel_program.py). mypy reads any
# TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from guardrun.platform.swap import SwapInfo
    from guardrun.platform.types import Probe as Probe
    from guardrun.platform.types import ProcSample as ProcSample
    from guardrun.platform.types import TreeSample as TreeSample
else:

    def __getattr__(name: str) -> object:
        """``Probe``, ``ProcSample``, ``TreeSample``: ``platform.types``, imported at the
        first use (NamedTuples: ``typing`` and ``collections``, which the sentinel skips)."""
        if name in ("Probe", "ProcSample", "TreeSample"):
            from guardrun.platform import types

            return getattr(types, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The one place that asks which OS this is; the rest of guardrun asks this module.
SYSTEM = sys.platform
IS_LINUX = SYSTEM.startswith("linux")
IS_WINDOWS = SYSTEM == "win32"
IS_MACOS = SYSTEM == "darwin"

# Per-process facts (start time, children, marker, open files, subreaper, ...): the same
# names from /proc on Linux and from psutil elsewhere, picked once here.
if sys.platform.startswith("linux"):  # spelt out so that mypy checks one branch
    from guardrun.platform import linux_facts as _facts
else:  # pragma: no cover - exercised on macOS and Windows
    from guardrun.platform import portable_facts as _facts

HAS_START_TIMES = _facts.HAS_START_TIMES
alive = _facts.alive
direct_children = _facts.direct_children
environ_has = _facts.environ_has
marked = _facts.marked
open_files = _facts.open_files
own_children = _facts.own_children
parent_death_signal = _facts.parent_death_signal
parent_of = _facts.parent_of
process_argv = _facts.process_argv
process_name = _facts.process_name
process_uid = _facts.process_uid
set_subreaper = _facts.set_subreaper
start_time = _facts.start_time

__all__ = [
    "SYSTEM",
    "IS_LINUX",
    "IS_WINDOWS",
    "IS_MACOS",
    "HAS_START_TIMES",
    "Probe",
    "ProcSample",
    "TreeSample",
    "alive",
    "direct_children",
    "environ_has",
    "marked",
    "open_files",
    "own_children",
    "parent_death_signal",
    "parent_of",
    "process_argv",
    "process_name",
    "process_uid",
    "set_subreaper",
    "start_time",
    "process_identity",
    "is_same_process",
    "backend_order",
    "make_probe",
    "probe_names",
    "open_next",
    "available_probes",
    "default_probe",
    "physical_memory",
    "swap_info",
    "footprint_reads",
    "PROBE_NAMES",
]


# psutil's create_time() is rounded to the clock tick (10 ms on Linux); allow for that.
_CREATE_TIME_SLACK = 0.05


def process_identity(pid: int) -> dict[str, Any]:
    """What, with the pid, tells this process apart from a later one with the same pid:
    on Linux the start time in clock ticks (exact), elsewhere psutil's create_time()."""
    if IS_LINUX:
        ticks = start_time(pid)
        return {} if ticks is None else {"linux_ticks": ticks}
    created = _create_time(pid)
    return {} if created is None else {"create_time": created}


def _create_time(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:  # psutil.Error, or no psutil: the pid alone must do
        return None


def is_same_process(pid: int, identity: dict[str, Any]) -> bool:
    """True when ``pid`` runs (not a zombie) and started as ``identity`` says; an empty
    identity asks only whether it runs (callers that act on the pid must not pass one)."""
    if not alive(pid):
        return False
    if "linux_ticks" in identity:
        return IS_LINUX and start_time(pid) == identity["linux_ticks"]
    if "create_time" in identity:
        now = _create_time(pid)
        try:
            want = float(identity["create_time"])
        except (TypeError, ValueError):
            return False
        return now is not None and abs(now - want) <= _CREATE_TIME_SLACK
    return True


PROBE_NAMES = ("proc", "psutil", "ps", "wmi")


def backend_order(system: str | None = None) -> list[str]:
    """Backends to try, best first, for ``system`` (``sys.platform`` by default)."""
    system = system or SYSTEM
    if system.startswith("linux"):
        return ["proc", "psutil", "ps"]
    if system == "win32":
        return ["psutil", "wmi"]
    return ["psutil", "ps"]


def make_probe(name: str) -> Probe:
    """Build the backend called ``name``; ProbeError when it cannot run here."""
    from guardrun.errors import UsageError

    if name == "proc":
        from guardrun.platform.linux import ProcProbe

        return ProcProbe()
    if name == "psutil":
        from guardrun.platform.portable import PsutilProbe

        return PsutilProbe(footprint=_macos_footprint(), private=IS_WINDOWS)
    if name == "ps":
        from guardrun.platform.ps import PsProbe

        return PsProbe(footprint=_macos_footprint())
    if name == "wmi":
        from guardrun.platform.windows import WmiProbe

        return WmiProbe()
    raise UsageError(f"unknown probe {name!r} (choose from auto, {', '.join(PROBE_NAMES)})")


def _macos_footprint() -> Callable[[int], int | None] | None:
    """libproc's phys_footprint reader on macOS (None elsewhere, or where it won't load)."""
    if not IS_MACOS:
        return None
    from guardrun.platform import darwin

    lib = darwin.load()
    return None if lib is None else lib.footprint


def probe_names(name: str = "auto") -> list[str]:
    """Backends to try for ``--probe NAME``: the fallback order, or just the one forced."""
    return backend_order() if name == "auto" else [name]


def open_next(names: list[str], errors: list[str]) -> Probe | None:
    """Open the first backend of ``names`` that works, consuming ``names`` up to it;
    why each one before it failed is appended to ``errors``."""
    from guardrun.errors import ProbeError

    while names:
        name = names.pop(0)
        try:
            return make_probe(name)
        except ProbeError as err:
            errors.append(f"{name}: {err}")
    return None


def available_probes(name: str = "auto") -> list[Probe]:
    """Every working backend in fallback order; ``name`` other than auto forces one."""
    from guardrun.errors import ProbeError

    names = probe_names(name)
    probes: list[Probe] = []
    errors: list[str] = []
    while (probe := open_next(names, errors)) is not None:
        probes.append(probe)
    if not probes:
        raise ProbeError("no memory probe works here (" + "; ".join(errors) + ")")
    return probes


def default_probe(name: str = "auto") -> Probe:
    return available_probes(name)[0]


def swap_info() -> SwapInfo:
    """What moves memory out of RAM here (``platform.swap.SwapInfo``): swap devices, zram,
    zswap, the macOS compressor, the Windows page file. For doctor: macOS spawns sysctl."""
    from guardrun.platform import swap

    if IS_LINUX:
        return swap.linux()
    if IS_MACOS:
        return swap.macos()
    return swap.portable()


def footprint_reads() -> str:
    """What the ``footprint`` metric reads on this OS, in words (for doctor)."""
    if IS_LINUX:
        return (
            "resident + swapped (statm, and VmSwap of /proc/PID/status while swap is in "
            "use); a tree alone in its own memory cgroup: the cgroup's charge less page cache"
        )
    if IS_WINDOWS:
        return "private bytes (psutil's private), not the working set"
    if IS_MACOS:
        from guardrun.platform import darwin

        if darwin.load() is None:
            return "resident (ps/psutil RSS): libproc did not load"
        return "phys_footprint (libproc proc_pid_rusage, as Activity Monitor and jetsam)"
    return "resident (RSS): no footprint reader for this OS"


def physical_memory() -> int:
    """Bytes of physical RAM."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        import psutil

        return int(psutil.virtual_memory().total)
