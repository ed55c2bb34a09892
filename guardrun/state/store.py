"""The state store: ids, paths, modes, atomic gzip writes, listing, loading, retention.

Layout (docs/state-format.md)::

    <state dir>/projects/<name>-<hash8>/states/<ID>.json.gz
    <state dir>/projects/<name>-<hash8>/states/<ID>.transcript.jsonl.gz
    <state dir>/projects/<name>-<hash8>/runs/
    <state dir>/live/

Every file is written to ``.tmp-<pid>-<rand>-<name>`` in its final directory
(O_CREAT|O_EXCL|O_NOFOLLOW, 0600), fsynced, renamed into place, and the
directory fsynced, so a name that exists holds a complete file; a crash leaves
at most a temp file, which :meth:`Store.clean_temp` removes once its pid is gone.
Nothing in the store is followed through a symlink: directories are checked with
``lstat`` and files opened with O_NOFOLLOW. Ids from the command line are
checked by :func:`check_ref` before they become part of any path.
"""

import builtins
import os
import re
import stat
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from guardrun.errors import StateCorrupt, StateNotFound, StoreError, UsageError
from guardrun.escape import json_bytes
from guardrun.state.files import (
    OPEN_NEW,
    GzipReader,
    ensure_dir,
    file_size,
    fingerprint,
    fsync_dir,
    line_start,
    lstat_mode,
    read_gzip,
    read_state,
    sha256,
    store_op,
    unlink_quietly,
    write_all,
)

if TYPE_CHECKING:
    from pathlib import Path

REASONS = frozenset(
    {"memory", "warning", "critical", "emergency", "system", "gpu", "signal", "manual"}
    | {"restart", "stop", "exit", "crash", "oom", "planned", "growth", "budget"}
)
ID_RE = r"^(\d{8}T\d{6}Z)-([a-z]+)-([0-9a-f]{4})\Z"
_REF_RE = r"^[0-9A-Za-z-]{1,64}\Z"  # the characters ids are made of; no . or /
STATE_SUFFIX = ".json.gz"
TRANSCRIPT_SUFFIX = ".transcript.jsonl.gz"
# A run's event log and its sample history (observe.events, observe.history).
TMP_PREFIX = ".tmp-"
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
# O_NONBLOCK: a FIFO planted in the store must not block the open (fstat then rejects it).
TAIL_LIMIT = 256 * 1024 * 1024  # transcripts above this keep only their tail


def default_state_dir() -> str:
    from guardrun.dirs import user_state_dir

    return user_state_dir()


def state_dir_setting(value: str | os.PathLike[str] | None) -> str:
    """The state dir for config ``state.dir`` (``auto`` or unset: the platform default)."""
    if value is None or str(value) == "auto":
        return default_state_dir()
    return os.path.expanduser(value)


def project_key(root: str | os.PathLike[str]) -> str:
    """``<basename sanitized>-<first 8 hex of sha256 of the resolved path>``."""
    resolved = os.path.realpath(root)  # as Path.resolve()
    base = os.path.basename(resolved)
    name = "".join(c if c in _NAME_CHARS else "-" for c in base).lstrip(".")[:40]
    digest = sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{name or 'root'}-{digest}"


def check_ref(ref: str) -> str:
    """A command-line id: ``latest``, a full id, or a prefix made only of id characters."""
    if ref == "latest" or re.match(ID_RE, ref) or re.match(_REF_RE, ref):
        return ref
    raise UsageError(f"{ref!r} is not a state id (expected YYYYmmddTHHMMSSZ-reason-xxxx or latest)")


