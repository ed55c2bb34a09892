"""One restart at a time across runs: a lease in ``<state dir>/live/restart.lease``.

The file holds the holder's pid, its process identity (start time) and a deadline. To
take the lease a run locks the file (an advisory lock held only while it reads and
writes, microseconds), and takes it when it is free: empty, its holder gone (a pid that
died or was recycled) or past its deadline (a holder that hangs). The holder empties
the file when its restart is done. No daemon, nothing to clean up after a crash.

The file is a stranger's input like everything under the state directory: a holder is
believed only while its pid is a running guardrun of this user with the recorded start
time, and a deadline more than ``MAX_SECONDS`` ahead is no deadline (``1e300`` once held
every budget restart forever). A lease path that is not a regular file (a symlink, a
directory, a FIFO) is removed when it can be and otherwise done without, with a
warning: restarts then are not one at a time, but they happen. The lock is tried, never
waited on for more than ``LOCK_SECONDS``: a process that keeps the file locked does not
stop the run loop.
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING

from guardrun.dirs import make_private_dirs
from guardrun.escape import json_bytes, visible
from guardrun.observe.live import live_dir
from guardrun.platform import process_identity

if TYPE_CHECKING:
    from collections.abc import Callable

NAME = "restart.lease"
MAX_SECONDS = 3600.0  # no shared restart takes longer: grace + slack is about a minute
LOCK_SECONDS = 0.1  # the lock is held for microseconds; longer is a stranger
MAX_FILE = 4096


class Lease:
    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        pid: int | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = os.path.join(live_dir(state_dir), NAME)
        self.pid = os.getpid() if pid is None else pid
        self._identity: dict[str, object] | None = None  # read at the first acquire
        self.held = False
        self.warn = warn
        self._warned: set[str] = set()

    @property
    def identity(self) -> dict[str, object]:
        if self._identity is None:
            self._identity = dict(process_identity(self.pid))
        return self._identity

    def holder(self) -> dict[str, object] | None:
        """The live holder's record, or None when the lease is free."""
        from guardrun.untrusted import Unreadable, read_bytes

        try:
            return _live_holder(read_bytes(self.path, MAX_FILE))
        except Unreadable:
            return None

    def acquire(self, seconds: float) -> bool:
        """Take the lease for ``seconds`` (True), unless another live run holds it."""
        seconds = min(seconds, MAX_SECONDS)
        record = {"pid": self.pid, "identity": self.identity, "deadline": time.time() + seconds}
        done = self._locked(lambda held: None if held and held["pid"] != self.pid else record)
        self.held = done
        return done

    def release(self) -> None:
        if self.held:
            self._locked(lambda held: {} if held and held["pid"] == self.pid else None)
            self.held = False

    def _warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            if self.warn is not None:
                self.warn(text)

    def _open(self) -> int | None:
        """The lease file, open for reading and writing; None when there is none to be had
        (warned: the caller goes on without one)."""
        make_private_dirs(os.path.dirname(self.path))
        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
        for attempt in range(2):
            try:
                fd = os.open(self.path, flags, 0o600)
            except OSError as err:
                why = err.strerror or str(err)
            else:
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode):
                    return fd
                os.close(fd)
                why = "not a regular file"
            if attempt == 0 and _remove(self.path):
                continue  # a planted symlink, FIFO or empty directory: gone, try again
            break
        self._warn_once(
            f"cannot use the restart lease {visible(self.path)} ({why}): restarts for the "
            "machine go on without waiting for each other; remove it to fix"
        )
        return None

    def _locked(
        self, change: Callable[[dict[str, object] | None], dict[str, object] | None]
    ) -> bool:
        from guardrun.platform.locks import try_lock, unlock  # only a shared restart locks

        fd = self._open()
        if fd is None:
            return True  # no lease to be had: a restart is not blocked forever for it
        try:
            if not try_lock(fd, LOCK_SECONDS):
                return False  # busy (or held by a stranger): this run looks again later
            try:
                held = _live_holder(os.pread(fd, MAX_FILE, 0))  # torn or planted: free
                new = change(held)
                if new is None:
                    return False
                data = json_bytes(new, separators=(",", ":")) if new else b""
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                return True
            finally:
                unlock(fd)
        except OSError:
            return False
        finally:
            os.close(fd)


def _remove(path: str) -> bool:
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        return False
    return True


def _live_holder(data: bytes) -> dict[str, object] | None:
    """The holder in ``data`` while it holds the lease, else None (not JSON: none). Read
    only when a run restarts for the machine: a plain start imports none of this."""
    from guardrun.observe.live_read import unproven
    from guardrun.untrusted import MAX_TIME, Unreadable, integer, loads, number

    try:
        record = loads(data) if data.strip() else None
    except Unreadable:
        return None
    if not isinstance(record, dict):
        return None
    pid = integer(record.get("pid"), 1, 1 << 31)
    deadline = number(record.get("deadline"), 0.0, float(MAX_TIME))
    now = time.time()
    if pid is None or deadline is None:
        return None
    if deadline < now or deadline > now + MAX_SECONDS:
        return None  # a holder that hangs (its deadline passed), or no deadline at all
    if unproven(pid, record.get("identity")):
        return None  # the holder died, its pid is another process now, or not a guardrun
    return record
