"""Trusting a project file: which of its keys wait for the user's consent, and the
record of the files' contents the user has trusted.

A cloned repository's ``.guardrun.yaml`` is a stranger's text (git takes no hooks from a
clone, direnv loads nothing before ``direnv allow``, mise ignores an untrusted file's
risky parts before ``mise trust``). Its keys of class ``safe`` (thresholds, intervals,
notifications, display) apply at once; a key that runs something, changes an argv,
moves where data is written, changes redaction or affects other runs, and a protection
or retention limit looser than the default, waits until ``guardrun config trust``
records the sha256 of the file's exact content. A changed file is untrusted again.

The record is ``<user state dir>/guardrun/trust.json`` (0600, in a 0700 directory):
the user's own state directory, never ``state.dir``, which a project file could point
elsewhere and which the user may move without forgetting what they trusted. Entries are
keyed by the file's absolute path as found, not its target: a committed symlink to a
file trusted elsewhere is a new file.
"""

import os
import stat
from collections.abc import Mapping
from typing import NamedTuple

from guardrun.config.schema import FLOOR, TRUST, TRUST_WHY, Key
from guardrun.dirs import make_private_dirs

TRUST_FILE = "trust.json"
_MAX_RECORD = 4 << 20  # trust.json is ~150 bytes a file; a larger one is not ours


class Held(NamedTuple):
    """A project file's key held back because the file is not trusted."""

    key: str  # dotted key
    where: str  # "<file>:<line>"
    why: str  # e.g. "runs a command"


def digest(text: str) -> str:
    """The sha256 of the file's text. Every run in a repository with a .guardrun.yaml
    takes it: CPython's own sha256 module imports in a tenth of hashlib's time (which
    loads OpenSSL's binding; docs/benchmarks.md), on a start-up that is measured."""
    data = text.encode("utf-8", "surrogateescape")
    for name in ("_sha256", "_sha2"):  # 3.10-3.11, then 3.12+
        try:
            return str(__import__(name).sha256(data).hexdigest())
        except (ImportError, AttributeError):
            continue
    import hashlib  # pragma: no cover - a Python built without them

    return hashlib.sha256(data).hexdigest()


def needs_trust(key: Key, value: object, default: object) -> str | None:
    """Why ``value`` from an untrusted project file waits for trust, or None: it is safe."""
    if key.path in TRUST:
        return TRUST_WHY[TRUST[key.path]]
    direction = FLOOR.get(key.path)
    if direction is None:
        return None
    assert isinstance(value, (int, float)) and isinstance(default, (int, float))
    if (direction == "max" and value > default) or (direction == "min" and value < default):
        from guardrun.config.values import render_value

        word = "more" if direction == "max" else "less"
        return f"{TRUST_WHY['floor']}: {word} than {render_value(key, default)}"
    return None


def unsafe_owner(st: os.stat_result) -> str | None:
    """Why a discovered project file is not read at all, or None. As git refuses a
    repository another user owns: a file in a shared directory (``/tmp``, 1777) may have
    been put there by anyone. Group-writable is accepted only for the user's own primary
    group (Debian's and Fedora's user private groups: umask 002 makes every clone 0664)."""
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: ACLs, not mode bits
        return None
    if st.st_uid not in (os.geteuid(), 0):
        return f"owned by another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return "writable by others"
    if st.st_mode & stat.S_IWGRP and st.st_gid not in (os.getegid(), 0):
        return f"writable by group {st.st_gid}"
    return None


def unsafe_link(path: str) -> str | None:
    """Why ``path``, a symbolic link, is not followed: another user made the link (to a
    file of yours it would make that file's keys theirs to choose); None otherwise."""
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode) and st.st_uid not in (os.geteuid(), 0):
        return f"a symbolic link made by another user (uid {st.st_uid})"
    return None


def record_key(path: str) -> str:
    """How a file is named in the record: its directory resolved (``/tmp`` may be a
    link), its own name not (a committed symlink is a file of its own)."""
    path = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def record_path() -> str:
    """``<user state dir>/guardrun/trust.json``."""
    from guardrun.dirs import user_state_dir

    return os.path.join(user_state_dir(), TRUST_FILE)


def records() -> dict[str, str]:
    """Trusted files: absolute path -> sha256. A missing or unreadable record trusts
    nothing (a run goes on with the project file's safe keys)."""
    try:
        fd = os.open(record_path(), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or _foreign(st):
            return {}
        data = os.read(fd, _MAX_RECORD + 1)
    except OSError:
        return {}
    finally:
        os.close(fd)
    import json  # a run without a project file reads no record

    try:
        obj = json.loads(data) if len(data) <= _MAX_RECORD else None
    except ValueError:
        return {}
    files = obj.get("files") if isinstance(obj, dict) else None
    if not isinstance(files, dict):
        return {}
    return {
        p: e["sha256"]
        for p, e in files.items()
        if isinstance(e, dict) and isinstance(e.get("sha256"), str)
    }


def _foreign(st: os.stat_result) -> bool:
    """A record someone else could have written is no record (it would trust for us)."""
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows
        return False
    return st.st_uid != os.geteuid() or bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def is_trusted(path: str, sha: str) -> bool:
    return records().get(path) == sha


def trust(path: str, sha: str) -> str:
    """Record ``path`` as trusted at content ``sha``; the record file's path."""
    return _update(path, sha)


def untrust(path: str) -> bool:
    """Forget ``path``; whether it was trusted."""
    if path not in records():
        return False
    _update(path, None)
    return True


def _update(path: str, sha: str | None) -> str:
    import json
    import time

    from guardrun.errors import ConfigError

    where = record_path()
    files: dict[str, object] = {p: {"sha256": h} for p, h in records().items()}
    if sha is None:
        files.pop(path, None)
    else:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        files[path] = {"sha256": sha, "trusted_at": stamp}
    data = json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True) + "\n"
    directory = os.path.dirname(where)
    tmp = f"{where}.{os.getpid()}.tmp"
    try:
        make_private_dirs(directory)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data.encode("utf-8", "surrogateescape"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, where)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"{where}: cannot write: {err.strerror or err}") from None
    return where


def trust_command(path: str) -> str:
    """The exact command that trusts ``path``, quoted for a POSIX shell."""
    import shlex

    return f"guardrun config trust {shlex.quote(path)}"


def held_notice(held: list[Held], trusted: Mapping[str, str]) -> str | None:
    """The one line a run says before the agent starts when a project file's keys were
    held back: which file, what and why, and the command that trusts it."""
    path = next((p for p, how in trusted.items() if how == "not trusted"), None)
    if not held or path is None:
        return None
    shown = held[0].where.rsplit(":", 1)[0]
    what = ", ".join(f"{h.key} ({h.why})" for h in held)
    return f"{shown} is not trusted: ignored {what}; review it, then run: {trust_command(path)}"
