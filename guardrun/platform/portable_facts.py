"""Per-process facts through psutil, for macOS, Windows and the BSDs: the same names
and answers as ``linux_facts`` (see there). psutil is imported on first use, so a
module that only names these functions costs nothing at start-up.

Start times are psutil's ``create_time()`` in hundredths of a second (psutil rounds
it to the clock tick), so they compare as integers like Linux's clock ticks.
Environments are readable only for the user's own processes, and not at all on
some systems; ``environ_has`` then answers False (the pid is not claimed).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the sentinel's program imports this module
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Sequence
    from typing import Any

HAS_START_TIMES = True


def _ps() -> Any:
    import psutil

    return psutil


def start_time(pid: int) -> int | None:
    try:
        return round(float(_ps().Process(pid).create_time()) * 100)
    except Exception:  # gone, not permitted, or no psutil: no identity
        return None


def parent_of(pid: int) -> int | None:
    try:
        return int(_ps().Process(pid).ppid())
    except Exception:  # gone, not permitted, or no psutil
        return None


def alive(pid: int) -> bool:
    ps = _ps()
    try:
        return bool(ps.Process(pid).status() != ps.STATUS_ZOMBIE)
    except ps.NoSuchProcess:
        return False
    except ps.Error:
        return True  # exists, not ours to inspect


def direct_children(pid: int) -> list[int]:
    ps = _ps()
    try:
        return [p.pid for p in ps.Process(pid).children()]
    except ps.Error:
        return []


def own_children() -> list[int]:
    return direct_children(os.getpid())


def environ_has(pid: int, entry: bytes) -> bool:
    name, _, value = entry.decode(errors="replace").partition("=")
    try:
        return bool(_ps().Process(pid).environ().get(name) == value)
    except Exception:
        return False


def marked(entry: bytes) -> dict[int, int]:
    found: dict[int, int] = {}
    me = os.getpid()
    for pid in _ps().pids():
        if pid != me and environ_has(pid, entry):
            st = start_time(pid)
            if st is not None:
                found[pid] = st
    return found


def open_files(pids: Sequence[int], pattern: re.Pattern[str]) -> list[str]:
    ps = _ps()
    found: list[str] = []
    for pid in pids:
        try:
            files = ps.Process(pid).open_files()
        except ps.Error:
            continue
        for f in files:
            if pattern.search(f.path) and f.path not in found:
                found.append(f.path)
    return found


def process_argv(pid: int) -> list[str]:
    try:
        return [str(a) for a in _ps().Process(pid).cmdline()]
    except Exception:
        return []


def process_uid(pid: int) -> int | None:
    try:
        return int(_ps().Process(pid).uids().real)
    except Exception:  # gone, not permitted, no psutil, or no uids (Windows)
        return None


def process_name(pid: int) -> str | None:
    try:
        return str(_ps().Process(pid).name())
    except Exception:
        return None


def set_subreaper() -> bool:
    return False  # Linux only: elsewhere orphans go to init and the PTY hangup must do


def parent_death_signal(sig: int) -> Callable[[], None] | None:
    return None  # Linux only
