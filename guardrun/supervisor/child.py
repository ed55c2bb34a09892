"""Spawn the command under a PTY or with inherited stdio, wait for it, stop its tree.

Spawning is a plain fork+exec so that everything the child needs happens in one
place between the two: a new session with the PTY as controlling terminal (PTY
mode) or its own process group (inherited stdio), the caller's window size,
default signal dispositions (Python ignores SIGPIPE and the child must not
inherit that), a parent-death signal on Linux, and exec errors sent back over a
close-on-exec pipe so they are raised in the parent, as ptyprocess does.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import termios
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

from guardrun.errors import CommandNotExecutable, CommandNotFound, GuardrunError
from guardrun.platform import parent_death_signal

# Signals whose disposition the child must get back at its defaults.
_RESET = [
    s
    for s in (
        "SIGPIPE",
        "SIGXFSZ",
        "SIGINT",
        "SIGQUIT",
        "SIGTERM",
        "SIGHUP",
        "SIGUSR1",
        "SIGUSR2",
        "SIGWINCH",
        "SIGCHLD",
        "SIGTTOU",
        "SIGTTIN",
        "SIGTSTP",
        "SIGALRM",
    )
    if hasattr(signal, s)
]


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N for signal N."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WSTOPSIG(status)


def _pdeathsig() -> Callable[[], object] | None:
    """A prepared parent-death signal for the forked child, or None where there is none.
    SIGHUP: what a hung-up terminal would send. The sentinel escalates to SIGKILL."""
    return parent_death_signal(signal.SIGHUP)


class Child:
    def __init__(
        self, argv: list[str], pid: int, master_fd: int | None, started: float, started_wall: float
    ) -> None:
        self.argv = argv
        self.pid = pid
        self.master_fd = master_fd
        self.started = started  # time.monotonic()
        self.started_wall = started_wall  # time.time()
        self.status: int | None = None  # raw wait status once reaped
        self.signals_sent: list[int] = []

    @property
    def pgid(self) -> int:
        return self.pid  # session or group leader by construction

    @property
    def returncode(self) -> int | None:
        return None if self.status is None else exit_code(self.status)

    def poll(self) -> int | None:
        """Reap the child if it has exited; its exit code (128+N for a signal) or None."""
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 255 << 8  # reaped elsewhere: status unknown
            if pid == 0:
                return None
            self.status = status
        return self.returncode

    def term_signal(self) -> int | None:
        if self.status is not None and os.WIFSIGNALED(self.status):
            return os.WTERMSIG(self.status)
        return None

    def killpg(self, sig: int) -> None:
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        if self.master_fd is not None:
            try:
                os.close(self.master_fd)
            except OSError:
                pass
            self.master_fd = None


def spawn(
    argv: Sequence[str],
    *,
    use_pty: bool,
    env: Mapping[str, str],
    cwd: str | None = None,
    winsize: bytes | None = None,
    foreground_fd: int | None = None,
) -> Child:
    """Start ``argv``. PTY mode gives it a new session on a fresh PTY; else its own group.

    ``foreground_fd``: in inherited-stdio mode with a terminal on stdin, make the
    child's group the terminal's foreground group, as a shell does, so it can
    read keys and gets Ctrl-C itself.
    """
    argv = list(argv)
    if not argv:
        raise GuardrunError("no command to run")
    if not argv[0]:
        raise CommandNotFound("command not found: '' (the command name is empty)")
    master = slave = None
    if use_pty:
        master, slave = os.openpty()
        if winsize is not None:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
        os.set_inheritable(master, False)
    pdeath = _pdeathsig()
    r, w = os.pipe2(os.O_CLOEXEC) if hasattr(os, "pipe2") else os.pipe()
    env_b = dict(env)
    with warnings.catch_warnings():
        # Python 3.12+ warns when forking with threads (hook reapers). The child
        # only calls async-signal-safe syscalls before exec.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        try:
            os.close(r)
            if slave is not None:
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                if slave > 2:
                    os.close(slave)
                if master is not None:
                    os.close(master)
            else:
                os.setpgid(0, 0)
                if foreground_fd is not None:
                    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
                    try:
                        os.tcsetpgrp(foreground_fd, os.getpid())
                    except OSError:
                        pass
            for name in _RESET:
                signal.signal(getattr(signal, name), signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            if pdeath is not None:
                pdeath()
            if cwd:
                os.chdir(cwd)
            os.execvpe(argv[0], argv, env_b)
        except OSError as err:
            os.write(w, f"{err.errno}:{err.strerror}".encode())
        except BaseException as err:  # noqa: B036 - anything must reach the parent
            os.write(w, f"0:{err}".encode())
        os._exit(127)
    os.close(w)
    if slave is not None:
        os.close(slave)
    if foreground_fd is not None:
        _set_foreground(foreground_fd, pid)
    try:
        data = b""
        while True:
            chunk = os.read(r, 512)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
    if data:
        os.waitpid(pid, 0)
        if master is not None:
            os.close(master)
        code, _, text = data.decode(errors="replace").partition(":")
        if int(code or 0) == errno.ENOENT:
            raise CommandNotFound(f"command not found: {argv[0]}")
        if int(code or 0) in (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.EPERM):
            raise CommandNotExecutable(f"command not executable: {argv[0]} ({text})")
        raise GuardrunError(f"cannot start {argv[0]}: {text}")
    return Child(argv, pid, master, time.monotonic(), time.time())


def _set_foreground(fd: int, pgid: int) -> None:
    """tcsetpgrp from a process that may be in the background: SIGTTOU must be ignored."""
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        try:
            os.setpgid(pgid, pgid)  # the child does it too; whichever runs first wins
        except OSError:
            pass
        os.tcsetpgrp(fd, pgid)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def take_foreground_back(fd: int) -> None:
    """Make guardrun's own group the terminal's foreground group again."""
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def window_size(fd: int) -> bytes | None:
    """The terminal's TIOCGWINSZ struct, or None when ``fd`` is not a terminal."""
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    except OSError:
        return None
