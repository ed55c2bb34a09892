"""One restart at a time across runs: a lease in ``<state dir>/live/restart.lease``.

The file holds the holder's pid, its process identity (start time) and a deadline. To
take the lease a run locks the file (an advisory lock held only while it reads and
writes, microseconds), and takes it when it is free: empty, its holder gone (a pid that
died or was recycled) or past its deadline (a holder that hangs). The holder empties
the file when its restart is done. No daemon, nothing to clean up after a crash.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from guardrun.observe.events import make_private_dirs
from guardrun.observe.live import is_same_process, live_dir, process_identity

if TYPE_CHECKING:
    from collections.abc import Callable

NAME = "restart.lease"


class Lease:
    def __init__(self, state_dir: str | os.PathLike[str], pid: int | None = None) -> None:
        self.path = os.path.join(live_dir(state_dir), NAME)
        self.pid = os.getpid() if pid is None else pid
        self.identity = process_identity(self.pid)
        self.held = False

    def holder(self) -> dict[str, object] | None:
        """The live holder's record, or None when the lease is free."""
        try:
            with open(self.path, "rb") as f:
                return _live_holder(f.read(4096))
        except OSError:
            return None

    def acquire(self, seconds: float) -> bool:
        """Take the lease for ``seconds`` (True), unless another live run holds it."""
        record = {"pid": self.pid, "identity": self.identity, "deadline": time.time() + seconds}
        done = self._locked(lambda held: None if held and held["pid"] != self.pid else record)
        self.held = done
        return done

    def release(self) -> None:
        if self.held:
            self._locked(lambda held: {} if held and held["pid"] == self.pid else None)
            self.held = False

    def _locked(
        self, change: Callable[[dict[str, object] | None], dict[str, object] | None]
    ) -> bool:
        from guardrun.platform.locks import lock, unlock  # only a shared restart locks

        make_private_dirs(os.path.dirname(self.path))
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError:
            return False
        try:
            lock(fd)
            try:
                held = _live_holder(os.pread(fd, 4096, 0))
                new = change(held)
                if new is None:
                    return False
                data = json.dumps(new, separators=(",", ":")).encode() if new else b""
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                return True
            finally:
                unlock(fd)
        except OSError:
            return False
        finally:
            os.close(fd)


def _live_holder(data: bytes) -> dict[str, object] | None:

    try:
        record = json.loads(data) if data.strip() else None
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    pid, identity, deadline = record.get("pid"), record.get("identity"), record.get("deadline")
    if not isinstance(pid, int) or not isinstance(deadline, (int, float)):
        return None
    if deadline < time.time():
        return None  # a holder that hangs: its deadline passed
    if not isinstance(identity, dict) or not identity or not is_same_process(pid, identity):
        return None  # the holder died (or its pid is another process now)
    return record
