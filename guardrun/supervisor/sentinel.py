"""A watchdog that ends the tree when guardrun itself is SIGKILLed.

A SIGKILLed guardrun runs no cleanup. The PTY hangs up (SIGHUP to the child's
foreground group) and the child gets its parent-death signal, but a daemon that
double-forked into a session of its own (an MCP server) sees neither, and it
was guardrun, the subreaper, that held it. So at start guardrun forks this
small process into a session of its own, with nothing open but a pipe, and
sends it the tree's membership (pid and start time, so a reused pid is never
hit) whenever it changes. Members born since the last sample are found by the
marker every process of the tree inherits in its environment. EOF without a
"done" line means guardrun died: the sentinel sends SIGTERM to the last known
tree, waits a short grace, then SIGKILL.
Wherever the platform gives start times and ``fork`` exists (not Windows).
"""

from __future__ import annotations

import os
import time

from guardrun.platform import HAS_START_TIMES, marked, start_time
from guardrun.platform.signums import signal
from guardrun.records import TYPE_CHECKING
from guardrun.supervisor.child import fork

if TYPE_CHECKING:
    from collections.abc import Iterable

GRACE = 3.0


def _sentinel_main(r: int, marker: bytes) -> None:  # pragma: no cover - forked sentinel
    members: dict[int, int] = {}
    pgid = 0
    buf = b""
    while True:
        try:
            chunk = os.read(r, 65536)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line == b"done":
                os._exit(0)
            parts = line.split()
            if parts and parts[0] == b"S":
                pgid = int(parts[1])
                members = {}
            elif len(parts) == 2:
                members[int(parts[0])] = int(parts[1])
    live = {pid: st for pid, st in members.items() if start_time(pid) == st}
    if marker:
        live.update(marked(marker))
    # The group is signalled only while one of the tree's own processes (pid and start
    # time checked) is still in it: after the tree is gone its pgid may be a recycled
    # pid's group, and killpg would end an unrelated program.
    if pgid and not _group_is_ours(pgid, live):
        pgid = 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if pgid:
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass
        for pid, st in live.items():
            if start_time(pid) == st:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + GRACE
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not any(start_time(p) == st for p, st in live.items()):
                os._exit(0)
            time.sleep(0.05)
    os._exit(0)


def _group_is_ours(pgid: int, live: dict[int, int]) -> bool:
    for pid in live:
        try:
            if os.getpgid(pid) == pgid:
                return True
        except OSError:
            continue
    return False


class Sentinel:
    def __init__(self, marker: bytes = b"") -> None:
        self.pid: int | None = None
        self._w: int | None = None
        self._last: tuple[int, frozenset[int]] | None = None
        if not HAS_START_TIMES or not hasattr(os, "fork"):
            return
        r, w = os.pipe()
        pid = fork()  # quiet about hook threads
        if pid == 0:  # pragma: no cover
            try:
                os.setsid()
                for s in (
                    signal.SIGINT,
                    signal.SIGTERM,
                    signal.SIGHUP,
                    signal.SIGTSTP,
                    signal.SIGUSR1,
                    signal.SIGUSR2,
                    signal.SIGPIPE,
                ):
                    signal.signal(s, signal.SIG_IGN)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, r)
                os.closerange(r + 1, 65536)
                _sentinel_main(r, marker)
            finally:
                os._exit(0)
        os.close(r)
        os.set_blocking(w, False)
        self.pid, self._w = pid, w

    def update(self, pgid: int, pids: Iterable[int]) -> None:
        """Tell the sentinel the tree's members (sent only when they changed)."""
        if self._w is None:
            return
        key = (pgid, frozenset(pids))
        if key == self._last:
            return
        self._last = key
        lines = [f"S {pgid}"]
        for pid in key[1]:
            st = start_time(pid)
            if st is not None:
                lines.append(f"{pid} {st}")
        self._write(("\n".join(lines) + "\n").encode())

    def _write(self, data: bytes) -> None:
        if self._w is None:
            return
        try:
            os.write(self._w, data)
        except OSError:
            pass  # full or gone: the sentinel is best effort, supervision goes on

    def done(self) -> None:
        """guardrun is exiting on its own: the sentinel leaves quietly."""
        if self._w is None:
            return
        os.set_blocking(self._w, True)
        self._write(b"done\n")
        os.close(self._w)
        self._w = None
        if self.pid is not None:
            # Reaped if it is already gone; otherwise not waited for (~1 ms of guardrun's
            # every exit): it exits on "done", and once guardrun has exited init reaps it.
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass
