"""File-level helpers of the state store: gzip reads that never follow a symlink,
the transcript copy's reader and fingerprint, and the small OS calls of the
atomic write protocol (write all, fsync a directory, translate errors).
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

from guardrun.errors import StateCorrupt, StateNotFound, StoreError

if TYPE_CHECKING:
    from collections.abc import Iterable

    StrPath = str | os.PathLike[str]  # a path, as os takes it
    from typing import IO, Any

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC
OPEN_READ = os.O_RDONLY | NOFOLLOW | CLOEXEC | getattr(os, "O_NONBLOCK", 0)
MAX_STATE_BYTES = 64 * 1024 * 1024  # a decompressed state beyond this is not ours
CHUNK = 1 << 20
FP_TAIL = 1 << 16  # bytes at the end of a transcript hashed to tell "unchanged"


def read_state(path: StrPath) -> dict[str, Any]:
    """Parse one state file; StateCorrupt for anything but a complete JSON object."""
    from guardrun.untrusted import loads  # strict: no NaN or Infinity (issue 27)

    try:
        data = loads(read_gzip(path))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise StateCorrupt(f"{path}: not a valid state ({type(err).__name__})") from err
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise StateCorrupt(f"{path}: not a schema-1 state")
    return data


def read_gzip(path: StrPath) -> bytes:
    try:
        fd = os.open(path, OPEN_READ)
    except FileNotFoundError as err:
        raise StateNotFound(f"{path}: no such state") from err
    except OSError as err:  # ELOOP: a symlink planted in the store
        raise StateCorrupt(f"{path}: cannot be read safely ({err.strerror})") from err
    import gzip  # where used: a run's start-up does not need it (docs/benchmarks.md)

    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise StateCorrupt(f"{path}: not a regular file")
            with gzip.GzipFile(fileobj=f) as gz:
                data = gz.read(MAX_STATE_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise StateCorrupt(f"{path}: corrupt or truncated ({err})") from err
    if len(data) > MAX_STATE_BYTES:
        raise StateCorrupt(f"{path}: too large to be a state")
    return data


_make_sha256: Any = None


def sha256(data: bytes = b"") -> Any:
    """hashlib's sha256 without importing hashlib, whose OpenSSL binding is a cost of
    every start-up (docs/benchmarks.md; the project directory's name holds a hash); the
    same digest. The
    module is looked up once: a failed import searches the whole path each time."""
    global _make_sha256
    if _make_sha256 is None:
        try:
            from _sha2 import sha256 as make  # type: ignore[import-not-found]  # 3.12+
        except ImportError:
            try:
                from _sha256 import sha256 as make  # type: ignore[import-not-found]  # 3.10, 3.11
            except ImportError:  # pragma: no cover - a Python without the builtin module
                from hashlib import sha256 as make
        _make_sha256 = make
    return _make_sha256(data)


def bulk_sha256() -> Any:
    """sha256 for hundreds of MB: hashlib's OpenSSL one, several times faster than the
    builtin module (docs/benchmarks.md), and it lets go of the GIL while it hashes, where
    the builtin held it for each update (the relay thread then waited). The transcript's
    copy is never on the start-up path, so importing hashlib is paid there, once."""
    import hashlib

    return hashlib.sha256()


class GzipReader:
    """Reads ``[start, end)`` of a file as gzip level-1 chunks, hashing what it read."""

    def __init__(self, f: IO[bytes], start: int, end: int) -> None:
        self.f, self.start, self.end = f, start, end
        self.count = 0
        self.digest = bulk_sha256()

    def chunks(self) -> Iterable[bytes]:
        import zlib  # at a capture only: every start imports this module

        comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: gzip framing
        self.f.seek(self.start)
        remaining = self.end - self.start  # the agent may append meanwhile: stop at end
        while remaining > 0:
            block = self.f.read(min(CHUNK, remaining))
            if not block:
                break  # truncated under us; the copy is what was there
            remaining -= len(block)
            self.count += len(block)
            self.digest.update(block)
            out = comp.compress(block)
            if out:
                yield out
        yield comp.flush()


def fingerprint(f: IO[bytes], size: int, mtime_ns: int, path: StrPath) -> dict[str, Any]:
    """Size, mtime and a hash of the last 64 KiB: transcripts are append-only JSONL, so
    any new line changes all three; only a same-size rewrite of the middle that also
    restores the mtime would go unseen."""
    f.seek(max(0, size - FP_TAIL))
    tail = sha256(f.read(FP_TAIL)).hexdigest()
    return {"path": str(path), "size": size, "mtime_ns": mtime_ns, "tail_sha256": tail}


def line_start(f: IO[bytes], pos: int) -> int:
    """The first line boundary at or after ``pos`` (``pos`` itself if there is none)."""
    f.seek(pos)
    offset = pos
    while block := f.read(CHUNK):
        i = block.find(b"\n")
        if i >= 0:
            return offset + i + 1
        offset += len(block)
    return pos


def write_all(fd: int, chunk: bytes, final: StrPath) -> int:
    view = memoryview(chunk)
    while view:
        n: int = store_op(os.write, final, fd, view)
        view = view[n:]
    return len(chunk)


def store_op(op: Any, final: StrPath, *args: Any) -> Any:
    try:
        return op(*args)
    except OSError as err:  # ENOSPC, EFBIG, EROFS, EACCES, EIO: one line naming the file
        raise StoreError(f"cannot write {final}: {err.strerror or err}") from err


def ensure_dir(path: StrPath, follow: bool) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise StoreError(f"cannot create {path}: {err.strerror}") from err
    st = os.stat(path) if follow else os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"refusing symlink in the state store: {path}")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"not a directory: {path}")
    if st.st_mode & 0o077 and hasattr(os, "getuid"):
        if st.st_uid != os.getuid():
            raise StoreError(f"{path} is open to other users and not ours; run: chmod 700 {path}")
        try:
            os.chmod(path, 0o700)
        except OSError as err:
            raise StoreError(f"cannot restrict {path} to mode 0700: {err.strerror}") from err


def fsync_dir(path: StrPath) -> None:
    """Make the rename durable; not every platform can open a directory (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_size(path: StrPath) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def lstat_mode(path: StrPath) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def unlink_quietly(path: StrPath) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def age(path: StrPath) -> float:
    try:
        return time.time() - os.lstat(path).st_mtime
    except OSError:
        return 0.0
