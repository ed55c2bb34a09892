"""Job control: when the agent stops (Ctrl-Z), guardrun stops with it; ``fg`` brings
both back, as ``sudo`` does with a pseudo-terminal.

The agent's stop is reported by its monitor (``child.py``). guardrun then does what the
kernel would do had the stop been sent to guardrun itself: a stop signal (SIGTSTP,
SIGTTIN, SIGTTOU) sent to an *orphaned* process group is discarded, so when guardrun's
own group is orphaned (PID 1 in a container, a session leader under tmux or a process
manager: nobody could ``fg`` it) the agent is continued at once, as Ctrl-Z on plain
``claude`` would do nothing there. Otherwise the caller's terminal modes are put back
and guardrun stops itself with the same signal, so the user's shell shows the job as
stopped. On SIGCONT in the terminal's foreground (``fg``) guardrun takes the terminal
back and continues the agent's group; in the background (``bg``) the agent stays
stopped and guardrun keeps watching until ``fg``.

While guardrun itself is stopped, a forked watcher (a copy of guardrun that only
samples the tree) keeps the memory watch running; the agent's group is stopped, but
what it started in groups of its own (MCP servers, daemons) is not. At emergency the
watcher wakes guardrun, which saves the state and stops the tree from the background;
the restart waits for ``fg``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.platform import parent_death_signal, parent_of
from guardrun.platform.signums import signal
from guardrun.supervisor.child import fork

if TYPE_CHECKING:
    from collections.abc import Callable

# The stops that job control sends; SIGSTOP (a person or a debugger) is never discarded.
JOB_STOPS = frozenset({signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_ANCESTORS = 64  # how far up the process tree to look for the group's outside parent


def group_orphaned(parent: Callable[[int], int | None] = parent_of) -> bool:
    """Whether guardrun's process group is orphaned: no member has a parent in another
    group of the same session (POSIX). Looked for up guardrun's own ancestry (a job's
    shell started it, or started what started it in the same group)."""
    pgrp, sid = os.getpgrp(), os.getsid(0)
    ppid: int | None = os.getppid()
    for _ in range(_ANCESTORS):
        if not ppid:
            return True  # no parent (PID 1 in its namespace)
        try:
            if os.getpgid(ppid) != pgrp:
                return os.getsid(ppid) != sid
        except OSError:
            return True  # the parent is gone or hidden: nobody to continue us
        ppid = parent(ppid)
    return True


def in_foreground(fd: int = 0) -> bool:
    """Whether guardrun's group is the foreground of the terminal on ``fd``; True when
    ``fd`` is not a terminal (then nothing competes for it)."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return not os.isatty(fd)


def stop_self(sig: int) -> None:
    """Stop guardrun with ``sig``; returns once it is continued (SIGCONT). The signal's
    default action is the stop: a handler guardrun has for it (SIGTSTP) steps aside."""
    if sig == signal.SIGSTOP:
        os.kill(os.getpid(), sig)
        return
    old = signal.signal(sig, signal.SIG_DFL)
    try:
        os.kill(os.getpid(), sig)
    finally:
        signal.signal(sig, old)


class StoppedWatch:
    """The watcher forked while guardrun is stopped: it samples the tree every
    ``interval`` seconds and, at ``limit`` bytes or when the tree can no longer be read,
    wakes guardrun (SIGCONT) and exits. It writes nothing and never signals the tree."""

    def __init__(self) -> None:
        self.pid: int | None = None

    def start(self, total: Callable[[], int | None], limit: int, interval: float) -> None:
        guardrun = os.getpid()
        death = parent_death_signal(signal.SIGKILL)
        self.pid = fork()  # quiet about hook threads (child.fork)
        if self.pid:
            return
        try:  # pragma: no cover - runs in the fork, measured by the e2e tests
            signal.set_wakeup_fd(-1)  # guardrun's wake-up pipe is not this process's
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGCONT):
                signal.signal(sig, signal.SIG_DFL)
            if death is not None:
                death()
            while True:
                time.sleep(interval)
                value = total()
                if value is None or value >= limit:
                    os.kill(guardrun, signal.SIGCONT)
                    break
        finally:
            os._exit(0)

    def end(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.pid = None
