"""Status files of live runs: ``<state dir>/live/<pid>.json``, one per guardrun process.

A run rewrites its file at most once a second (temp file + rename, so a reader
never sees half a file) and removes it at exit. A guardrun that was killed
leaves its file behind, and its pid may later belong to another process, so
each file records the process's start time (``platform.process_identity``:
clock ticks since boot on Linux, psutil's ``create_time()`` elsewhere). A reader
treats a file as stale when the pid is gone, is a zombie, or started at another
time, and deletes it (``live_read``: what readers do, apart from what a run writes).
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

from guardrun.dirs import make_private_dirs
from guardrun.escape import json_bytes
from guardrun.observe.events import utc_now_iso
from guardrun.platform import process_identity

if TYPE_CHECKING:
    from typing import Any

    from guardrun.observe.writer import Writer

__all__ = ["LiveFile", "live_dir"]

MIN_INTERVAL = 1.0  # never rewritten more often than this
# ... and otherwise only when it tells something new, or as a heartbeat this often:
# a rename alone was the idle budget of a whole run (docs/benchmarks.md).
HEARTBEAT = 10.0
MEMORY_STEP = 0.02  # memory that moved by 2% is news (the machine budget reads it)
SCHEMA = 1
MAX_FILE = 1 << 20  # a status file is a few hundred bytes; refuse to parse anything huge
LIVE_RE = r"^(\d{1,10})\.json$"
TEMP_RE = r"^\.(\d{1,10})\.[0-9a-f]+\.tmp$"


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
            refused = refused_dir(self.dir)
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
            discard(tmp)
            return False
        self.error = None
        return True

    def remove(self) -> None:
        if self.writer is not None:  # after the updates queued before it
            self.writer.submit("live file", lambda: discard(self.path))
        else:
            discard(self.path)


def refused_dir(directory: str) -> str | None:
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


def discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
