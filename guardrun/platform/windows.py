"""The Windows backend over WMI: one ``Win32_Process`` query per poll.

Used on Windows when psutil is not importable (psutil first: it reads the
process table through the native API, without a COM round trip). Needs the
optional ``wmi`` package (``pip install guardrun[windows]``), imported only when
this backend is built. WMI is COM: a thread other than the one that built the
probe must call ``pythoncom.CoInitialize()`` first, so one supervisor loop owns
a probe, as with the other backends.

``Win32_Process`` properties read (the ``wmi`` package returns uint64 values as
decimal strings, uint32 as ints):
    ProcessId          uint32
    ParentProcessId    uint32   may name a parent that has exited and whose id
                                was reused; the walk below starts from our own
                                roots, so such a stale link only matters if the
                                reused id is itself in the tree
    WorkingSetSize     uint64   bytes: Windows' resident set, used as rss
    PrivatePageCount   uint32   bytes (not pages, despite the name): private
                                committed memory, capped at 4 GiB by its type.
                                It is not USS (private *resident* memory): it is
                                the footprint (what the commit limit counts), and
                                also kept in ``last_private``.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING

from guardrun.errors import ProbeError
from guardrun.platform.ps import tree_from_table
from guardrun.platform.types import TreeSample, charged

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

QUERY = "SELECT ProcessId, ParentProcessId, WorkingSetSize, PrivatePageCount FROM Win32_Process"


def _int(value: Any) -> int:
    """WMI numbers arrive as int, decimal string, or None (a process being torn down)."""
    if value is None or value == "":
        return 0
    return int(value)


class WmiProbe:
    """The ``wmi`` backend."""

    name = "wmi"

    def __init__(self) -> None:
        try:
            wmi = importlib.import_module("wmi")
        except ImportError as err:
            raise ProbeError(
                "the wmi package is not installed (pip install 'guardrun[windows]')"
            ) from err
        try:
            self._conn: Any = wmi.WMI()
        except Exception as err:  # COM errors (pywintypes.com_error, wmi.x_wmi) vary by setup
            raise ProbeError(f"cannot connect to WMI: {err}") from err
        self.last_private: dict[int, int] = {}

    def sample(self, roots: Iterable[int]) -> TreeSample:
        try:
            rows = self._conn.query(QUERY)
            table: dict[int, tuple[int, int]] = {}
            private: dict[int, int] = {}
            for row in rows:
                pid = _int(row.ProcessId)
                table[pid] = (_int(row.ParentProcessId), _int(row.WorkingSetSize))
                private[pid] = _int(row.PrivatePageCount)
        except Exception as err:  # a failed COM call: hand over to the next backend
            raise ProbeError(f"WMI query of Win32_Process failed: {err}") from err
        if not table:
            raise ProbeError("WMI returned no processes")
        # System Idle Process is pid 0 with ParentProcessId 0: never a tree member.
        table.pop(0, None)
        procs = tuple(
            charged(p.pid, p.ppid, p.rss, private[p.pid] or None)
            for p in tree_from_table(table, roots)
        )
        self.last_private = {p.pid: private[p.pid] for p in procs}
        return TreeSample(time.monotonic(), procs)

    def close(self) -> None:
        self._conn = None
        self.last_private = {}
