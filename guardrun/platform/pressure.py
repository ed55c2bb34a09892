"""Whole-machine memory pressure: RAM in use and, on Linux, PSI.

The agent's tree can be small while the machine runs out of memory (a browser,
a build, another agent). Then guardrun treats its child as at critical, and says
why: the machine, not the agent, is short.

RAM in use is ``1 - MemAvailable / MemTotal`` from ``/proc/meminfo`` (kB). Not
``MemFree``: page cache the kernel can drop at once is counted as available, as
``free`` shows it. Elsewhere psutil's ``virtual_memory()`` gives the same pair.

PSI (``/proc/pressure/memory``, Linux 4.20+ with CONFIG_PSI, and ``psi=1`` on
kernels built with it off by default) reads::

    some avg10=0.00 avg60=0.00 avg300=0.00 total=0
    full avg10=0.00 avg60=0.00 avg300=0.00 total=0

``some``: share of wall time (percent, over the last 10/60/300 s) in which at
least one task was stalled waiting for memory (reclaim, swap-in, thrashing);
``full``: all non-idle tasks stalled at once. ``total`` is cumulative stall in
microseconds. PSI sees thrashing that RAM-in-use misses: a machine reclaiming
page cache at full speed can show plenty "available" while every task waits.

Swap in use against its total (``SwapTotal``, ``SwapFree`` of the same meminfo read;
zram devices included) is the third sign: a machine whose swap is nearly full has
RAM and swap both spent, and the OOM killer is next. At or over ``system.swap`` it is
critical, beside PSI.
"""

from __future__ import annotations

import os

MEMINFO = "/proc/meminfo"  # strings, not pathlib: every start reads these (cgroup.py)
PSI_MEMORY = "/proc/pressure/memory"

LEVELS = ("normal", "warning", "critical")


def parse_meminfo(text: str) -> tuple[float, int, int] | None:
    """(used_fraction, total bytes, available bytes) from /proc/meminfo text; None if incomplete."""
    # Two str.find calls, not a split of all ~55 lines: read once a second all day long.
    values: dict[str, int] = {}
    for key in ("MemTotal", "MemAvailable"):
        at = text.find(key + ":")
        if at == 0 or (at > 0 and text[at - 1] == "\n"):
            end = text.find("\n", at)
            values[key] = int(text[at + len(key) + 1 : end if end >= 0 else None].split()[0]) * 1024
    total = values.get("MemTotal")
    available = values.get("MemAvailable")  # absent before Linux 3.14
    if not total or available is None:
        return None
    return 1.0 - available / total, total, available


def swap_fraction(text: str) -> float | None:
    """Swap in use as a fraction of its total, from /proc/meminfo text; None without swap."""
    values: dict[str, int] = {}
    for key in ("SwapTotal", "SwapFree"):
        at = text.find("\n" + key + ":")
        if at >= 0:
            end = text.find("\n", at + 1)
            field = text[at + len(key) + 2 : end if end >= 0 else None].split()
            if field and field[0].isdigit():
                values[key] = int(field[0])
    total, free = values.get("SwapTotal"), values.get("SwapFree")
    if not total or free is None:
        return None
    return max(0.0, 1.0 - free / total)


def swap_fraction_now(meminfo: str = MEMINFO) -> float | None:
    """``swap_fraction`` of the machine now; None without swap or off Linux."""
    try:
        return swap_fraction(_read(meminfo))
    except OSError:
        return None


def _read(path: str | os.PathLike[str]) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:  # ASCII; no codec to import
        return f.read()


def system_memory(meminfo: str | os.PathLike[str] = MEMINFO) -> tuple[float, int, int]:
    """(used_fraction, total bytes, available bytes) of the whole machine."""
    try:
        parsed = parse_meminfo(_read(meminfo))
    except (OSError, ValueError, IndexError):
        parsed = None
    if parsed is not None:
        return parsed
    import psutil

    vm = psutil.virtual_memory()
    total, available = int(vm.total), int(vm.available)
    return (1.0 - available / total if total else 0.0), total, available