def id_time(state_id: str) -> float:
    """Epoch seconds encoded in an id."""
    m = re.match(ID_RE, state_id)
    if not m:
        raise ValueError(f"not a state id: {state_id!r}")
    import calendar

    return float(calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%SZ")))


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    conv = state.get("conversation") or {}
    memory = state.get("memory") or {}
    return {
        "reason": state.get("reason"),
        "agent": conv.get("agent"),
        "session_id": conv.get("session_id"),
        "tree_bytes": memory.get("tree_bytes"),
    }


class Entry:
    """One state file as listed: its summary, or why it could not be read."""

    __slots__ = ("id", "path", "project", "created", "size", "mtime_ns", "corrupt", "summary")

    def __init__(self, path: "Path", project: str, size: int, mtime_ns: int) -> None:
        self.id = path.name[: -len(STATE_SUFFIX)]
        self.path = path
        self.project = project
        self.created = id_time(self.id)
        self.size = size  # the state file plus its transcript copy
        self.mtime_ns = mtime_ns
        self.corrupt: str | None = None
        self.summary: dict[str, Any] = {}

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path), "project": self.project,
                "created": self.created, "size": self.size, "corrupt": self.corrupt,
                **self.summary}  # fmt: skip


def _sort_key(e: Entry) -> tuple[float, int, str]:
    return (e.created, e.mtime_ns, e.id)


class Dirs(NamedTuple):
    """A store's directories, as strings: what a run's start needs (``ensure``,
    ``clean_temp``, the run log's place) goes without pathlib's import."""

    state: str
    projects: str
    project: str
    states: str
    runs: str
    live: str


