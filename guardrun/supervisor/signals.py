"""Signals to guardrun: one table of signal -> named handler, and the wake-up pipe.

Handlers only record the signal (uvicorn's supervisors do the same); the loop that
owns the pipe wakes, takes the pending signals and calls the handler named in the
table. The same table serves the run loop and the cooldown countdown, so a signal
means the same thing in both.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from guardrun.platform.signums import signal, signal_name

if TYPE_CHECKING:
    from types import FrameType

# signal -> the name of what it asks for (the run loop has a handler per name).
TABLE: dict[int, str] = {
    signal.SIGCHLD: "child",  # a child or an adopted orphan changed state
    signal.SIGWINCH: "resize",  # the caller's window changed size
    signal.SIGTERM: "stop",  # stop the tree gracefully, save, exit with its status
    signal.SIGHUP: "stop",
    signal.SIGINT: "stop",  # Ctrl-C that reached guardrun, not the child's terminal
    signal.SIGUSR1: "restart",  # restart now, through restart protection
    signal.SIGUSR2: "capture",  # save state now
    signal.SIGCONT: "continued",  # fg/bg after guardrun stopped with the child (jobs.py)
    signal.SIGTSTP: "suspend",  # stop the child; guardrun follows once it has stopped
}
# Signals guardrun has no use for go on to the child's process group, as tini and
# dumb-init pass them on: the default action of most would end guardrun itself (exit
# 128+N, no capture, the child left a hang-up), and those that do nothing by default
# (SIGURG) would be lost. SIGCONT is forwarded too when guardrun is not stopped with the
# child. SIGTTIN and SIGTTOU keep their default: the kernel sends them to a background
# guardrun that touches its terminal, and stopping is the answer (a handler would loop).
FORWARDED = tuple(
    sig
    for name in (
        "SIGQUIT",
        "SIGALRM",
        "SIGVTALRM",
        "SIGPROF",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGPWR",
        "SIGURG",
        "SIGTRAP",
        "SIGSYS",
        "SIGIO",
        "SIGWINCH",
    )  # fmt: skip
    if (sig := getattr(signal, name, None)) is not None and sig not in TABLE
)
TABLE.update(dict.fromkeys(FORWARDED, "forward"))


def name_of(sig: int) -> str:
    return signal_name(sig)


class Signals:
    """Installs the table's handlers and the wake-up fd; ``restore()`` undoes both."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.wake_fd = -1
        self._write_fd = -1

    def install(self) -> None:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self.wake_fd, self._write_fd = r, w
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in TABLE:
            signal.signal(sig, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)

    def take(self) -> list[tuple[int, str]]:
        """The signals received since the last call, oldest first, with their names."""
        # The handler appends to this very list: take in place, never rebind.
        got = self.pending[:]
        del self.pending[: len(got)]
        return [(sig, TABLE.get(sig, "")) for sig in got]

    def restore(self) -> None:
        if self.wake_fd < 0:
            return
        signal.set_wakeup_fd(-1)
        for sig in TABLE:
            signal.signal(sig, signal.SIG_DFL)
        for fd in (self.wake_fd, self._write_fd):
            os.close(fd)
        self.wake_fd = self._write_fd = -1
