"""The memory limit a process lives under: its cgroup's, when set, else physical RAM.

cgroup v2: ``/proc/<pid>/cgroup`` has a line ``0::/path``; the limit is the
smallest ``memory.max`` or ``memory.high`` on the way from that cgroup up to the root (a parent's
limit binds its children too). cgroup v1 (hybrid hosts such as this one):
the line ``N:memory:/path`` and ``memory.limit_in_bytes`` under the v1 memory
mount. "max" (v2) or a value near 2**63 (v1) means no limit.
"""

import os
from typing import NamedTuple

from guardrun.platform import physical_memory

# Paths here are strings (os.path), as the kernel's files are: every start reads them,
# and pathlib would cost the start its import (docs/benchmarks.md, start-up).
CGROUP_ROOT = "/sys/fs/cgroup"
PROC = "/proc"
_V1_UNLIMITED = 1 << 60


class MemoryLimit(NamedTuple):
    bytes: int
    source: str  # "cgroup v2 /path", "cgroup v1 /path" or "physical RAM"
    cgroup_dir: str | None = None


def read_text(path: str) -> str | None:
    """A kernel file's text, stripped; None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def cgroup_paths(pid: int | str = "self", proc: str | os.PathLike[str] = PROC) -> dict[str, str]:
    """Map of controller ("" for v2) to cgroup path, from /proc/<pid>/cgroup."""
    text = read_text(os.path.join(proc, str(pid), "cgroup")) or ""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            out[controller] = parts[2]
    return out


def v2_base(root: str | os.PathLike[str] = CGROUP_ROOT) -> str:
    """Where the v2 hierarchy is mounted: ``root``, or ``root/unified`` on hybrid hosts."""
    unified = os.path.join(root, "unified")
    return unified if os.path.exists(os.path.join(unified, "cgroup.controllers")) else str(root)


def _v2_dirs(rel: str, root: str | os.PathLike[str]) -> list[str]:
    """The cgroup directory and its ancestors, innermost first."""
    base = os.path.normpath(v2_base(root))
    d = os.path.normpath(os.path.join(base, rel.lstrip("/")))
    dirs = []
    while True:
        dirs.append(d)
        if d == base or not d.startswith(base + os.sep):
            break
        d = os.path.dirname(d)
    return dirs


def cgroup_limit(
    pid: int | str = "self", root: str | os.PathLike[str] = CGROUP_ROOT
) -> MemoryLimit | None:
    """The tightest cgroup memory limit over ``pid``, or None when there is none."""
    paths = cgroup_paths(pid)
    best: MemoryLimit | None = None
    if "" in paths:
        for d in _v2_dirs(paths[""], root):
            # memory.high is where the kernel starts to throttle and reclaim hard:
            # for an agent that is already the wall, so the lower of the two counts.
            for name in ("memory.max", "memory.high"):
                value = read_text(os.path.join(d, name))
                if value and value != "max" and value.isdigit():
                    if best is None or int(value) < best.bytes:
                        best = MemoryLimit(int(value), f"cgroup v2 {name} of {d}", d)
    if best is None and "memory" in paths:
        top = os.path.normpath(os.path.join(root, "memory"))
        d = os.path.normpath(os.path.join(top, paths["memory"].lstrip("/")))
        while True:
            value = read_text(os.path.join(d, "memory.limit_in_bytes"))
            if value and value.isdigit() and int(value) < _V1_UNLIMITED:
                if best is None or int(value) < best.bytes:
                    best = MemoryLimit(int(value), f"cgroup v1 memory.limit_in_bytes of {d}", d)
            if d == top or d == os.path.dirname(d):
                break
            d = os.path.dirname(d)
    return best


def memory_limit(pid: int | str = "self") -> MemoryLimit:
    """What percentage thresholds are relative to: the cgroup limit if lower, else RAM."""
    ram = physical_memory()
    limit = cgroup_limit(pid)
    if limit is not None and limit.bytes < ram:
        return limit
    return MemoryLimit(ram, "physical RAM")
