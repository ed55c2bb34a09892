"""An exclusive advisory lock on an open file, held for a few microseconds at a time:
``flock`` where POSIX has it, ``msvcrt.locking`` on Windows (imported when first used:
only a restart shared between runs takes a lock)."""

from __future__ import annotations

import os
import sys


def lock(fd: int) -> None:
    """Block until ``fd`` is locked exclusively."""
    if sys.platform == "win32":  # pragma: no cover (Windows)
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover (Windows)
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
