"""Job control as the run loop does it: the child stopped (Ctrl-Z) or was continued,
guardrun stops with it and comes back, and a restart due in the background waits for
``fg``. The mechanics (orphaned groups, stopping guardrun, the watcher forked while it
is stopped) are ``jobs``'; here is what the loop makes of them.

A stopped child is neither idle nor quiet for the ``Decider``; only emergency acts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from guardrun.platform.signums import signal
from guardrun.supervisor.child import Child, give_foreground, window_size
from guardrun.supervisor.signals import name_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from guardrun.supervisor.jobs import StoppedWatch
    from guardrun.supervisor.ports import Teller
    from guardrun.supervisor.relay import Relay
    from guardrun.supervisor.status import RunStatus
    from guardrun.supervisor.terminal import Terminal
    from guardrun.ui import Reporter


class JobControl:
    def __init__(
        self,
        name: str,
        relay: Relay,
        ui: Reporter,
        teller: Teller,
        status: Callable[[], RunStatus],
        event: Callable[..., None],
        interval: float,
    ) -> None:
        self.name = name
        self.relay = relay
        self.ui = ui
        self.obs = teller
        self.status = status
        self.event = event
        self.interval = interval
        self.term: Terminal | None = None  # the caller's terminal, when guardrun has a PTY
        self.suspended = False  # guardrun followed the child's stop and has not continued it
        self.seen_stop: int | None = None  # the stop last acted on
        self.watcher: StoppedWatch | None = None  # the watch while guardrun is stopped
        self.pause_watchdog: Callable[[], None] = lambda: None  # set by the run's parts

    def new_child(self) -> None:
        self.suspended, self.seen_stop = False, None

    def changed(
        self,
        child: Child,
        measure: Callable[[Child], tuple[Callable[[], int | None], int] | None],
    ) -> None:
        """The child stopped or was continued (its monitor or ``waitpid`` says)."""
        from guardrun.supervisor import jobs  # a stop is rare: not on the start path

        sig = self.seen_stop = child.stopped
        self.obs.update_live(self.status(), force=True)  # `status` says so; budgets skip it
        if sig is None:
            if self.suspended:  # continued by someone else: the job is guardrun's again
                self.suspended = False
            self.event("child_continued")
            return
        self.event("child_stopped", signal=name_of(sig))
        if not jobs.group_orphaned():
            self._suspend(child, sig, measure(child))
        elif sig in jobs.JOB_STOPS:
            # The kernel would discard this stop sent to guardrun's orphaned group (PID 1,
            # a session leader): nobody could continue the job. So does guardrun.
            self.ui.detail(f"{self.name} stopped ({name_of(sig)}) with no job control: continued")
            child.killpg(signal.SIGCONT)

    def _suspend(
        self, child: Child, sig: int, watch: tuple[Callable[[], int | None], int] | None
    ) -> None:
        """Stop guardrun with the child's signal, so that the shell shows the job stopped;
        returns once guardrun is continued."""
        from guardrun.supervisor import jobs

        self.suspended = True
        self.pause_watchdog()  # stopped on purpose: its own watch wakes it at emergency
        self.obs.suspended()  # the caller's title back, queued
        self.relay.flush(force=True)
        if self.term is not None:
            self.term.restore()
        self.obs.update_live(self.status(), force=True)
        if self.watcher is None:
            self.watcher = jobs.StoppedWatch()
        if watch is not None:
            total, emergency = watch
            self.watcher.start(total, emergency, self.interval)
        self.ui.set_drawing(False)
        jobs.stop_self(sig)
        self.watcher.end()
        self.resume(child)

    def resume(self, child: Child) -> None:
        """In the terminal's foreground: take the terminal back and continue the child.
        In the background (``bg``, or woken at emergency): the child stays stopped and
        guardrun watches, without the terminal's keys, until ``fg``."""
        from guardrun.supervisor import jobs

        if child.status is not None:
            self.suspended = False
            return
        if not jobs.in_foreground(0):
            self.relay.listen_keys(False)
            return
        self.suspended = False
        if self.term is not None:
            self.term.resave()  # what the shell left is what to put back at the end
            self.term.raw()
            self.ui.set_drawing(True)
        elif os.isatty(0):
            give_foreground(0, child.pgid)
        self.relay.listen_keys(True)
        resize(child)
        child.killpg(signal.SIGCONT)

    def wait_foreground(self, settle: Callable[[], None]) -> None:
        """A restart due while guardrun runs in the background waits for ``fg``: the new
        child draws on the caller's terminal. The kernel stops a background job that
        writes its terminal's modes; guardrun asks for that stop itself, before spawning,
        once ``settle`` returns (the states begun are written: a stopped guardrun's
        capture thread is stopped too, maybe until a ``fg`` that never comes)."""
        if self.term is None:
            return  # no PTY: a background child is stopped by the kernel, and guardrun follows
        from guardrun.supervisor import jobs

        while not jobs.in_foreground(0):
            if jobs.group_orphaned():
                return
            settle()
            self.ui.info(f"{self.name} restarts when guardrun is in the foreground again (fg)")
            jobs.stop_self(signal.SIGTTOU)


def resize(child: Child) -> None:
    """The caller's window size, to the child's PTY."""
    size = window_size(0)
    if size is not None and child.master_fd is not None:
        import fcntl
        import termios

        try:
            fcntl.ioctl(child.master_fd, termios.TIOCSWINSZ, size)
        except OSError:
            pass
