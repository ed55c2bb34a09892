"""The sample history of one run: ``<project dir>/runs/<run-id>.samples.ndjson``.

What ``guardrun report`` draws. Each line is one JSON object: a ``meta`` line (the
thresholds, the metric, the command), ``proc`` lines (the name and command line of a
pid the first time it is among the top processes) and points::

    {"t": 1712345678.1, "b": 4123456789, "lv": "warning", "m": "normal",
     "g": 12345, "sys": 51234567890, "p": [[4242, 3900000000], [4250, 200000000]]}

``t`` is wall time (the start of the bucket for a coarse point, whose width is ``r``
seconds), ``b`` the tree's memory (the highest in the bucket; ``lo`` the lowest, ``n``
how many samples), ``lv``/``m`` the level and mode, ``g`` the growth rate in bytes per
second (absent: unknown), ``sys`` the machine's RAM in use (read once a flush), ``sw``
the part of ``b`` out of RAM (swapped, compressed; absent: none; at the bucket's
highest), ``p`` the top processes by RSS at that point (at the bucket's highest).

Bounded: every sample is kept for the last 10 minutes, 10-second buckets up to 3
hours back and 1-minute buckets beyond (a day is ~3,000 points, ~0.5 MB). Cheap:
samples are buffered in memory and appended with one ``os.write`` every
``FLUSH`` seconds, so a crash loses at most that much; every ``COMPACT`` seconds the
file is rewritten (temporary file, fsync, rename) with the older points merged into
their buckets. Never raises into the loop: the first I/O failure turns it off. Read
back by ``history_read`` (a stranger's file as much as ours), which a run never imports
at its start.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.dirs import make_private_dirs
from guardrun.escape import json_bytes
from guardrun.observe.events import close_quietly

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from guardrun.observe.writer import Writer

FLUSH = 5.0  # seconds between appends: what a crash can lose
COMPACT = 600.0  # seconds between rewrites that merge old points
# (age up to, bucket width): the newest minutes in full, then coarser.
TIERS: tuple[tuple[float, float], ...] = ((600.0, 0.0), (3 * 3600.0, 10.0), (float("inf"), 60.0))
TOP = 3  # processes kept per point
RANKS = {"normal": 0, "warning": 1, "critical": 2, "emergency": 3}

Point = dict[str, "Any"]  # one JSON line of the file (``history_read.checked_point``)


def history_path(log_path: str | os.PathLike[str]) -> str:
    """The history beside a run's event log (``<run-id>.jsonl`` -> ``<run-id>.samples.ndjson``;
    not ``.jsonl``, so that ``runs/*.jsonl`` stays the event logs)."""
    log_path = os.fspath(log_path)
    return log_path.removesuffix(".jsonl") + ".samples.ndjson"


def _line(obj: dict[str, Any]) -> bytes:
    return json_bytes(obj, separators=(",", ":")) + b"\n"


def _width(age: float) -> float:
    for limit, width in TIERS:
        if age < limit:
            return width
    return TIERS[-1][1]  # pragma: no cover


def merge(points: Sequence[Point], width: float) -> Point:
    """One bucket of ``width`` seconds from ``points`` (oldest first)."""
    top = max(points, key=lambda p: p["b"])
    out: Point = {"t": (points[0]["t"] // width) * width, "r": width, "b": top["b"]}
    out["lo"] = min(p["lo"] if "lo" in p else p["b"] for p in points)
    out["n"] = sum(p.get("n", 1) for p in points)
    out["lv"] = max((p.get("lv", "normal") for p in points), key=lambda lv: RANKS.get(lv, 0))
    last = points[-1]
    for key in ("m", "g"):
        if key in last:
            out[key] = last[key]
    systems = [p["sys"] for p in points if "sys" in p]
    if systems:
        out["sys"] = max(systems)
    for key in ("p", "sw"):
        if key in top:
            out[key] = top[key]
    return out


def downsample(points: Sequence[Point], now: float) -> list[Point]:
    """``points`` (oldest first) with each merged into the bucket its age calls for."""
    # The newest (the raw tier, at the end) stay as they are: only the older part is walked.
    import bisect  # at compaction only: not on the start path

    recent = bisect.bisect_left(points, now - TIERS[0][0], key=_time)
    out: list[Point] = []
    group: list[Point] = []
    key = (0.0, 0.0)
    for p in points[:recent]:
        width = max(_width(now - p["t"]), float(p.get("r", 0.0)))
        if not width:
            if group:
                out.append(merge(group, key[0]))
                group = []
            out.append(p)
            continue
        k = (width, p["t"] // width)
        if k != key and group:
            out.append(merge(group, key[0]))
            group = []
        key = k
        group.append(p)
    if group:
        out.append(merge(group, key[0]))
    out.extend(points[recent:])
    return out


def _time(p: Point) -> float:
    return float(p["t"])


class History:
    """Buffers samples and keeps the file; ``add`` is called at every sample."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        meta: dict[str, Any],
        describe: Callable[[int], dict[str, Any]] | None = None,
        system: Callable[[], int | None] | None = None,
        clock: Callable[[], float] | None = None,
        writer: Writer | None = None,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.writer = writer  # observe.writer: the writes in its thread, not the loop's
        self.error: str | None = None
        self._meta = {"k": "meta", **meta}
        self._describe = describe
        self._system = system
        self._clock = clock or time.time
        self._pending: list[Point] = []
        self._frozen: list[bytes] = []  # the file's oldest points, final: encoded once
        self._frozen_pids: set[int] = set()  # the processes they name
        self._points: list[Point] = []  # the rest of what the file holds, oldest first
        self._encoded: dict[int, bytes] = {}  # id(point) -> its line, for points kept as they are
        self._procs: dict[int, dict[str, Any]] = {}  # pid -> its proc line
        self._named: dict[int, dict[str, Any]] = {}  # pid -> its facts, until its line is written
        self._fd: int | None = None
        now = self._clock()
        self._flush_at = now + FLUSH
        self._compact_at = now + COMPACT

    def add(
        self,
        t: float,
        value: int,
        level: str,
        mode: str,
        growth: float | None,
        top: Iterable[tuple[int, int]],
        swapped: int = 0,
    ) -> None:
        """One sample: kept in memory; written when the flush is due."""
        if self.path is None:
            return
        p: Point = {"t": round(t, 2), "b": value, "lv": level, "m": mode}
        if growth is not None:
            p["g"] = round(growth)
        if swapped:
            p["sw"] = swapped
        p["p"] = [[pid, rss] for pid, rss in top]
        for pid, _ in p["p"]:
            # Named now, while it runs: at the flush (seconds later) a process that a
            # restart killed has no name any more, and the report showed it as "?". Named
            # again at the next sample while its command line reads empty: a child caught
            # in its exec (the spawn returns before the kernel has set its arguments) has
            # no command line yet, and guardrun's own name.
            known = self._named.get(pid)
            if (
                self._describe is not None
                and pid not in self._procs
                and not (known and known.get("cmd"))
            ):
                facts = self._describe(pid)
                if known is None or facts.get("cmd"):
                    self._named[pid] = facts
        self._pending.append(p)
        if t >= self._flush_at:
            self.flush(t)

    def set_meta(self, **fields: Any) -> None:
        """Facts known only once a child runs (the thresholds): written at the next flush."""
        if fields.items() <= self._meta.items():
            return
        self._meta.update(fields)
        self._compact_at = 0.0  # the meta line is the file's first: rewrite it

    def flush(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        self._flush_at = now + FLUSH
        if self.path is None or not self._pending:
            return
        pending, self._pending = self._pending, []
        if self.writer is not None:  # what follows touches the disk: not in the loop
            self.writer.submit("sample history", lambda: self._write_points(pending, now))
        else:
            self._write_points(pending, now)

    def _write_points(self, pending: list[Point], now: float) -> None:
        if self.path is None:
            return
        if self._system is not None:
            used = self._system()
            if used is not None:
                pending[-1]["sys"] = used
        new_procs = self._new_procs(pending)
        self._points.extend(pending)
        if now >= self._compact_at or self._fd is None:
            self._rewrite(now)
            return
        data = b"".join(_line(p) for p in new_procs) + b"".join(_line(p) for p in pending)
        try:
            if os.write(self._fd, data) != len(data):
                raise OSError("short write (disk full?)")
        except OSError as err:
            self._fail(err)

    def _new_procs(self, points: Sequence[Point]) -> list[dict[str, Any]]:
        lines = []
        for p in points:
            for pid, _ in p.get("p", ()):
                if pid not in self._procs:
                    # What it says now (a process that exec'd since it was first seen
                    # has a better name), else what it said when it was sampled: an
                    # ended process has no command line, and a gone one no name.
                    facts = self._describe(pid) if self._describe is not None else {}
                    first = self._named.pop(pid, None) or {}
                    facts = {**first, **{k: v for k, v in facts.items() if v}}
                    line = {"k": "proc", "pid": pid, **facts}
                    self._procs[pid] = line
                    lines.append(line)
        return lines

    def _rewrite(self, now: float) -> None:
        """The whole file again, old points merged; temp file, fsync, rename, reopen."""
        assert self.path is not None
        self._compact_at = now + COMPACT
        before, old = self._points, self._encoded
        points = downsample(before, now)
        # A point of the last tier is final once its whole bucket is older than that tier's
        # start: nothing can join it any more.
        age, width = TIERS[-2][0], TIERS[-1][1]
        final = 0
        while final < len(points) and points[final]["t"] + width <= now - age:
            final += 1
        # ``before`` keeps the old points alive while ids are compared: no id is reused.
        encoded = {id(p): old.get(id(p)) or _line(p) for p in points}
        for p in points[:final]:
            self._frozen.append(encoded.pop(id(p)))
            self._frozen_pids.update(pid for pid, _ in p.get("p", ()))
        self._points, self._encoded = points[final:], encoded
        del before
        kept = {pid for p in self._points for pid, _ in p.get("p", ())}
        kept |= self._frozen_pids
        self._procs = {pid: line for pid, line in self._procs.items() if pid in kept}
        data = [_line(self._meta)]
        data += [_line(line) for line in self._procs.values()]
        data += self._frozen
        data += [encoded[id(p)] for p in self._points]
        where, name = os.path.split(self.path)
        if self._fd is None and self._create(where, b"".join(data)):
            return
        tmp = os.path.join(where, f".{name}.{os.getpid()}.tmp")
        try:
            make_private_dirs(where)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                blob = b"".join(data)
                if os.write(fd, blob) != len(blob):
                    raise OSError("short write (disk full?)")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            self._close_fd()
            flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
            self._fd = os.open(self.path, flags)
        except OSError as err:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self._fail(err)

    def _create(self, where: str, blob: bytes) -> bool:
        """The first write: the file made with its first lines, kept open for appends. No
        temporary file and no fsync: there is no earlier history a torn write could cost
        (an fsync here was the longest wait at the end of a short run). False when the
        file is already there (a name another process took): then it is replaced, as at
        every compaction."""
        assert self.path is not None
        try:
            make_private_dirs(where)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            fd = os.open(self.path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            return False
        except OSError as err:
            self._fail(err)
            return True
        self._fd = fd
        try:
            if os.write(fd, blob) != len(blob):
                raise OSError("short write (disk full?)")
        except OSError as err:
            self._fail(err)
        return True

    def _fail(self, err: OSError) -> None:
        self.error = f"cannot write sample history {self.path}: {err.strerror or err}"
        self.path = None
        self._pending = []
        self._close_fd()

    def _close_fd(self) -> None:
        close_quietly(self._fd)
        self._fd = None

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.submit("sample history", self._close_fd)
        else:
            self._close_fd()
