"""The memory limit a process lives under: its cgroup's, when set, else physical RAM.

cgroup v2: ``/proc/<pid>/cgroup`` has a line ``0::/path``; the limit is the
smallest ``memory.max`` or ``memory.high`` on the way from that cgroup up to the root (a parent's
limit binds its children too). cgroup v1 (hybrid hosts such as this one):
the line ``N:memory:/path`` and ``memory.limit_in_bytes`` under the v1 memory
mount. "max" (v2) or a value near 2**63 (v1) means no limit.
"""

from __future__ import annotations

from pathlib import Path

from guardrun.platform import physical_memory
from guardrun.records import NamedTuple

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_UNLIMITED = 1 << 60


class MemoryLimit(NamedTuple):
    bytes: int
    source: str  # "cgroup v2 /path", "cgroup v1 /path" or "physical RAM"
    cgroup_dir: Path | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_paths(pid: int | str = "self", proc: Path = Path("/proc")) -> dict[str, str]:
    """Map of controller ("" for v2) to cgroup path, from /proc/<pid>/cgroup."""
    text = _read(proc / str(pid) / "cgroup") or ""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            out[controller] = parts[2]
    return out


def _v2_dirs(rel: str, root: Path) -> list[Path]:
    """The cgroup directory and its ancestors, innermost first."""
    base = root / "unified" if (root / "unified" / "cgroup.controllers").exists() else root
    d = base / rel.lstrip("/")
    dirs = []
    while True:
        dirs.append(d)
        if d == base or base not in d.parents:
            break
        d = d.parent
    return dirs


def cgroup_limit(pid: int | str = "self", root: Path = CGROUP_ROOT) -> MemoryLimit | None:
    """The tightest cgroup memory limit over ``pid``, or None when there is none."""
    paths = cgroup_paths(pid)
    best: MemoryLimit | None = None
    if "" in paths:
        for d in _v2_dirs(paths[""], root):
            # memory.high is where the kernel starts to throttle and reclaim hard:
            # for an agent that is already the wall, so the lower of the two counts.
            for name in ("memory.max", "memory.high"):
                value = _read(d / name)
                if value and value != "max" and value.isdigit():
                    if best is None or int(value) < best.bytes:
                        best = MemoryLimit(int(value), f"cgroup v2 {name} of {d}", d)
    if best is None and "memory" in paths:
        d = root / "memory" / paths["memory"].lstrip("/")
        while True:
            value = _read(d / "memory.limit_in_bytes")
            if value and value.isdigit() and int(value) < _V1_UNLIMITED:
                if best is None or int(value) < best.bytes:
                    best = MemoryLimit(int(value), f"cgroup v1 memory.limit_in_bytes of {d}", d)
            if d == root / "memory" or d == d.parent:
                break
            d = d.parent
    return best


def memory_limit(pid: int | str = "self") -> MemoryLimit:
    """What percentage thresholds are relative to: the cgroup limit if lower, else RAM."""
    ram = physical_memory()
    limit = cgroup_limit(pid)
    if limit is not None and limit.bytes < ram:
        return limit
    return MemoryLimit(ram, "physical RAM")
