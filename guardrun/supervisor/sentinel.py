"""A watchdog that ends the tree when guardrun itself is SIGKILLed.

A SIGKILLed guardrun runs no cleanup. The PTY hangs up (SIGHUP to the child's
foreground group) and the child gets its parent-death signal, but a daemon that
double-forked into a session of its own (an MCP server) sees neither, and it
was guardrun, the subreaper, that held it. So guardrun starts this small
process (when its loop first waits on a child that still runs: ``Parts.start_sentinel``;
its own start beside guardrun's slowed guardrun's) in a session of its own, with
nothing open but a pipe, and
sends it the tree's membership (pid and start time, so a reused pid is never
hit) whenever it changes. Members born since the last sample are found by the
marker every process of the tree inherits in its environment. EOF without a
"done" line means guardrun died: the sentinel sends SIGTERM to the last known
tree, waits a short grace, then SIGKILL.
Wherever the platform gives start times (not Windows).

The sentinel is a program of its own, started by ``posix_spawn``: ``python -I -S``
running ``sentinel_program.main``, in a new session, stdio on /dev/null, the pipe's read end the
only other descriptor, an empty environment (so it carries no marker). A fork of
guardrun would do the same work, but after a fork every page guardrun writes is
first copied (about a thousand page faults a start: docs/benchmarks.md), and a
forked copy of a Python process that goes on running Python inherits whatever
locks other threads held. The spawned interpreter starts on another core while
guardrun goes on (its start's CPU is its own, once per run), and holds about the
memory the forked copy came to hold (docs/benchmarks.md). Where it cannot be spawned (no
interpreter path, no ``posix_spawn`` with a new session) it is forked, as before; one
that dies is replaced by a fork at the next update. What runs in the sentinel lives in
``sentinel_program.py``, which imports only what it uses (no ``typing``, ``json``,
``re``, nor this module or ``child``): it starts in about the time of a bare ``python -I
-S`` (docs/benchmarks.md, measured by benchmarks/bench_sentinel.py), and so reads
guardrun's "done" before guardrun exits.

The dead man's switch. guardrun's loop can also stop without dying: SIGSTOP, a
debugger, a hung system call, a bug that spins. So the loop writes the time of each
sample (``time.monotonic``, the same clock for every process) into a page it shares
with the sentinel (a ``memfd``, else an unlinked file): one 8-byte ``pwrite`` per
sample (~1 us), nothing for the sentinel to wake up for. Once armed (``arm``: the
emergency threshold, the metric and probe, where to write: a dict in ``marshal``'s
format, ``sentinel_program.arm_line``), the sentinel reads the
page (``pread``) when the last beat it read would turn stale (one wake-up per stale
time while the loop samples); when the loop has not sampled for ``max(5 s, 10 intervals)`` it
reads the tree's memory itself and, at or over emergency, stops the tree (SIGTERM,
grace, SIGKILL), appends a ``sentinel_stopped`` event to the run's event log and
leaves a record beside it (``<run-id>.sentinel.json``, shown by the next start and
``guardrun report``) and in the run's live file (shown by ``guardrun status``). A
zero in the page means guardrun is between samples on purpose (stopping the tree
itself, or stopped with its own watch under job control): the sentinel waits.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from guardrun.platform import HAS_START_TIMES, start_time
from guardrun.platform.signums import signal
from guardrun.supervisor.child import RESET_SIGNALS, fork
from guardrun.supervisor.sentinel_program import BEAT_SIZE, arm_line, serve

if TYPE_CHECKING:
    from collections.abc import Iterable

STALE_MIN = 5.0  # seconds without a sample before the sentinel looks (and 10 intervals)
STALE_INTERVALS = 10


# The spawned sentinel's program. Its arguments: the sys.path to take (guardrun's, the
# directory above the package first, for an editable install), the marker, the path
# separator, the pipe's descriptor, the heartbeat page's descriptor (-1: none).
BOOT = (
    "import sys; sys.path[:0] = sys.argv[1].split(sys.argv[3]);"
    "from guardrun.supervisor.sentinel_program import main; main()"
)


def _path() -> str:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join([here, *(p for p in sys.path if p and p != here)])


def argv(r: int, marker: bytes, beat: int = -1) -> list[str]:
    """The spawned sentinel's command line (tests run it as it is, with a probe of theirs)."""
    flags = ["-I", "-S", *(["-B"] if sys.flags.dont_write_bytecode else [])]  # -I drops env
    exe = sys.executable
    return [exe, *flags, "-c", BOOT, _path(), marker.decode(), os.pathsep, str(r), str(beat)]