def parse_psi(text: str) -> dict[str, dict[str, float]] | None:
    """``{"some": {"avg10": .., "avg60": .., "avg300": .., "total": ..}, "full": {..}}``.

    None when no ``some`` line is there. ``full`` is kept when present (the
    memory file has had it since PSI came in, Linux 4.20).
    """
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        if kind not in ("some", "full"):
            continue
        fields: dict[str, float] = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            fields[key] = float(value)
        out[kind] = fields
    if "avg10" not in out.get("some", {}):
        return None
    return out


def psi_some_avg10(text: str) -> float | None:
    """``some avg10`` from PSI text, as ``parse_psi`` reads it, without parsing the rest
    (read once a second all day long); None when there is none or it is not a number."""
    at = text.find("some ")
    while at > 0 and text[at - 1] != "\n":
        at = text.find("some ", at + 1)
    if at < 0:
        return None
    end = text.find("\n", at)
    for pair in text[at + 5 : end if end >= 0 else None].split():
        key, _, value = pair.partition("=")
        if key == "avg10":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def psi_memory(path: str | os.PathLike[str] = PSI_MEMORY) -> dict[str, dict[str, float]] | None:
    """Parsed memory PSI, or None where the file is absent (no PSI) or unreadable."""
    try:
        return parse_psi(_read(path))
    except (OSError, ValueError):
        # EOPNOTSUPP on reading when the kernel has PSI compiled in but disabled.
        return None


def system_level(
    used_fraction: float,
    psi_some_avg10: float | None,
    warning: float = 0.85,
    critical: float = 0.95,
    psi: float = 40.0,
    swap_used: float | None = None,
    swap: float = 0.8,
) -> str:
    """``normal``, ``warning`` or ``critical`` for the whole machine.

    RAM in use at or over ``warning``/``critical`` (fractions) gives that level.
    PSI ``some avg10`` at or over ``psi`` (percent) is critical by itself: tasks
    have been stalled on memory for that share of the last 10 s, so the machine
    is already thrashing, whatever RAM in use says. Swap in use at or over ``swap``
    (a fraction of the swap there is) is critical too.
    """
    if used_fraction >= critical or (psi_some_avg10 is not None and psi_some_avg10 >= psi):
        return "critical"
    if swap_used is not None and swap_used >= swap:
        return "critical"
    if used_fraction >= warning:
        return "warning"
    return "normal"


def system_reason(
    used_fraction: float,
    psi_some_avg10: float | None,
    warning: float = 0.85,
    critical: float = 0.95,
    psi: float = 40.0,
    swap_used: float | None = None,
    swap: float = 0.8,
) -> str:
    """One line saying why the machine is at its level, for events and messages."""
    level = system_level(used_fraction, psi_some_avg10, warning, critical, psi, swap_used, swap)
    ram = f"RAM {used_fraction:.0%} in use"
    if level == "normal":
        return f"the machine has memory to spare ({ram})"
    causes = []
    if used_fraction >= warning:
        limit = critical if used_fraction >= critical else warning
        causes.append(f"{ram}, at or over {limit:.0%}")
    if psi_some_avg10 is not None and psi_some_avg10 >= psi:
        causes.append(
            f"tasks stalled on memory {psi_some_avg10:.0f}% of the last 10 s (PSI, limit {psi:g}%)"
        )
    if swap_used is not None and swap_used >= swap:
        causes.append(f"swap {swap_used:.0%} in use, at or over {swap:.0%}")
    return f"the machine, not the agent, is short of memory: {'; '.join(causes)}"


class KeptReader:
    """One small /proc file read with ``pread`` on an fd kept open between reads (a
    fifteenth of opening, reading and decoding it each second: docs/benchmarks.md).
    ``read()`` is None once the file cannot be read; callers fall back to the slow path."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def read(self) -> str | None:
        if self._fd is None:
            return None
        try:
            return os.pread(self._fd, 8192, 0).decode("ascii", "replace")
        except OSError:
            self.close()
            return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
