"""Spawn the command under a PTY or with inherited stdio, wait for it, stop its tree.

Spawning is a plain fork+exec so that everything the child needs happens in one
place between the two: its own process group, the caller's window size, default
signal dispositions (Python ignores SIGPIPE and the child must not inherit that), a
parent-death signal on Linux, and exec errors sent back over a close-on-exec pipe
so they are raised in the parent, as ptyprocess does.

Under a PTY the child is not the session leader: a small monitor, forked from
guardrun, leads the PTY's session and is the parent of the child's process group,
as ``sudo`` does with a pseudo-terminal. A group whose every member's parent is
outside its session is *orphaned*, and the kernel discards the stop signals
(SIGTSTP, SIGTTIN, SIGTTOU) sent to it: an agent that suspends itself on Ctrl-Z
(Claude Code calls ``kill(0, SIGTSTP)``) would never stop. With the monitor in the
session the group can stop; the monitor waits for it with ``WUNTRACED`` and reports
each stop, continue and exit over a pipe (then SIGCHLD), so guardrun can stop
itself with the same signal and the user's shell shows the job as stopped.
"""

from __future__ import annotations

import _thread
import errno
import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import CommandNotExecutable, CommandNotFound, GuardrunError
from guardrun.platform import parent_death_signal
from guardrun.platform.signums import signal

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

# Signals whose disposition the child must get back at its defaults (numbers: the
# forked child resets them before exec, posix_spawn is given them as setsigdef).
RESET_SIGNALS = tuple(
    getattr(signal, s)
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
        "SIGCONT",
    )
    if hasattr(signal, s)
)


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
        self,
        argv: list[str],
        pid: int,
        master_fd: int | None,
        started: float,
        started_wall: float,
        monitor: int | None = None,
        reports: int | None = None,
    ) -> None:
        self.argv = argv
        self.pid = pid
        self.master_fd = master_fd
        self.started = started  # time.monotonic()
        self.started_wall = started_wall  # time.time()
        self.status: int | None = None  # raw wait status once reaped
        self.signals_sent: list[int] = []
        self.stopped: int | None = None  # the signal that stopped it, while it is stopped
        self.monitor = monitor  # PTY mode: the session's leader, the child's parent
        self._reports = reports  # ... and the pipe it reports on
        self._partial = b""

    @property
    def pgid(self) -> int:
        return self.pid  # session or group leader by construction

    @property
    def returncode(self) -> int | None:
        return None if self.status is None else exit_code(self.status)

    def poll(self) -> int | None:
        """Take the child's news (stopped, continued, exited); its exit code (128+N for a
        signal) once it has exited, else None."""
        if self.status is None:
            if self._reports is not None:
                self._read_reports()
            else:
                self._wait(self.pid)
        return self.returncode

    def _wait(self, pid: int) -> None:
        while self.status is None:
            try:
                got, status = os.waitpid(pid, os.WNOHANG | os.WUNTRACED | os.WCONTINUED)
            except ChildProcessError:
                got, status = pid, 255 << 8  # reaped elsewhere: status unknown
            if got == 0:
                return
            self._news(status)

    def _news(self, status: int) -> None:
        if os.WIFSTOPPED(status):
            self.stopped = os.WSTOPSIG(status)
        elif os.WIFCONTINUED(status):
            self.stopped = None
        else:
            self.status, self.stopped = status, None

    def _read_reports(self) -> None:
        """The monitor's lines: ``S<sig>`` stopped, ``C`` continued, ``X<status>`` exited."""
        fd = self._reports
        assert fd is not None
        while True:
            try:
                data = os.read(fd, 512)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the monitor is gone
                self._monitor_gone()
                return
            *lines, self._partial = (self._partial + data).split(b"\n")
            for line in lines:
                kind, value = line[:1], line[1:]
                if kind == b"S":
                    self.stopped = int(value)
                elif kind == b"C":
                    self.stopped = None
                elif kind == b"X":
                    self.status, self.stopped = int(value), None
            if self.status is not None:
                self._monitor_gone()
                return

    def _monitor_gone(self) -> None:
        if self._reports is not None:
            os.close(self._reports)
            self._reports = None
        if self.monitor is not None:
            try:
                os.waitpid(self.monitor, 0)  # it exits right after its last report
            except ChildProcessError:
                pass
            self.monitor = None
        if self.status is None:
            # Killed before the child: the child is reparented to guardrun (a subreaper)
            # and waited for directly from now on.
            self._wait(self.pid)

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
        if self._reports is not None and self.status is not None:
            self._monitor_gone()