def _spawn(r: int, marker: bytes, beat: int = -1) -> int | None:
    """The sentinel started as a program of its own; None where that cannot be done."""
    exe = sys.executable
    if not exe or getattr(sys, "frozen", False) or not hasattr(os, "posix_spawn"):
        return None  # no interpreter to start (a frozen guardrun's executable is itself)
    null = os.open(os.devnull, os.O_RDWR)
    os.set_inheritable(r, True)  # the caller closes it once the sentinel has it
    if beat >= 0:
        os.set_inheritable(beat, True)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
        return os.posix_spawn(
            exe, argv(r, marker, beat), {}, file_actions=actions, setsid=True, setsigmask=(),
            setsigdef=RESET_SIGNALS,
        )  # fmt: skip
    except (OSError, NotImplementedError, ValueError):
        return None
    finally:
        os.close(null)
        if beat >= 0:
            os.set_inheritable(beat, False)  # hooks and children never get it


def _fork(r: int, marker: bytes, beat: int = -1) -> int:
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
            serve(r, marker, beat)
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
        self._beat_fd = -1
        self._buf = bytearray(BEAT_SIZE)  # one double, written with pwrite
        self._double = memoryview(self._buf).cast("d")
        self._armed = b""  # the "A" line, sent again to a replacement
        if HAS_START_TIMES:
            self._beat_fd = _beat_page()
            self._start(spawn=True)

    def _start(self, spawn: bool) -> None:
        r, w = os.pipe()
        try:
            pid = _spawn(r, self._marker, self._beat_fd) if spawn else None
            self.spawned = pid is not None
            if pid is None and hasattr(os, "fork"):
                pid = _fork(r, self._marker, self._beat_fd)
        finally:
            os.close(r)
        if pid is None:
            os.close(w)
            return
        os.set_blocking(w, False)
        self.pid, self._w = pid, w

    # ------------------------------------------------------- the dead man's switch
    def arm(self, interval: float, emergency: int, **where: object) -> None:
        """Let the sentinel stop the tree at ``emergency`` bytes when the loop has not
        sampled for ``max(STALE_MIN, STALE_INTERVALS * interval)``; ``where``: metric,
        probe, grace, run_id, event_log, record, live (paths for what it leaves)."""
        if self._beat_fd < 0:
            return
        conf = {"stale_s": max(STALE_MIN, STALE_INTERVALS * interval), "emergency": emergency,
                "pid": os.getpid(), **where}  # fmt: skip
        self._armed = arm_line(conf)
        self._write(self._armed)

    def beat(self) -> None:
        """The loop sampled: one ``pwrite`` of 8 bytes into the shared page (~1 us)."""
        self._put(time.monotonic())

    def pause(self) -> None:
        """Between samples on purpose (guardrun stops the tree itself, or is stopped with
        its own watch): the sentinel waits for the next beat."""
        self._put(0.0)

    def _put(self, value: float) -> None:
        if self._beat_fd >= 0:
            self._double[0] = value
            try:
                os.pwrite(self._beat_fd, self._buf, 0)
            except OSError:
                pass

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
            if self._armed:
                self._write(self._armed)

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
        self.pause()
        if self._w is None:
            return
        os.set_blocking(self._w, True)
        self._write(b"done\n")
        os.close(self._w)
        self._w = None
        if self.pid is not None:
            # Reaped if it is already gone; otherwise not waited for (a wait would be on
            # every exit): it exits on "done", and once guardrun has exited init reaps it.
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _beat_page() -> int:
    """The shared page of the heartbeat: a memfd (Linux), else an unlinked file; -1
    where neither can be made."""
    fd = -1
    try:
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("guardrun-heartbeat", os.MFD_CLOEXEC)
        else:
            import tempfile

            fd, path = tempfile.mkstemp(prefix=".guardrun-beat-")
            os.unlink(path)
        os.pwrite(fd, bytes(BEAT_SIZE), 0)  # 0.0: paused until the first sample
        return fd
    except OSError:
        if fd >= 0:
            os.close(fd)
        return -1
