"""Status files of live runs: ``<state dir>/live/<pid>.json``, one per guardrun process.

A run rewrites its file at most once a second (temp file + rename, so a reader
never sees half a file) and removes it at exit. A guardrun that was killed
leaves its file behind, and its pid may later belong to another process, so
each file records the process's start time (``platform.process_identity``:
clock ticks since boot on Linux, psutil's ``create_time()`` elsewhere). A reader
treats a file as stale when the pid is gone, is a zombie, or started at another
time, and deletes it.
"""

from __future__ import annotations

import os
import re
import stat
import time
from typing import TYPE_CHECKING

from guardrun.dirs import make_private_dirs
from guardrun.escape import json_bytes, visible
from guardrun.observe.events import utc_now_iso
from guardrun.platform import is_same_process, process_identity
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

    from guardrun.observe.writer import Writer

__all__ = [
    "LiveFile",
    "is_guardrun",
    "is_same_process",
    "list_live",
    "live_dir",
    "process_identity",
    "unproven",
]

MIN_INTERVAL = 1.0  # never rewritten more often than this
# ... and otherwise only when it tells something new, or as a heartbeat this often:
# a rename alone was the idle budget of a whole run (docs/benchmarks.md).
HEARTBEAT = 10.0
MEMORY_STEP = 0.02  # memory that moved by 2% is news (the machine budget reads it)
SCHEMA = 1
MAX_FILE = 1 << 20  # a status file is a few hundred bytes; refuse to parse anything huge
_LIVE_RE = r"^(\d{1,10})\.json$"
_TEMP_RE = r"^\.(\d{1,10})\.[0-9a-f]+\.tmp$"


def live_dir(state_dir: str | os.PathLike[str]) -> str:
    return os.path.join(state_dir, "live")


class LiveFile:
    """The status file of run ``pid`` (normally ``os.getpid()``) under ``state_dir``."""

    def __init__(self, state_dir: str | os.PathLike[str], pid: int) -> None:
        self.pid = pid
        self.dir = live_dir(state_dir)
        self.path = os.path.join(self.dir, f"{pid}.json")
        self.identity = process_identity(pid)
        self.started_at = utc_now_iso()
        self.error: str | None = None
        self._last = -MIN_INTERVAL
        self._key: tuple[object, ...] = ()
        self._memory: int | None = None
        self.writer: Writer | None = None  # observe.writer: set by the observer

    def due(self) -> bool:
        """Whether an update now could be written (a second since the last)."""
        return time.monotonic() - self._last >= MIN_INTERVAL

    def worth_writing(self, key: tuple[object, ...], memory: int | None) -> bool:
        """Due, and news: ``key`` (the fields other than memory) changed, memory moved by
        ``MEMORY_STEP``, or the heartbeat is due. Records what it said yes to."""
        now = time.monotonic()
        if now - self._last < MIN_INTERVAL:
            return False
        old = self._memory
        moved = (memory is None) != (old is None) or (
            memory is not None and old is not None and abs(memory - old) > old * MEMORY_STEP
        )
        if key == self._key and not moved and now - self._last < HEARTBEAT:
            return False
        self._key, self._memory = key, memory
        return True

    def update(self, info: dict[str, Any], force: bool = False) -> bool:
        """Rewrite the file from ``info``; skipped (False) within a second of the last write.

        ``info`` holds argv, cwd, run_id, child_pid, memory_bytes, level, mode,
        restarts, breaker, next_restart_at (any JSON values). Never raises: a
        failure is kept in ``error`` and the next update tries again.
        """
        now = time.monotonic()
        if not force and now - self._last < MIN_INTERVAL:
            return False
        self._last = now
        doc: dict[str, Any] = {"schema": SCHEMA, "started_at": self.started_at}
        doc.update(info)
        doc.update(pid=self.pid, identity=self.identity, updated_at=utc_now_iso())
        data = json_bytes(doc, indent=1)  # a cwd that is not UTF-8 keeps its bytes
        if self.writer is not None:  # the disk in the writer's thread: never the loop's wait
            self.writer.submit("live file", lambda: self._store(data))
            return True
        return self._store(data)

    def _store(self, data: bytes) -> bool:
        tmp = os.path.join(self.dir, f".{self.pid}.{os.urandom(4).hex()}.tmp")
        try:
            make_private_dirs(self.dir)
            refused = _refused(self.dir)
            if refused:
                self.error = refused
                return False
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(tmp, flags, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as err:
            self.error = f"cannot write {self.path}: {err.strerror or err}"
            _unlink(tmp)
            return False
        self.error = None
        return True

    def remove(self) -> None:
        if self.writer is not None:  # after the updates queued before it
            self.writer.submit("live file", lambda: _unlink(self.path))
        else:
            _unlink(self.path)


def _refused(directory: str) -> str | None:
    """Why ``directory`` is not used for live files: a symlink (planted, it would make
    guardrun write and delete files wherever it points) or not a directory; None if fine."""
    try:
        st = os.lstat(directory)
    except OSError as err:
        return f"cannot use {directory}: {err.strerror or err}"
    if stat.S_ISLNK(st.st_mode):
        return f"refusing symlink in the state store: {directory}"
    if not stat.S_ISDIR(st.st_mode):
        return f"not a directory: {directory}"
    return None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
    refused = _refused(directory) if os.path.lexists(directory) else None
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
        temp = re.match(_TEMP_RE, name)
        if temp:
            # Left by a run killed between write and rename.
            if not is_same_process(int(temp.group(1)), {}):
                _unlink(path)
            continue
        m = re.match(_LIVE_RE, name)
        if not m:
            continue
        pid = int(m.group(1))
        try:
            doc = _read(path, pid)
        except Unreadable as err:
            if problems is not None:
                problems.append(f"ignoring corrupt live file {visible(path)}: {err}")
            if not is_same_process(pid, {}):
                _unlink(path)
            continue
        if not is_same_process(pid, doc["identity"]):
            _unlink(path)  # stale: its run ended (the pid may be another process's now)
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