def fork() -> int:
    """``os.fork()`` without Python 3.12's warning about forking with threads (hook
    reapers): the child only calls async-signal-safe syscalls before exec, or exits.
    With no thread but this one there is nothing to warn of, and ``warnings`` is not
    imported (a start forks the sentinel before any hook runs)."""
    if _thread._count() == 0:  # Python threads besides this one
        return os.fork()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def spawn(
    argv: Sequence[str],
    *,
    use_pty: bool,
    env: Mapping[str, str],
    cwd: str | None = None,
    winsize: bytes | None = None,
    foreground_fd: int | None = None,
) -> Child:
    """Start ``argv``. PTY mode: on a fresh PTY, in a session led by a monitor; else in
    its own process group.

    ``foreground_fd``: in inherited-stdio mode with a terminal on stdin, make the
    child's group the terminal's foreground group, as a shell does, so it can
    read keys and gets Ctrl-C itself.

    Inherited stdio without a terminal to give, in guardrun's own directory and PATH
    (scripts, CI, a container's command): ``posix_spawn``, which execs from a vfork,
    a tenth of what fork, the child's Python and exec take (docs/benchmarks.md; at
    every start and every restart). It cannot ask for the parent-death signal: there the sentinel
    alone ends the tree of a SIGKILLed guardrun (SIGTERM, then SIGKILL).
    """
    argv = list(argv)
    if not argv:
        raise GuardrunError("no command to run")
    if not argv[0]:
        raise CommandNotFound("command not found: '' (the command name is empty)")
    env_b = dict(env)
    if foreground_fd is not None and not _owns(foreground_fd):
        foreground_fd = None  # a background guardrun does not take the shell's terminal
    if (
        not use_pty
        and foreground_fd is None
        and not cwd
        and hasattr(os, "posix_spawnp")
        and env_b.get("PATH") == os.environ.get("PATH")  # the same search as execvpe's
    ):
        return _posix_spawn(argv, env_b)
    pdeath = _pdeathsig()
    r, w = _pipe()
    if use_pty:
        return _spawn_pty(argv, env_b, cwd, winsize, pdeath, r, w)
    pid = fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        try:
            os.close(r)
            os.setpgid(0, 0)
            if foreground_fd is not None:
                signal.signal(signal.SIGTTOU, signal.SIG_IGN)
                try:
                    os.tcsetpgrp(foreground_fd, os.getpid())
                except OSError:
                    pass
            _exec(argv, env_b, cwd, pdeath)
        except BaseException as err:  # noqa: B036 - anything must reach the parent
            _report_error(w, err)
        os._exit(127)
    os.close(w)
    if foreground_fd is not None:
        give_foreground(foreground_fd, pid)
    data = _read_all(r)
    if data:
        os.waitpid(pid, 0)
        _raise_exec_error(argv[0], data)
    return Child(argv, pid, None, time.monotonic(), time.time())


def _posix_spawn(argv: list[str], env: dict[str, str]) -> Child:
    """The child in a process group of its own, the signals guardrun handles or ignores
    back to their defaults, none blocked: what ``_exec`` does after a fork."""
    try:
        pid = os.posix_spawnp(
            argv[0], argv, env, setpgroup=0, setsigmask=(), setsigdef=RESET_SIGNALS
        )
    except OSError as err:  # the exec's own error, as the forked child reports it
        _raise_exec_error(argv[0], f"{err.errno}:{err.strerror}".encode())
        raise  # pragma: no cover - _raise_exec_error always raises
    return Child(argv, pid, None, time.monotonic(), time.time())


def _spawn_pty(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    winsize: bytes | None,
    pdeath: Callable[[], object] | None,
    r: int,
    w: int,
) -> Child:
    import fcntl  # here, before the fork: a start without a terminal needs neither
    import termios

    master, slave = os.openpty()
    if winsize is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
    os.set_inheritable(master, False)
    reports_r, reports_w = _pipe()
    guardrun = os.getpid()
    monitor_death = parent_death_signal(signal.SIGKILL)
    monitor = fork()
    if monitor == 0:  # pragma: no cover - the monitor; its errors reach the parent
        try:
            os.close(r)
            os.close(reports_r)
            os.close(master)
            _monitor(argv, env, cwd, pdeath, monitor_death, slave, w, reports_w, guardrun)
        except BaseException as err:  # noqa: B036 - anything must reach the parent
            _report_error(w, err, b"\0")
        os._exit(127)
    for fd in (w, reports_w, slave):
        os.close(fd)
    # The monitor writes "P<pid>\n"; the child (or the monitor) an error ending in NUL.
    # Each is one write under PIPE_BUF, so they arrive whole, in either order.
    data, pid, error = _read_all(r), 0, b""
    while data:
        if data.startswith(b"P") and b"\n" in data:
            line, _, data = data.partition(b"\n")
            pid = int(line[1:])
        else:
            error, _, data = data.partition(b"\0")
    if error or not pid:
        os.close(master)
        os.close(reports_r)
        os.waitpid(monitor, 0)  # it reports the failed child's exit and ends
        _raise_exec_error(argv[0], error or b"0:the monitor could not start the command")
    os.set_blocking(reports_r, False)
    return Child(argv, pid, master, time.monotonic(), time.time(), monitor, reports_r)


