"""The per-run event log: one JSON object per line, one line per transition.

The log lives at ``<state dir>/projects/<name>-<hash8>/runs/<run-id>.jsonl``
(the caller computes the path). Each event is written with a single
``os.write`` on an ``O_APPEND`` descriptor: on a local filesystem the kernel
takes the inode lock for the whole write, so lines from the supervisor and from
hook threads never interleave, and a crash leaves at worst one torn last line.

Logging must never take supervision down: the first I/O failure disables the
file (the reason is kept in ``EventLog.error``) and events still reach the
mirror.
"""

from __future__ import annotations

import _thread
import json
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from guardrun.observe.writer import Writer

    Mirror = Callable[[str], None]

KINDS = frozenset(
    {
        "started",
        "level_changed",
        "state_captured",
        "capture_failed",
        "restart_requested",
        "restart_refused",
        "resume_refused",
        "restarted",
        "degraded",
        "recovered",
        "child_exited",
        "child_stopped",
        "child_continued",
        "stopped",
        "probe_fallback",
        "hook_output",
        "hook_failed",
        "notify",
        "admission_wait",
        "trend",
        "budget_over",
        "chosen",
        "passed_turn",
        "sentinel_stopped",  # written by the sentinel, not by guardrun (sentinel.py)
    }
)
RESERVED = ("time", "run_id", "event")


def new_run_id() -> str:
    """``YYYYmmddTHHMMSSZ-<6 hex>`` (UTC): sorts by start time, unique across machines."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(3).hex()


def utc_now_iso() -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, e.g. ``2025-01-31T12:00:00.123Z``."""
    # time.strftime, not datetime: this module is imported at every start.
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def make_private_dirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and missing parents, all 0700 (``os.makedirs`` gives parents 0777-umask)."""
    missing: list[str] = []
    p = os.path.abspath(path)
    while not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            if not os.path.isdir(d):
                raise


def is_run_id(text: str) -> bool:
    """``YYYYMMDDTHHMMSSZ-`` and six lowercase hex digits, as :func:`new_run_id` makes them
    (ASCII only, nothing after: an id from a command line or a file name is a path part)."""
    return (
        len(text) == 23
        and text.isascii()
        and text[:8].isdigit()
        and text[8] == "T"
        and text[9:15].isdigit()
        and text[15:17] == "Z-"
        and all(c in "0123456789abcdef" for c in text[17:])
    )


def run_log_path(project_dir: str | os.PathLike[str], run_id: str) -> str:
    """``<project dir>/runs/<run-id>.jsonl``; the id is checked so it cannot name another path."""
    if not is_run_id(run_id):
        raise ValueError(f"{run_id!r} is not a run id")
    return os.path.join(project_dir, "runs", f"{run_id}.jsonl")


class EventLog:
    """Appends events to ``path`` (or only mirrors them when ``path`` is None)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        run_id: str,
        mirror: Mirror | None = None,
        scrub: Callable[[str], str] | None = None,
        writer: Writer | None = None,
    ) -> None:
        """``writer``: the run's writer thread (``observe.writer``), which does the writes
        in order so that a hung disk never stalls the caller; None: written here."""
        self.path = None if path is None else os.fspath(path)
        self.writer = writer
        self.run_id = run_id
        self.scrub = scrub
        self.error: str | None = None
        self._mirror = mirror
        self._lock = _thread.allocate_lock()  # a threading.Lock without importing threading
        self._fd: int | None = None
        if self.path is not None:
            try:
                make_private_dirs(os.path.dirname(self.path))
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
                self._fd = os.open(self.path, flags, 0o600)
            except OSError as err:
                self.error = f"cannot open event log {path}: {err.strerror or err}"

    def set_mirror(self, mirror: Mirror | None) -> None:
        """Swap the mirror (the CLI mirrors to stderr only between child runs)."""
        with self._lock:
            self._mirror = mirror

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record one event and return it. Unknown kinds and reserved field names are bugs."""
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        for name in RESERVED:
            if name in fields:
                raise ValueError(f"event field {name!r} is reserved")
        event: dict[str, Any] = {"time": utc_now_iso(), "run_id": self.run_id, "event": kind}
        event.update(fields)
        # Paths, enums and the like are recorded by their text (str), never refused.
        line = json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))
        if self.scrub is not None:
            # Secrets (an --api-key in argv, a token in a hook's output) never reach
            # the log; the redactor keeps a JSON line valid JSON.
            line = self.scrub(line)
        data = line.encode("utf-8", "replace") + b"\n"
        writer = self.writer
        if writer is not None:  # the thread alone touches the descriptor then
            if self._fd is not None:
                writer.submit("event log", lambda: self._write(data))
            with self._lock:
                mirror = self._mirror
        else:
            with self._lock:
                if self._fd is not None:
                    self._write(data)
                mirror = self._mirror
        if mirror is not None:
            try:
                mirror(line)
            except Exception:  # a broken mirror (closed stderr) must not stop supervision
                pass
        return event

    def _write(self, data: bytes) -> None:
        if self._fd is None:  # failed (or closed) since this write was queued
            return
        try:
            written = os.write(self._fd, data)
            # Regular files take the whole buffer; a short write means the disk filled up.
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
        except OSError as err:
            self.error = f"cannot write event log {self.path}: {err.strerror or err}"
            self._close_fd()

    def _close_fd(self) -> None:
        close_quietly(self._fd)
        self._fd = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.submit("event log", self._close_fd)  # after the writes queued
            return
        with self._lock:
            self._close_fd()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def close_quietly(fd: int | None) -> None:
    """Close ``fd`` if open, ignoring errors (a log that failed is closed, not fatal)."""
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events in a log, skipping a torn or corrupt line instead of failing on it."""

    events: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return events
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events
