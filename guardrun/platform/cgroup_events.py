"""What a process's memory cgroup reports: its usage, its limits, and its OOM kills.

``guardrun.platform.cgroup`` finds the tightest limit (what percentages are of);
this module reads the rest of one cgroup directory, so the supervisor can show
the kernel's own count (``memory.current``) beside the tree sum and tell an OOM
kill from a crash: when the child dies by SIGKILL and ``oom_kill`` went up, the
kernel's OOM killer did it.

Files read (sizes in bytes):

=================  =======================  ==========================================
what               cgroup v2                cgroup v1 (memory controller)
=================  =======================  ==========================================
usage              memory.current           memory.usage_in_bytes
hard limit         memory.max ("max": none) memory.limit_in_bytes (>= 2**60: none)
throttle limit     memory.high ("max": none) (none: v1's soft limit only reclaims
                                            under global pressure, it never throttles)
OOM kills          memory.events, oom_kill  memory.oom_control, line ``oom_kill N``
                   (this cgroup and below)  (Linux 4.13+)
=================  =======================  ==========================================

v2 is used when the process's v2 cgroup has the memory controller (the file
``memory.current`` exists; the root cgroup has none); otherwise its v1 memory
cgroup, as on hybrid hosts where v2 is mounted at ``/sys/fs/cgroup/unified``
without the memory controller.
"""

import os
from typing import NamedTuple

from guardrun.platform.cgroup import CGROUP_ROOT, PROC, cgroup_paths, read_text, v2_base

_V1_UNLIMITED = 1 << 60  # v1 reports "no limit" as 2**63 rounded down to a page


class CgroupMemory(NamedTuple):
    version: int  # 1 or 2
    path: str
    current: int | None
    max: int | None  # None: no hard limit in this cgroup
    high: int | None  # None: unset, or v1
    oom_kills: int | None  # None: the kernel does not count them here

    @property
    def limit(self) -> int | None:
        """The lower of ``max`` and ``high``: where the kernel starts to squeeze."""
        set_ = [v for v in (self.max, self.high) if v is not None]
        return min(set_) if set_ else None

    @property
    def percent(self) -> float | None:
        """``current`` as a percentage of ``limit``; None without both."""
        if self.current is None or not self.limit:
            return None
        return 100.0 * self.current / self.limit


def _int(text: str | None, unlimited: int | None = None) -> int | None:
    if text is None or not text.isdigit():
        return None  # also "max" (v2 for "no limit")
    value = int(text)
    return None if unlimited is not None and value >= unlimited else value


def parse_keyed(text: str | None) -> dict[str, int]:
    """``key N`` lines (memory.events, memory.oom_control, memory.stat) as a dict."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def memory_cgroup(
    pid: int | str = "self",
    root: str | os.PathLike[str] = CGROUP_ROOT,
    proc: str | os.PathLike[str] = PROC,
) -> tuple[int, str] | None:
    """(version, directory) of the memory cgroup ``pid`` is in; None when there is none."""
    paths = cgroup_paths(pid, proc)
    if "" in paths:
        d = os.path.join(v2_base(root), paths[""].lstrip("/"))
        if os.path.exists(os.path.join(d, "memory.current")):
            return 2, d
    if "memory" in paths:
        d = os.path.join(root, "memory", paths["memory"].lstrip("/"))
        if os.path.exists(os.path.join(d, "memory.usage_in_bytes")):
            return 1, d
    return None


def read_dir(version: int, d: str | os.PathLike[str]) -> CgroupMemory:
    """Read one cgroup directory (``version`` 1 or 2)."""
    d = os.fspath(d)

    def _read(name: str) -> str | None:
        return read_text(os.path.join(d, name))

    if version == 2:
        events = parse_keyed(_read("memory.events"))
        return CgroupMemory(
            2,
            d,
            current=_int(_read("memory.current")),
            max=_int(_read("memory.max")),
            high=_int(_read("memory.high")),
            oom_kills=events.get("oom_kill"),
        )
    control = parse_keyed(_read("memory.oom_control"))
    return CgroupMemory(
        1,
        d,
        current=_int(_read("memory.usage_in_bytes")),
        max=_int(_read("memory.limit_in_bytes"), _V1_UNLIMITED),
        high=None,
        oom_kills=control.get("oom_kill"),
    )


def read_memory(
    pid: int | str = "self", root: str | os.PathLike[str] = CGROUP_ROOT
) -> CgroupMemory | None:
    """The memory cgroup of ``pid``, read now; None without a memory cgroup."""
    found = memory_cgroup(pid, root)
    return None if found is None else read_dir(*found)


class OomWatch:
    """Counts OOM kills in one cgroup since the watch began.

    Built at child start on the child's cgroup; ``new_kills()`` after the child
    dies says whether the kernel's OOM killer was involved. The directory is
    fixed at the start: a process may move, the cgroup that charged it does not.
    """

    def __init__(self, pid: int | str = "self", root: str | os.PathLike[str] = CGROUP_ROOT) -> None:
        self.cgroup = memory_cgroup(pid, root)
        self._base = self._count()

    def _count(self) -> int | None:
        if self.cgroup is None:
            return None
        return read_dir(*self.cgroup).oom_kills

    def new_kills(self) -> int:
        """OOM kills in the cgroup since the watch began (0 where they are not counted)."""
        now = self._count()
        if now is None or self._base is None:
            return 0
        return max(0, now - self._base)