# What the monitor ignores: the PTY's hangup when guardrun closes its side (it must
# live to report the child's exit), the keys' signals and job control; SIGKILL and its
# parent's death end it. What the child (or anyone) sends the child's parent is meant
# for guardrun and goes there: `kill -USR1 $PPID` from the agent's shell restarts it,
# SIGTERM stops the tree, and the signals guardrun forwards reach the child's group.
_MONITOR_IGNORES = [
    getattr(signal, s) for s in ("SIGHUP", "SIGINT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGCONT")
]
_MONITOR_PASSES = [
    getattr(signal, s)
    for s in ("SIGTERM", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGALRM", "SIGPWR", "SIGURG")
    if hasattr(signal, s)
]


def _monitor(  # pragma: no cover - runs in the forked monitor
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    pdeath: Callable[[], object] | None,
    own_death: Callable[[], object] | None,
    slave: int,
    w: int,
    reports: int,
    guardrun: int,
) -> None:
    """Lead the PTY's session, start the command in a group of its own as the PTY's
    foreground, then wait for it and report what happens to it, until it exits."""
    signal.set_wakeup_fd(-1)  # guardrun's wake-up pipe is not this process's
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    for sig in _MONITOR_IGNORES:
        signal.signal(sig, signal.SIG_IGN)

    def pass_on(got: int, _frame: object) -> None:
        try:
            os.kill(guardrun, got)
        except OSError:
            pass

    for sig in _MONITOR_PASSES:
        signal.signal(sig, pass_on)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if own_death is not None:
        own_death()
    import fcntl  # imported by _spawn_pty before the fork: found in sys.modules
    import termios

    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reports)
            os.setpgid(0, 0)
            try:
                os.tcsetpgrp(slave, os.getpid())  # SIGTTOU is ignored here
            except OSError:
                pass
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            _exec(argv, env, cwd, pdeath)
        except BaseException as err:  # noqa: B036 - anything must reach the parent
            _report_error(w, err, b"\0")
        os._exit(127)
    try:
        os.setpgid(pid, pid)  # the child does it too; whichever runs first wins
    except OSError:
        pass
    os.write(w, b"P%d\n" % pid)
    os.close(w)
    os.close(slave)  # the PTY closes when the child's side does, not when the monitor's
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)  # not the caller's terminal
    os.dup2(reports, 3)
    os.closerange(4, 1 << 16)  # guardrun's files: the log, the live file, probes, pipes
    flags = os.WUNTRACED | os.WCONTINUED
    while True:
        try:
            _, status = os.waitpid(pid, flags)
        except ChildProcessError:
            status = 255 << 8
        if os.WIFSTOPPED(status):
            line = b"S%d\n" % os.WSTOPSIG(status)
        elif os.WIFCONTINUED(status):
            line = b"C\n"
        else:
            line = b"X%d\n" % status
        try:
            os.write(3, line)
            os.kill(guardrun, signal.SIGCHLD)  # wakes guardrun's loop, which reads the line
        except OSError:
            pass
        if line[:1] == b"X":
            os._exit(0)


def _exec(  # pragma: no cover - runs in the child
    argv: list[str], env: dict[str, str], cwd: str | None, pdeath: Callable[[], object] | None
) -> None:
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if pdeath is not None:
        pdeath()
    if cwd:
        os.chdir(cwd)
    os.execvpe(argv[0], argv, env)


def _report_error(  # pragma: no cover - in the child
    w: int, err: BaseException, end: bytes = b""
) -> None:
    text = f"{err.errno}:{err.strerror}" if isinstance(err, OSError) else f"0:{err}"
    try:
        os.write(w, text.encode().replace(b"\0", b" ") + end)
    except OSError:
        pass


def _pipe() -> tuple[int, int]:
    return os.pipe2(os.O_CLOEXEC) if hasattr(os, "pipe2") else os.pipe()


def _read_all(fd: int) -> bytes:
    data = b""
    try:
        while True:
            chunk = os.read(fd, 512)
            if not chunk:
                return data
            data += chunk
    finally:
        os.close(fd)


def _raise_exec_error(name: str, data: bytes) -> None:
    code, _, text = data.decode(errors="replace").partition(":")
    number = int(code) if code.isdigit() else 0
    if number == errno.ENOENT:
        raise CommandNotFound(f"command not found: {name}")
    if number in (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.EPERM):
        raise CommandNotExecutable(f"command not executable: {name} ({text})")
    raise GuardrunError(f"cannot start {name}: {text}")


def give_foreground(fd: int, pgid: int) -> None:
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


def take_foreground_back(fd: int, pgid: int) -> None:
    """Make guardrun's own group the terminal's foreground group again, if the child's
    group ``pgid`` has it (not when the shell took it back: guardrun is a background job)."""
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        if os.tcgetpgrp(fd) == pgid:
            os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, old)


def _owns(fd: int) -> bool:
    """Whether guardrun's group is the foreground of the terminal on ``fd``."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


def window_size(fd: int) -> bytes | None:
    """The terminal's TIOCGWINSZ struct, or None when ``fd`` is not a terminal."""
    import fcntl  # here: a start without a terminal has no use for them
    import termios

    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8))  # struct winsize: 4 shorts
    except OSError:
        return None
