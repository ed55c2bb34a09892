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


def try_lock(fd: int, seconds: float) -> bool:
    """Lock ``fd`` exclusively within ``seconds`` (True), or give up (False): a process
    that keeps the file locked never stops the caller for longer."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            if sys.platform == "win32":  # pragma: no cover (Windows)
                import msvcrt

                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)


def unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover (Windows)
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)
