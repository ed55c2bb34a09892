"""Retention of a project's state directory: states past ``state.keep`` or older than
``state.max_age`` (with their transcript copies), earlier exit states of the same
conversation, run logs and sample histories, and temp files a crash left. Nothing here
stops a run: what cannot be removed is the store's ``problems``, said once."""

from __future__ import annotations

import os
import re
import stat
import time
from typing import TYPE_CHECKING

from guardrun.state.files import age, fsync_dir, lstat_mode, pid_alive, unlink_quietly
from guardrun.state.store import ID_RE, STATE_SUFFIX, TRANSCRIPT_SUFFIX, id_time

if TYPE_CHECKING:
    from pathlib import Path

    from guardrun.state.store import Entry, Store

RUN_FILE_RE = r"^(\d{8}T\d{6}Z-[0-9a-f]{6})\.(?:jsonl|samples\.ndjson)\Z"
RUN_BUSY = 300.0  # seconds: a run file written this recently belongs to a live run
TMP_RE = r"^\.tmp-(\d+)-[0-9a-f]+-"
TMP_MAX_AGE = 3600.0  # a temp file this old is debris even if its pid was reused


def prune(
    store: Store,
    keep: int = 50,
    max_age: float | None = 7 * 86400.0,
    dry_run: bool = False,
    now: float | None = None,
) -> list[Path]:
    """Remove states past ``keep`` or older than ``max_age`` seconds, with their copies.

    The newest readable state of each session (states without one count as one
    session) is never removed. Transcript copies whose state is gone are removed
    once older than an hour. Returns the paths removed (or that would be).
    """
    now = time.time() if now is None else now
    entries = store.entries()
    protected: set[Path] = set()
    seen: set[object] = set()
    for e in entries:
        session = e.summary.get("session_id")
        if not e.corrupt and session not in seen:
            seen.add(session)
            protected.add(e.path)
    doomed: list[Path] = []
    for i, e in enumerate(entries):
        expired = i >= keep or (max_age is not None and now - e.created > max_age)
        if expired and e.path not in protected:
            doomed += _with_copy(e)
    alive = {e.id for e in entries} - {p.name[: -len(STATE_SUFFIX)] for p in doomed}
    doomed += [p for p in _orphan_copies(store, alive, now) if p not in doomed]
    return doomed if dry_run else _remove(store, doomed)


