"""What every agent adapter shares: the Agent protocol, small file helpers (``Session``,
the record an adapter finds, is in ``session``).

Adapters only read: the agent's own files are never written. Ids that come from the command
line or from the agent's files are checked against a UUID pattern before they become part of a
path, and directory names read from the agent's files must be a single plain path component.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from pathlib import Path

    from guardrun.state.agents.session import Session

Message = dict[str, str]

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# A single directory or file name: no separators, no "." or "..", nothing hidden or odd.
_SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"

# File mtimes can lag a process's start time by filesystem timestamp granularity (1-2 s on
# some filesystems); a file touched this long before the child started still counts.
MTIME_SLACK = 2.0


class Agent(Protocol):
    name: str

    def matches(self, argv: Sequence[str]) -> bool: ...

    def launch_argv(self, argv: Sequence[str], again: bool = False) -> list[str]:
        """The argv to start (or, when nothing can be resumed, restart) the user's command
        with: the user's argv plus what makes the run's session provably its own (Codex
        ``--no-daemon``, Gemini ``--session-id <new uuid>``). Call it on the user's own argv,
        never on a previous child's.

        ``again``: a new conversation after the first start. A session the user's argv names
        (``--session-id X``, ``--resume X``, ``codex resume X``) is then dropped: it is the
        one that could not be resumed, or one that exists now and would be refused."""
        ...

    def resume_refused(self, exit_code: int) -> bool:
        """Whether ``exit_code``, from a child started with a resume argv that exited at once,
        is the agent's "no such session" answer (then start without resuming)."""
        ...

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None: ...

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None: ...

    def last_messages(self, session: Session, n: int = 10) -> list[Message]: ...


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(_UUID, value) is not None


def safe_name(value: object) -> bool:
    return (
        isinstance(value, str) and re.fullmatch(_SAFE_NAME, value) is not None and ".." not in value
    )


def home_dir(env: Mapping[str, str]) -> Path:
    from pathlib import Path  # the adapters' own paths: not imported by every start

    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def read_json_file(path: Path, limit: int = 1 << 20) -> Any:
    """A small JSON file's content, or None when missing, too big or not JSON."""
    import json  # here: the agents' files are read at capture, never at a start

    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        return None
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return None


def head_records(path: Path, max_lines: int = 50, max_bytes: int = 1 << 20) -> list[dict[str, Any]]:
    """The JSON objects among the first ``max_lines`` lines (at most ``max_bytes`` read)."""
    import json  # here: the agents' files are read at capture, never at a start

    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes)
    except OSError:
        return []
    records = []
    for line in data.split(b"\n")[:max_lines]:
        try:
            record = json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def scan_records(
    path: Path, needles: Sequence[bytes], max_bytes: int = 64 << 20
) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, first to last, from lines holding one of ``needles``
    (a cheap byte test before parsing); stops after ``max_bytes``. A torn or oversized line
    is skipped, never fatal."""
    import json  # here: the agents' files are read at capture, never at a start

    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        read = 0
        for line in f:
            read += len(line)
            if read > max_bytes:
                return
            if not any(n in line for n in needles):
                continue
            try:
                record = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def mtime(path: Path) -> float | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime if os.path.isfile(path) else None


def newest(paths: Iterable[Path], since: float) -> list[Path]:
    """Regular files modified at or after ``since`` (less MTIME_SLACK), newest first."""
    dated = []
    for path in paths:
        when = mtime(path)
        if when is not None and when >= since - MTIME_SLACK:
            dated.append((when, path))
    dated.sort(key=lambda item: item[0], reverse=True)
    return [path for _, path in dated]


def same_dir(a: str | Path, b: str | Path) -> bool:
    """Whether two directory paths name the same place (exact text, else the same inode)."""
    if str(a) == str(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def open_files(pids: Sequence[int], pattern: re.Pattern[str]) -> list[Path]:
    """Files held open by ``pids`` whose path matches ``pattern`` (every OS: platform/)."""
    from pathlib import Path

    from guardrun.platform import open_files as held

    return [Path(p) for p in held(pids, pattern)]


def proc_start_ticks(pid: int) -> str | None:
    """The process's start time as text (on Linux clock ticks since boot, the
    ``procStart`` Claude Code records), or None."""
    from guardrun.platform import start_time

    st = start_time(pid)
    return None if st is None else str(st)


def proc_argv(pid: int) -> list[str]:
    """The command line of ``pid`` (every OS: platform/), or [] when it cannot be read."""
    from guardrun.platform import process_argv

    return process_argv(pid)


def split_option(arg: str) -> tuple[str, str | None]:
    """``--name=value`` -> (``--name``, ``value``); anything else -> (arg, None)."""
    if arg.startswith("--") and "=" in arg:
        name, value = arg.split("=", 1)
        return name, value
    return arg, None
