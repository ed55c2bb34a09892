"""Reading files of the state directory as a stranger's input.

Anything under the state directory may have been planted or corrupted (another run, a
crash, a user of the same account, a tool gone wrong). A reader here never blocks (a
FIFO opened without ``O_NONBLOCK`` waits for a writer forever, and ignores SIGTERM
while it does), never follows a symlink (``/dev/zero`` behind one is an endless file),
never reads more than a bound, and returns numbers only when they are finite and in
the range the caller gives (``Infinity`` and ``1e400`` parse as ``float('inf')``).
What fails raises :class:`Unreadable` with a reason; callers skip the file with one
warning naming it.
"""

import json
import os
import stat
import time
from typing import Any, NamedTuple

MAX_JSON = 1 << 20  # a live file or a lease is a few hundred bytes
MAX_LOG = 32 << 20  # a history or event log: a day of samples is ~1-3 MB
HEAD = 1 << 20  # of a log over the bound, this much of its start is kept (meta lines)
MAX_LINES = 500_000
PARSE_SECONDS = 5.0
MAX_TIME = 1 << 34  # wall-clock seconds: year 2514; a "t": 1e308 is not a time
MAX_BYTES = 1 << 60  # no tree holds an exbibyte


class Unreadable(ValueError):
    """A file that is not read: its reason (the caller names the file)."""


def _open(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise Unreadable(err.strerror or str(err)) from err
    try:
        st = os.fstat(fd)
    except OSError as err:
        os.close(fd)
        raise Unreadable(err.strerror or str(err)) from err
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Unreadable("not a regular file")
    return fd, st


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, min(size, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read_bytes(path: str | os.PathLike[str], limit: int = MAX_JSON) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes."""
    fd, st = _open(path)
    try:
        if st.st_size > limit:
            raise Unreadable(f"larger than {limit} bytes")
        data = _pread_all(fd, limit + 1, 0)
    except OSError as err:
        raise Unreadable(err.strerror or str(err)) from err
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Unreadable(f"larger than {limit} bytes")
    return data


def isfinite(value: float) -> bool:
    """``math.isfinite`` without importing math on the start path (measured by
    tests/unit/test_startup.py): inf - inf and nan - nan are nan, never 0."""
    return value - value == 0.0


def _finite(text: str) -> float:
    value = float(text)
    if not isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number guardrun writes")


def loads(data: bytes | str) -> Any:
    """Strict JSON: ``NaN``/``Infinity`` and numbers that overflow to infinity are errors."""
    try:
        return json.loads(data, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise Unreadable(f"not valid JSON: {str(err)[:120]}") from err


def read_json_object(path: str | os.PathLike[str], limit: int = MAX_JSON) -> dict[str, Any]:
    """The JSON object in a small regular file; :class:`Unreadable` otherwise."""
    obj = loads(read_bytes(path, limit))
    if not isinstance(obj, dict):
        raise Unreadable("not a JSON object")
    return obj


class Lines(NamedTuple):
    lines: list[bytes]
    cut: str | None  # what was left out and why, when something was


def read_lines(
    path: str | os.PathLike[str],
    limit: int = MAX_LOG,
    max_lines: int = MAX_LINES,
    tail_only: bool = False,
) -> Lines:
    """The lines of a log, bounded: a file over ``limit`` keeps its first ``HEAD`` bytes
    (its meta lines; none with ``tail_only``) and its last bytes up to ``limit``, and only
    the last ``max_lines`` lines are kept; ``cut`` says so. Torn lines at a cut are dropped."""
    fd, st = _open(path)
    cut: str | None = None
    try:
        size = st.st_size
        if size <= limit:
            data = _pread_all(fd, limit, 0)
            lines = data.splitlines()
        else:
            head_size = 0 if tail_only else min(HEAD, limit // 4)
            head = _pread_all(fd, head_size, 0).splitlines()[:-1] if head_size else []
            tail_size = limit - head_size
            tail = _pread_all(fd, tail_size, size - tail_size).splitlines()[1:]
            lines = head + tail
            cut = f"read {limit >> 20} MiB of {size / (1 << 20):.0f} MiB (the start and the end)"
    except OSError as err:
        raise Unreadable(err.strerror or str(err)) from err
    finally:
        os.close(fd)
    if len(lines) > max_lines:
        cut = (cut + "; " if cut else "") + f"kept the last {max_lines} of {len(lines)} lines"
        lines = lines[-max_lines:]
    return Lines(lines, cut)


def parse_lines(
    lines: list[bytes], seconds: float = PARSE_SECONDS
) -> tuple[list[dict[str, Any]], bool]:
    """The JSON objects among ``lines`` (others skipped), parsed for at most ``seconds``:
    (objects, whether time ran out). Parsing is from the end, so what is kept is recent."""
    deadline = time.monotonic() + seconds
    out: list[dict[str, Any]] = []
    for i, raw in enumerate(reversed(lines)):
        if i % 1024 == 1023 and time.monotonic() > deadline:
            out.reverse()
            return out, True
        try:
            obj = loads(raw)
        except Unreadable:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    out.reverse()
    return out, False


def integer(value: object, low: int, high: int) -> int | None:
    """``value`` when it is an int (not a bool) within [low, high], else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def number(value: object, low: float, high: float) -> float | None:
    """``value`` as a float when it is a finite int or float within [low, high], else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return f if isfinite(f) and low <= f <= high else None
