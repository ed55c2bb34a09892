"""A watchdog that ends the tree when guardrun itself is SIGKILLed.

A SIGKILLed guardrun runs no cleanup. The PTY hangs up (SIGHUP to the child's
foreground group) and the child gets its parent-death signal, but a daemon that
double-forked into a session of its own (an MCP server) sees neither, and it
was guardrun, the subreaper, that held it. So at start guardrun starts this
small process in a session of its own, with nothing open but a pipe, and
sends it the tree's membership (pid and start time, so a reused pid is never
hit) whenever it changes. Members born since the last sample are found by the
marker every process of the tree inherits in its environment. EOF without a
"done" line means guardrun died: the sentinel sends SIGTERM to the last known
tree, waits a short grace, then SIGKILL.
Wherever the platform gives start times (not Windows).

The sentinel is a program of its own, started by ``posix_spawn``: ``python -I -S``
running :func:`main`, in a new session, stdio on /dev/null, the pipe's read end the
only other descriptor, an empty environment (so it carries no marker). A fork of
guardrun would do the same work, but after a fork every page guardrun writes is
first copied (about a thousand page faults: 3-4 ms of each start, measured), and a
forked copy of a Python process that goes on running Python inherits whatever
locks other threads held. The spawned interpreter starts on another core while
guardrun goes on (its ~10 ms of CPU is its own, once per run), and holds about the
memory the forked copy came to hold (3 MB of its own). Where it cannot be spawned (no
interpreter path, no ``posix_spawn`` with a new session) it is forked, as before; one
that dies is replaced by a fork at the next update.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from guardrun.platform import HAS_START_TIMES, marked, start_time
from guardrun.platform.signums import signal
from guardrun.supervisor.child import RESET_SIGNALS, fork

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


# The spawned sentinel's program. Its arguments: the sys.path to take (guardrun's, the
# directory above the package first, for an editable install), the marker, the path
# separator, the pipe's descriptor.
BOOT = (
    "import sys; sys.path[:0] = sys.argv[1].split(sys.argv[3]);"
    "from guardrun.supervisor.sentinel import main; main()"
)
_IGNORED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGTSTP", "SIGUSR1", "SIGUSR2", "SIGPIPE")


def _serve(r: int, marker: bytes) -> None:  # pragma: no cover - in the sentinel
    """Deaf to the signals a terminal or a user sends guardrun's group, holding nothing but
    the pipe's read end ``r`` (and stdio), watch until guardrun is done or gone."""
    for name in _IGNORED:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    os.closerange(3, r)
    os.closerange(r + 1, 65536)
    _sentinel_main(r, marker)


def main() -> None:  # pragma: no cover - the spawned sentinel; test_sentinel drives it
    """The spawned sentinel: ``argv`` is ``-c``, the path, the marker, the path separator,
    the pipe's descriptor."""
    _serve(int(sys.argv[4]), sys.argv[2].encode())


def _path() -> str:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join([here, *(p for p in sys.path if p and p != here)])


def _spawn(r: int, marker: bytes) -> int | None:
    """The sentinel started as a program of its own; None where that cannot be done."""
    exe = sys.executable
    if not exe or getattr(sys, "frozen", False) or not hasattr(os, "posix_spawn"):
        return None  # no interpreter to start (a frozen guardrun's executable is itself)
    null = os.open(os.devnull, os.O_RDWR)
    os.set_inheritable(r, True)  # the caller closes it once the sentinel has it
    try:
        flags = ["-I", "-S", *(["-B"] if sys.flags.dont_write_bytecode else [])]  # -I drops env
        argv = [exe, *flags, "-c", BOOT, _path(), marker.decode(), os.pathsep, str(r)]
        actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
        return os.posix_spawn(
            exe, argv, {}, file_actions=actions, setsid=True, setsigmask=(), setsigdef=RESET_SIGNALS
        )
    except (OSError, NotImplementedError, ValueError):
        return None
    finally:
        os.close(null)


def _fork(r: int, marker: bytes) -> int:
    """The sentinel as a fork of guardrun (where it cannot be spawned)."""
    pid = fork()  # quiet about hook threads
    if pid == 0:  # pragma: no cover
        try:
            os.setsid()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)  # guardrun's wake-up pipe is not the sentinel's
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _serve(r, marker)
        finally:
            os._exit(0)
    return pid


class Sentinel:
    def __init__(self, marker: bytes = b"") -> None:
        self.pid: int | None = None
        self._w: int | None = None
        self._last: tuple[int, frozenset[int]] | None = None
        self._marker = marker
        self.spawned = False  # a program of its own (else a fork of guardrun)
        if HAS_START_TIMES:
            self._start(spawn=True)

    def _start(self, spawn: bool) -> None:
        r, w = os.pipe()
        try:
            pid = _spawn(r, self._marker) if spawn else None
            self.spawned = pid is not None
            if pid is None and hasattr(os, "fork"):
                pid = _fork(r, self._marker)
        finally:
            os.close(r)
        if pid is None:
            os.close(w)
            return
        os.set_blocking(w, False)
        self.pid, self._w = pid, w

    def _replaced_if_gone(self) -> None:
        """A sentinel that exited (it could not start, or was killed) is replaced by a
        fork, told the tree anew."""
        if self.pid is None:
            return
        try:
            gone = os.waitpid(self.pid, os.WNOHANG)[0] == self.pid
        except ChildProcessError:
            gone = True
        if gone:
            if self._w is not None:
                os.close(self._w)
            self.pid = self._w = self._last = None
            self._start(spawn=False)

    def update(self, pgid: int, pids: Iterable[int]) -> None:
        """Tell the sentinel the tree's members (sent only when they changed)."""
        if self._w is None:
            return
        key = (pgid, frozenset(pids))
        if key == self._last:
            return
        self._replaced_if_gone()
        if self._w is None:
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
