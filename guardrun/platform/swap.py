"""Whether this machine moves memory out of RAM, and how: swap devices, zram, zswap,
the macOS compressor, the Windows page file.

A leak's pages are the coldest of the process, so they are the first the OS moves out
of RAM; where that happens, resident memory (RSS) shrinks while the charge grows, and
the ``footprint`` metric counts the swapped part too. ``doctor`` says what is on here;
the machine's level counts swap in use against its total (``pressure``).

Linux files (sizes in KiB):
    /proc/swaps                          Filename Type Size Used Priority, a line per
                                         device; zram devices are ``/dev/zramN``
    /proc/meminfo                        SwapTotal, SwapFree (all devices together)
    /sys/module/zswap/parameters/enabled ``Y`` or ``N`` (absent: no zswap in the kernel)
macOS (``sysctl``, read only by doctor): ``vm.swapusage`` (``total = 0.00M  used =
0.00M  free = 0.00M ...``) and ``vm.compressor_mode`` (4: compressor with swap, 2:
compressor without swap, 1: none). Windows: psutil's ``swap_memory()`` (the page file).
"""

import os
from typing import NamedTuple

SWAPS = "/proc/swaps"
ZSWAP = "/sys/module/zswap/parameters/enabled"


class SwapInfo(NamedTuple):
    total: int  # bytes of swap space (0: none)
    used: int  # bytes in use
    devices: tuple[str, ...]  # swap files, partitions, zram devices (Linux)
    zram: bool  # a swap device is zram (compressed in RAM)
    zswap: bool | None  # zswap is enabled (None: the kernel has none, or not Linux)
    compressor: bool | None  # macOS memory compressor on (None: not macOS)

    @property
    def on(self) -> bool:
        """Memory can leave RAM and still be charged: swap, zram, zswap or a compressor."""
        return bool(self.total or self.zswap or self.compressor)

    def describe(self) -> str:
        """One line for ``doctor``."""
        from guardrun.units import format_bytes

        parts = []
        if self.total:
            kinds = "zram" if self.zram and len(self.devices) == 1 else "swap"
            parts.append(
                f"{kinds} {format_bytes(self.used)} of {format_bytes(self.total)} in use"
                + (f" ({', '.join(self.devices)})" if self.devices else "")
            )
        else:
            parts.append("no swap")
        if self.zram and len(self.devices) > 1:
            parts.append("zram among them")
        if self.zswap is not None:
            parts.append(f"zswap {'on' if self.zswap else 'off'}")
        if self.compressor is not None:
            parts.append(f"memory compressor {'on' if self.compressor else 'off'}")
        return ", ".join(parts)


def read_text(path: str) -> str | None:
    """A kernel file's text, stripped; None when it cannot be read (as in ``cgroup``,
    which this module does not import: the facade imports this one)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def parse_swaps(text: str) -> tuple[tuple[str, ...], int, int]:
    """(devices, total bytes, used bytes) from ``/proc/swaps`` text."""
    devices: list[str] = []
    total = used = 0
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            devices.append(fields[0])
            total += int(fields[2]) * 1024
            used += int(fields[3]) * 1024
    return tuple(devices), total, used


def parse_swapusage(text: str) -> tuple[int, int]:
    """(total, used) bytes from macOS ``sysctl -n vm.swapusage``."""
    values: dict[str, int] = {}
    words = text.replace("=", " ").split()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    for key, value in zip(words, words[1:], strict=False):
        if key in ("total", "used") and value[-1:] in units:
            try:
                values[key] = int(float(value[:-1]) * units[value[-1]])
            except ValueError:
                pass
    return values.get("total", 0), values.get("used", 0)


def linux(swaps: str = SWAPS, zswap: str = ZSWAP) -> SwapInfo:
    devices, total, used = parse_swaps(read_text(swaps) or "")
    enabled = read_text(zswap)
    return SwapInfo(
        total,
        used,
        devices,
        any(os.path.basename(d).startswith("zram") for d in devices),
        None if enabled is None else enabled.upper().startswith("Y"),
        None,
    )


def _sysctl(name: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def macos() -> SwapInfo:
    total, used = parse_swapusage(_sysctl("vm.swapusage") or "")
    mode = _sysctl("vm.compressor_mode")
    compressor = None if mode is None or not mode.isdigit() else int(mode) > 1
    return SwapInfo(total, used, (), False, None, bool(compressor))


def portable() -> SwapInfo:
    try:
        import psutil

        sm = psutil.swap_memory()
    except Exception:  # no psutil, or an OS psutil cannot read
        return SwapInfo(0, 0, (), False, None, None)
    return SwapInfo(int(sm.total), int(sm.used), (), False, None, None)