class Store:
    """The states of one project (plus listing across projects). The directories are
    ``dirs`` (strings) and, for everything else, the ``*_dir`` Paths."""

    def __init__(
        self, state_dir: str | os.PathLike[str], project_root: str | os.PathLike[str]
    ) -> None:
        self.project = project_key(project_root)
        state = os.fspath(state_dir)
        projects = os.path.join(state, "projects")
        project = os.path.join(projects, self.project)
        self.dirs = Dirs(
            state,
            projects,
            project,
            os.path.join(project, "states"),
            os.path.join(project, "runs"),
            os.path.join(state, "live"),
        )
        self._ready = False
        self._copies: dict[str, dict[str, Any]] = {}  # source path -> its last copy's metadata
        # What listing and pruning skipped or could not remove, one line each (the commands
        # print them as warnings; a run logs them): never a reason to stop.
        self.problems: builtins.list[str] = []
        self._issued: set[str] = set()  # ids handed out by new_id in this process

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    # The directories as Paths, for the commands; a run uses the str ``dirs``. Plain
    # properties: a Path is made in a microsecond, and functools (with the collections
    # package it imports) stays off the start path.
    @property
    def state_dir(self) -> "Path":
        from pathlib import Path  # not at import: a run's start has no use for it

        return Path(self.dirs.state)

    @property
    def projects_dir(self) -> "Path":
        return self.state_dir / "projects"

    @property
    def project_dir(self) -> "Path":
        return self.projects_dir / self.project

    @property
    def states_dir(self) -> "Path":
        return self.project_dir / "states"

    @property
    def runs_dir(self) -> "Path":
        return self.project_dir / "runs"

    @property
    def live_dir(self) -> "Path":
        return self.state_dir / "live"

    # -- directories and the write protocol ---------------------------------------------

    def ensure(self) -> None:
        """Create the directories 0700; tighten looser ones we own; refuse symlinks."""
        if self._ready:
            return
        d = self.dirs
        top = os.path.dirname(os.path.abspath(d.state))
        try:
            os.makedirs(top, mode=0o700, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create {top}: {err.strerror}") from err
        ensure_dir(d.state, follow=True)  # the root may be a user's own link
        for sub in (d.projects, d.project, d.states, d.runs):
            ensure_dir(sub, follow=False)
        try:
            ensure_dir(d.live, follow=False)
        except StoreError:
            pass  # a symlink planted there costs the run its live file (guardrun.observe.live says
            # so and writes nothing through it), not every state it would save
        self._ready = True

    def atomic_write(self, directory: "Path", name: str, chunks: Iterable[bytes]) -> int:
        """Write ``chunks`` to ``directory/name`` by the protocol above; bytes written."""
        self.ensure()
        final = directory / name
        tmp = directory / f"{TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}-{name}"
        try:
            fd = os.open(tmp, OPEN_NEW, 0o600)
        except OSError as err:
            raise StoreError(f"cannot write {final}: {err.strerror}") from err
        written = 0
        try:
            try:
                os.fchmod(fd, 0o600)  # a umask never widens, but be explicit
                for chunk in chunks:  # an OSError reading a source propagates as is
                    written += write_all(fd, chunk, final)
                store_op(os.fsync, final, fd)
            finally:
                os.close(fd)
            store_op(os.rename, final, tmp, final)
        except BaseException:
            unlink_quietly(tmp)
            raise
        fsync_dir(directory)
        return written

    # -- ids and writing ------------------------------------------------------------------

    def new_id(self, reason: str, now: float | None = None) -> str:
        if reason not in REASONS:
            raise ValueError(f"unknown state reason {reason!r}")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        while True:
            state_id = f"{stamp}-{reason}-{os.urandom(2).hex()}"
            if state_id in self._issued:  # begun, maybe not written yet (capture.finish)
                continue
            if not any(os.path.lexists(self.states_dir / (state_id + s))
                       for s in (STATE_SUFFIX, TRANSCRIPT_SUFFIX)):  # fmt: skip
                self._issued.add(state_id)
                return state_id

    def write_state(self, state: dict[str, Any]) -> "Path":
        state_id = str(state.get("id", ""))
        if not re.match(ID_RE, state_id):
            raise ValueError(f"state has no valid id: {state_id!r}")
        data = json_bytes(state, indent=1)  # see guardrun.escape: bytes that are not UTF-8
        name = state_id + STATE_SUFFIX
        import gzip

        self.atomic_write(self.states_dir, name, [gzip.compress(data, 6, mtime=0)])
        return self.states_dir / name

    def write_transcript(
        self, state_id: str, src: "Path", tail_limit: int = TAIL_LIMIT
    ) -> dict[str, Any]:
        """Copy ``src`` (gzip level 1, its tail past ``tail_limit``) before the state.

        Returns the state's ``conversation.transcript.copy``. OSError reading ``src``
        propagates; StoreError when the store cannot be written.
        """
        if not re.match(ID_RE, state_id):
            raise ValueError(f"not a state id: {state_id!r}")
        self.ensure()
        name = state_id + TRANSCRIPT_SUFFIX
        with open(src, "rb") as f:
            st = os.fstat(f.fileno())
            source = fingerprint(f, st.st_size, st.st_mtime_ns, src)
            earlier = self._earlier_copy(source)
            linked = self._link_copy(earlier, name) if earlier else None
            if linked:
                return linked
            start = line_start(f, st.st_size - tail_limit) if st.st_size > tail_limit else 0
            reader = GzipReader(f, start, st.st_size)
            stored = self.atomic_write(self.states_dir, name, reader.chunks())
        meta = {"file": name, "bytes": reader.count, "stored_bytes": stored, "offset": start,
                "truncated": start > 0, "sha256": reader.digest.hexdigest(), "source": source,
                "reused_from": None}  # fmt: skip
        self._copies[source["path"]] = meta
        return meta

    def _earlier_copy(self, source: dict[str, Any]) -> dict[str, Any] | None:
        """The last copy of this same source, from memory or the newest few states."""
        meta = self._copies.get(source["path"])
        if meta is None:
            for e in self._scan(False)[:3]:  # a new guardrun run: look at what is on disk
                try:
                    conv = read_state(e.path).get("conversation") or {}
                except (StateCorrupt, StateNotFound):
                    continue
                meta = ((conv.get("transcript") or {}).get("copy")) or None
                if meta and meta.get("source") == source:
                    break
        return meta if meta and meta.get("source") == source else None

    def _link_copy(self, earlier: dict[str, Any], name: str) -> dict[str, Any] | None:
        """Unchanged since ``earlier``: hard-link its copy under ``name`` (no reread)."""
        file = str(earlier.get("file", ""))  # from a state file: check it is only a name
        if not file.endswith(TRANSCRIPT_SUFFIX) or not re.match(
            ID_RE, file[: -len(TRANSCRIPT_SUFFIX)]
        ):
            return None
        old = self.states_dir / file
        if not stat.S_ISREG(lstat_mode(old)):
            return None
        try:
            os.link(old, self.states_dir / name, follow_symlinks=False)
        except OSError:
            return None  # a filesystem without hard links: copy again
        fsync_dir(self.states_dir)
        return {**earlier, "file": name, "reused_from": old.name}

    # -- reading ----------------------------------------------------------------------------

    def _project_dirs(self, all_projects: bool) -> "list[tuple[str, Path]]":
        if not all_projects:
            return [(self.project, self.states_dir)]
        try:
            names = sorted(os.listdir(self.projects_dir))
        except OSError:
            return []
        return [
            (n, self.projects_dir / n / "states")
            for n in names
            if not n.startswith(".") and stat.S_ISDIR(lstat_mode(self.projects_dir / n))
        ]

    def _scan(self, all_projects: bool) -> list[Entry]:
        """State files, newest first, unread (no summary yet)."""
        entries: list[Entry] = []
        for project, states in self._project_dirs(all_projects):
            if not stat.S_ISDIR(lstat_mode(states)):
                continue
            try:
                found = [(d.name, d.is_symlink()) for d in os.scandir(states)]
            except OSError:
                continue  # unreadable: nothing to list there
            for name, is_link in found:
                sid = name[: -len(STATE_SUFFIX)]
                if not name.endswith(STATE_SUFFIX) or not re.match(ID_RE, sid):
                    continue
                try:  # a concurrent prune may remove files between listing and stat
                    st = os.lstat(states / name)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    # A directory named like a state: not one, and not for guardrun to
                    # remove; left where it is, and said once. (A FIFO or a socket is
                    # listed as corrupt, as a file that cannot be read, and may be pruned.)
                    self.problem(f"skipping {states / name}: a directory, not a state file")
                    continue
                try:
                    e = Entry(
                        states / name,
                        project,
                        st.st_size + file_size(states / (sid + TRANSCRIPT_SUFFIX)),
                        st.st_mtime_ns,
                    )
                except ValueError:  # 20250101T250000Z: the digits of no time
                    self.problem(f"skipping {states / name}: its name holds no valid time")
                    continue
                if is_link:
                    e.corrupt = "symlink in the store (refused)"
                entries.append(e)
        entries.sort(key=_sort_key, reverse=True)
        return entries

    def entries(self, all_projects: bool = False) -> list[Entry]:
        """Every state, newest first; unreadable ones carry ``corrupt`` and never raise."""
        entries = self._scan(all_projects)
        for e in entries:
            if e.corrupt:
                continue
            try:
                e.summary = _summary(read_state(e.path))
            except (StateCorrupt, StateNotFound) as err:
                e.corrupt = str(err)
        return entries

    def resolve(self, ref: str) -> "Path":
        """The file of ``latest``, a full id, or a unique prefix; this project first."""
        check_ref(ref)
        here = self._scan(False)
        if ref == "latest":
            if not here:
                raise StateNotFound(f"no saved states for this project in {self.states_dir}")
            return here[0].path
        for scope in (here, self._scan(True)):
            hits = [e for e in scope if e.id == ref] or [e for e in scope if e.id.startswith(ref)]
            if len(hits) == 1:
                return hits[0].path
            if hits:
                shown = ", ".join(e.id for e in hits[:5])
                raise UsageError(f"{ref!r} matches {len(hits)} states ({shown}): give more of it")
        raise StateNotFound(f"no saved state {ref!r} (see: guardrun state list --all)")

    def load(self, ref: str) -> dict[str, Any]:
        return read_state(self.resolve(ref))

    def read_raw(self, ref: str) -> bytes:
        return read_gzip(self.resolve(ref))
