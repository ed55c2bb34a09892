"""Reading the live files of other runs (``observe.live`` writes a run's own): each is a
stranger's file (``guardrun.untrusted``), believed only while its pid is a running
guardrun of this user with the recorded start time; a stale one is deleted. Read by
``guardrun status``, the machine budget (``fleet.machine``) and the restart lease
(``fleet.lease``), never at a plain run's start: the start path stays light.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from guardrun.escape import visible
from guardrun.observe.live import LIVE_RE, MAX_FILE, TEMP_RE, discard, live_dir, refused_dir
from guardrun.platform import is_same_process
from guardrun.untrusted import (
    MAX_BYTES,
    MAX_TIME,
    Unreadable,
    integer,
    number,
    read_json_object,
)

if TYPE_CHECKING:
    from typing import Any

__all__ = ["is_guardrun", "list_live", "unproven"]


# The fields other runs act on (the machine budget, status), each with its type and range:
# a file with one of them wrong is not believed at all (a planted "memory_bytes":
# Infinity once made every budgeted run exit 70).
_INT_FIELDS = {
    "memory_bytes": (0, MAX_BYTES),
    "budget_bytes": (0, MAX_BYTES),
    "cgroup_bytes": (0, MAX_BYTES),
    "priority": (-1000, 1000),  # the config's own range
    "restarts": (0, 1 << 31),
    "child_pid": (0, 1 << 31),
    "processes": (0, 1 << 31),
}
_NUMBER_FIELDS = {
    "idle_since": (0.0, float(MAX_TIME)),
    "next_restart_at": (0.0, float(MAX_TIME)),
    "growth_bytes_per_second": (-float(MAX_BYTES), float(MAX_BYTES)),
    # A slow rate gives an ETA of millennia: finite is all that is asked of it.
    "eta_critical_seconds": (0.0, 1e300),
    "eta_emergency_seconds": (0.0, 1e300),
}


def _read(path: str, pid: int) -> dict[str, Any]:
    """The file's object, its fields checked; ValueError (``Unreadable``) when it is not one."""
    doc = read_json_object(path, MAX_FILE)
    if doc.get("pid") != pid:
        raise Unreadable("its pid does not match the file name")
    identity = doc.get("identity")
    if not isinstance(identity, dict) or not identity:
        raise Unreadable("it does not say which process wrote it (no identity)")
    for name, (low, high) in _INT_FIELDS.items():
        if doc.get(name) is not None and integer(doc[name], low, high) is None:
            raise Unreadable(f"{name} is not an integer in [{low}, {high}]")
    for name, (flow, fhigh) in _NUMBER_FIELDS.items():
        if doc.get(name) is not None and number(doc[name], flow, fhigh) is None:
            raise Unreadable(f"{name} is not a finite number in range")
    for name in ("run_id", "cwd", "level", "mode", "started_at", "machine_level"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise Unreadable(f"{name} is not a string")
    argv = doc.get("argv")
    if argv is not None and not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
        raise Unreadable("argv is not a list of strings")
    return doc


def is_guardrun(pid: int) -> bool:
    """Whether ``pid`` runs guardrun: the console script, ``python -m guardrun`` or
    ``python .../guardrun/__main__.py``, by its command line."""
    from guardrun.platform import process_argv

    argv = process_argv(pid)
    for i, arg in enumerate(argv[:3]):
        name = os.path.basename(arg)
        if name in ("guardrun", "guardrun.exe") or arg.endswith("guardrun/__main__.py"):
            return True
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] == "guardrun":
            return True
    return False


def unproven(pid: int, identity: object) -> str | None:
    """Why the process ``pid`` with ``identity`` is not a running guardrun of this user
    (None when it is): a file under the state directory is believed only then. Checked
    in this order so that the cheap answers come first: gone or another process now
    (its start time differs), another user's, not a guardrun."""
    if not isinstance(identity, dict) or not identity or not is_same_process(pid, identity):
        return "its process has ended or is another process now"
    return _not_ours(pid)


# (pid, identity) -> _not_ours's answer, kept for the process's life: its owner and its
# command line are taken to stay what they were at its first sight (an exec would keep
# the start time, but a guardrun does not exec). A budgeted run asks at every sample;
# this saves ~40 us a run there.
_PROVEN: dict[tuple[int, str], str | None] = {}


def _not_ours(pid: int) -> str | None:
    from guardrun.platform import process_uid

    uid = process_uid(pid)
    if hasattr(os, "getuid") and uid is not None and uid != os.getuid():
        return f"pid {pid} belongs to another user"
    if not is_guardrun(pid):
        return f"pid {pid} is not a guardrun"
    return None


def list_live(
    state_dir: str | os.PathLike[str], problems: list[str] | None = None
) -> list[dict[str, Any]]:
    """Live runs, oldest first. Stale files are deleted; corrupt ones skipped and reported
    in ``problems`` (deleted as well when their pid is gone)."""
    directory = live_dir(state_dir)
    refused = refused_dir(directory) if os.path.lexists(directory) else None
    if refused:  # its stale files would be deleted wherever it points
        if problems is not None:
            problems.append(refused)
        return []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    runs: list[dict[str, Any]] = []
    for name in names:
        path = os.path.join(directory, name)
        temp = re.match(TEMP_RE, name)
        if temp:
            # Left by a run killed between write and rename.
            if not is_same_process(int(temp.group(1)), {}):
                discard(path)
            continue
        m = re.match(LIVE_RE, name)
        if not m:
            continue
        pid = int(m.group(1))
        try:
            doc = _read(path, pid)
        except Unreadable as err:
            if problems is not None:
                problems.append(f"ignoring corrupt live file {visible(path)}: {err}")
            if not is_same_process(pid, {}):
                discard(path)
            continue
        if not is_same_process(pid, doc["identity"]):
            discard(path)  # stale: its run ended (the pid may be another process's now)
            continue
        key = (pid, repr(sorted(doc["identity"].items())))
        if key not in _PROVEN:
            if len(_PROVEN) > 256:
                _PROVEN.clear()
            _PROVEN[key] = _not_ours(pid)
        why = _PROVEN[key]
        if why:  # a running process that is not a guardrun of ours: forged, not deleted
            if problems is not None:
                problems.append(f"ignoring live file {visible(path)}: {why}")
            continue
        runs.append(doc)
    runs.sort(key=lambda d: (str(d.get("started_at", "")), d["pid"]))
    return runs
