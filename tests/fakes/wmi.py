"""A fake ``wmi`` package for machines without Windows, such as the test machine.

``WMI()`` returns a connection whose ``query(wql)`` answers ``Win32_Process``
with the rows below. Their shapes follow the ``wmi`` package on CPython for
Windows: properties are attributes, uint32 values are ints and uint64 values
(``WorkingSetSize``) are decimal strings, as WMI's COM layer hands them over.
The rows are representative of a Windows 11 session running Claude Code under
guardrun (pids, parents and sizes in the usual ranges), written for this test:
no Windows machine was available to capture a live table.

Tests steer it through ``ROWS``, ``CONNECT_ERROR``, ``QUERY_ERROR`` and read
``queries`` (the WQL strings asked, in order).
"""

from __future__ import annotations

from dataclasses import dataclass


class x_wmi(Exception):  # noqa: N801 - the name the wmi package uses
    """The wmi package's own error type."""


@dataclass
class Win32_Process:  # noqa: N801
    ProcessId: int  # noqa: N815
    ParentProcessId: int  # noqa: N815
    WorkingSetSize: str | None  # noqa: N815
    PrivatePageCount: int | None  # noqa: N815


MIB = 1 << 20

ROWS: list[Win32_Process] = [
    Win32_Process(0, 0, "8192", 0),  # System Idle Process: its own parent
    Win32_Process(4, 0, "147456", 204800),  # System
    Win32_Process(5872, 5812, str(180 * MIB), 96 * MIB),  # explorer.exe
    Win32_Process(9120, 5872, str(5 * MIB), 3 * MIB),  # WindowsTerminal -> cmd.exe
    Win32_Process(10244, 9120, str(31 * MIB), 22 * MIB),  # python.exe (guardrun)
    Win32_Process(10300, 10244, str(412 * MIB), 380 * MIB),  # claude.exe: the child
    Win32_Process(10388, 10300, str(96 * MIB), 70 * MIB),  # node.exe: an MCP server
    Win32_Process(10412, 10300, str(12 * MIB), 8 * MIB),  # conhost.exe
    Win32_Process(10520, 10388, str(40 * MIB), None),  # a grandchild being torn down
    Win32_Process(11000, 4444, str(64 * MIB), 60 * MIB),  # unrelated, parent gone
]
CONNECT_ERROR: Exception | None = None
QUERY_ERROR: Exception | None = None
queries: list[str] = []


class _Connection:
    def query(self, wql: str) -> list[Win32_Process]:
        queries.append(wql)
        if QUERY_ERROR is not None:
            raise QUERY_ERROR
        return list(ROWS)


def WMI() -> _Connection:  # noqa: N802
    if CONNECT_ERROR is not None:
        raise CONNECT_ERROR
    return _Connection()
