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

from guardrun.dirs import make_private_dirs

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
        "log_full",
    }
)
RESERVED = ("time", "run_id", "event")
# One run's event log stops growing here (with a last `log_full` line): with restart
# protection's floor a run logs a few KiB an hour, and no configuration (a level that
# flaps at every 50 ms sample) fills the disk. Runs are pruned by count and age besides.
LOG_CAP = 32 << 20


def new_run_id() -> str:
    """``YYYYmmddTHHMMSSZ-<6 hex>`` (UTC): sorts by start time, unique across machines."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(3).hex()


def utc_now_iso() -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, e.g. ``2025-01-31T12:00:00.123Z``."""
    # time.strftime, not datetime: this module is imported at every start.
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


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
        scrub_value: Callable[[str], str] | None = None,
        max_bytes: int = LOG_CAP,
        writer: Writer | None = None,
    ) -> None:
        """``writer``: the run's writer thread (``observe.writer``), which does the writes
        in order so that a hung disk never stalls the caller; None: written here."""
        self.path = None if path is None else os.fspath(path)
        self.writer = writer
        self.max_bytes = max_bytes
        self._size = 0
        self.run_id = run_id
        self.scrub = scrub
        # The user's own patterns (state.redact) see values, never the JSON text: a
        # pattern such as '"' would otherwise make every line invalid JSON.
        self.scrub_value = scrub_value
        self.error: str | None = None
        self._mirror = mirror
        self._lock = _thread.allocate_lock()  # a threading.Lock without importing threading
        self._fd: int | None = None
        if self.path is not None:
            try:
                make_private_dirs(os.path.dirname(self.path))
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
                self._fd = os.open(self.path, flags, 0o600)
                self._size = os.fstat(self._fd).st_size
            except OSError as err:
                self.error = f"cannot open event log {path}: {err.strerror or err}"

    def scrub_text(self, text: str) -> str:
        """A value's text scrubbed by every rule, built-in and the user's (what a caller
        that cuts a value to a cap redacts first: ``clip.clip``)."""
        if self.scrub is not None:
            text = self.scrub(text)
        return self.scrub_value(text) if self.scrub_value is not None else text

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record one event and return it. Unknown kinds and reserved field names are bugs."""
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        for name in RESERVED:
            if name in fields:
                raise ValueError(f"event field {name!r} is reserved")
        event: dict[str, Any] = {"time": utc_now_iso(), "run_id": self.run_id, "event": kind}
        if self.scrub_value is not None:
            fields = {k: _scrub_values(v, self.scrub_value) for k, v in fields.items()}
        event.update(fields)
        # Paths, enums and the like are recorded by their text (str), never refused.
        line = json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))
        if self.scrub is not None:
            # Secrets (an --api-key in argv, a token in a hook's output) never reach
            # the log; the redactor keeps a JSON line valid JSON.
            line = self.scrub(line)
        data = line.encode("utf-8", "backslashreplace") + b"\n"
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
        if self._fd is None:  # failed, full or closed since this write was queued
            return
        if self._size + len(data) > self.max_bytes:
            last = {"time": utc_now_iso(), "run_id": self.run_id, "event": "log_full",
                    "max_bytes": self.max_bytes}  # fmt: skip
            data = json.dumps(last, separators=(",", ":")).encode() + b"\n"
            self.error = f"event log {self.path} is full ({self.max_bytes} bytes)"
        try:
            written = os.write(self._fd, data)
            # Regular files take the whole buffer; a short write means the disk filled up.
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
            self._size += written
            if self.error is not None:  # full: that was the last line
                self._close_fd()
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


def _scrub_values(value: object, scrub: Callable[[str], str]) -> Any:
    """``scrub`` applied to every string inside ``value`` (dicts, lists, tuples); keys,
    shapes and other types stay. Paths and the like stay as they are (json's default=str
    writes them) unless given as text."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_values(v, scrub) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_values(v, scrub) for v in value]
    return value


def close_quietly(fd: int | None) -> None:
    """Close ``fd`` if open, ignoring errors (a log that failed is closed, not fatal)."""
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def read_events(
    path: str | os.PathLike[str],
    cuts: list[str] | None = None,
    limit: int | None = None,
    max_lines: int | None = None,
) -> list[dict[str, Any]]:
    """The events in a log, skipping a torn or corrupt line instead of failing on it. The
    log is a stranger's file (``guardrun.untrusted``): read without blocking or following
    a link, within ``limit`` bytes and ``max_lines`` lines (the newest kept); what was
    left out, or why nothing was read, is added to ``cuts`` (``limit`` and ``max_lines``
    default to ``untrusted.MAX_LOG`` and ``MAX_LINES``)."""
    from guardrun.untrusted import (
        MAX_LINES,
        MAX_LOG,
        PARSE_SECONDS,
        Unreadable,
        parse_lines,
        read_lines,
    )

    limit = MAX_LOG if limit is None else limit
    max_lines = MAX_LINES if max_lines is None else max_lines
    try:
        lines, cut = read_lines(path, limit, max_lines, tail_only=True)
    except Unreadable as err:
        if cuts is not None and os.path.lexists(path):
            cuts.append(f"{path}: not read: {err}")
        return []
    events, late = parse_lines(lines)
    if late:
        cut = (cut + "; " if cut else "") + f"parsed for {PARSE_SECONDS:.0f} s only"
    if cut and cuts is not None:
        cuts.append(f"{path}: {cut}")
    return events