def prune_runs(
    store: Store,
    keep: int = 50,
    max_age: float | None = 7 * 86400.0,
    now: float | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Remove the event logs and sample histories of runs past ``keep`` (the newest
    by last write first) or not written for ``max_age`` seconds, as states are pruned:
    no configuration fills the disk with run logs. Files written in the last
    ``RUN_BUSY`` seconds stay (a live run writes its history every few seconds), and
    only regular files named as a run's are touched. Returns the paths removed (or
    that would be)."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(store.dirs.runs)
    except OSError:
        return []
    ours = [(m.group(1), name) for name in names if (m := re.match(RUN_FILE_RE, name))]
    # Nothing to look at further when there are no more than ``keep`` runs and none started
    # before ``max_age`` (a run id starts with its start time, in UTC, so that ids sort as
    # times): a file is written after its run starts, so none of them is that old. The
    # common case, at every start, without a stat of every file (a benchmark's burst of
    # runs grew a directory to hundreds of files, all stat'ed at each start).
    if len({run for run, _ in ours}) <= keep and (
        max_age is None or min(ours, default=("~", ""))[0] >= _run_id_at(now - max_age)
    ):
        return []
    runs: dict[str, list[tuple[str, float]]] = {}
    for run_id, name in ours:
        path = os.path.join(store.dirs.runs, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            runs.setdefault(run_id, []).append((path, st.st_mtime))
    newest = sorted(runs, key=lambda r: (max(t for _, t in runs[r]), r), reverse=True)
    doomed: list[str] = []
    for i, run in enumerate(newest):
        written = max(t for _, t in runs[run])
        if now - written < RUN_BUSY:
            continue  # being written: a live run's (this one's, or another's)
        if i >= keep or (max_age is not None and now - written > max_age):
            doomed += [p for p, _ in runs[run]]
    if dry_run:
        return doomed
    removed = []
    for path in doomed:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as err:
            store.problem(f"cannot remove {path}: {err.strerror or err}")
            continue
        removed.append(path)
    return removed


def _run_id_at(when: float) -> str:
    """The start of a run id made at ``when`` (``observe.events.new_run_id``'s clock)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(max(when, 0.0)))


def _with_copy(e: Entry) -> list[Path]:
    """A state's file and, when there is one, its transcript copy (in that order)."""
    tr = e.path.with_name(e.id + TRANSCRIPT_SUFFIX)
    mode = lstat_mode(tr)
    return [e.path, tr] if mode and not stat.S_ISDIR(mode) else [e.path]


def _remove(store: Store, doomed: list[Path]) -> list[Path]:
    """Unlink ``doomed`` in order; the paths removed. A file that cannot be removed is
    a problem, not an error (the rest still goes), and a state that stays keeps its
    transcript copy: a state that exists is complete."""
    removed: list[Path] = []
    kept: set[str] = set()
    for p in doomed:
        sid = p.name.split(".", 1)[0]
        if p.name.endswith(TRANSCRIPT_SUFFIX) and sid in kept:
            continue
        try:
            os.unlink(p)
        except FileNotFoundError:
            continue  # a concurrent prune was first
        except OSError as err:
            store.problem(f"cannot remove {p}: {err.strerror or err}")
            kept.add(sid)
            continue
        removed.append(p)
    if removed:
        fsync_dir(store.states_dir)
    return removed


def supersede(store: Store, keep_id: str, reason: str, session_id: str | None) -> list[Path]:
    """Remove the other states of ``reason`` for ``session_id`` (and their copies), so
    that a conversation left many times keeps one exit state, not one per exit. Nothing
    is removed for a state without a session: which conversation it was is unknown."""
    if session_id is None:
        return []
    doomed: list[Path] = []
    for e in store.entries():
        m = re.match(ID_RE, e.id)
        if e.id == keep_id or e.corrupt or m is None or m.group(2) != reason:
            continue
        if e.summary.get("session_id") == session_id:
            doomed += _with_copy(e)
    return [p for p in _remove(store, doomed) if p.name.endswith(STATE_SUFFIX)]


def _orphan_copies(store: Store, alive: set[str], now: float) -> list[Path]:
    try:
        names = os.listdir(store.states_dir)
    except OSError:
        return []
    out: list[Path] = []
    for n in names:
        sid = n[: -len(TRANSCRIPT_SUFFIX)]
        if not n.endswith(TRANSCRIPT_SUFFIX) or not re.match(ID_RE, sid) or sid in alive:
            continue
        path = store.states_dir / n
        mode = lstat_mode(path)
        if stat.S_ISDIR(mode):
            store.problem(f"skipping {path}: a directory, not a transcript copy")
            continue
        try:
            made = id_time(sid)
        except ValueError:
            store.problem(f"skipping {path}: its name holds no valid time")
            continue
        if now - made > 3600:  # a capture may be between copy and state
            out.append(path)
    return out


def clean_temp(store: Store) -> list[str]:
    """Remove temp files left by a crash: their pid is gone, or they are an hour old."""
    removed: list[str] = []
    for d in (store.dirs.states, store.dirs.runs, store.dirs.live):
        if not stat.S_ISDIR(lstat_mode(d)):
            continue  # missing, or a symlink: nothing of ours is behind it
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            if not n.startswith(".tmp-"):
                continue  # most names; the pattern (and re) only for what may be ours
            m = re.match(TMP_RE, n)
            path = os.path.join(d, n)
            if m and (not pid_alive(int(m.group(1))) or age(path) > TMP_MAX_AGE):
                if stat.S_ISDIR(lstat_mode(path)):
                    continue  # not ours: a temp file is a file
                try:
                    unlink_quietly(path)
                except OSError as err:
                    store.problem(f"cannot remove {path}: {err.strerror or err}")
                    continue
                removed.append(path)
    return removed
