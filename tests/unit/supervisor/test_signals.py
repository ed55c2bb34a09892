"""signals: one table, handlers only record, the wake-up pipe says that one came."""

from __future__ import annotations

import os
import select
import signal

from guardrun.supervisor.signals import TABLE, Signals, name_of


def test_table_names_what_each_signal_asks_for() -> None:
    assert TABLE[signal.SIGUSR1] == "restart" and TABLE[signal.SIGUSR2] == "capture"
    assert {TABLE[s] for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)} == {"stop"}
    assert TABLE[signal.SIGCHLD] == "child" and TABLE[signal.SIGWINCH] == "resize"
    assert name_of(signal.SIGTERM) == "SIGTERM" and name_of(999) == "999"


def test_signals_are_recorded_in_order_and_wake_the_loop() -> None:
    s = Signals()
    s.install()
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
        ready, _, _ = select.select([s.wake_fd], [], [], 2.0)
        assert ready == [s.wake_fd]
        assert s.take() == [(signal.SIGUSR2, "capture"), (signal.SIGUSR1, "restart")]
        assert s.take() == []
    finally:
        s.restore()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert s.wake_fd == -1
    s.restore()  # twice is harmless


def test_signals_without_a_use_are_forwarded_and_job_control_has_its_own() -> None:
    from guardrun.supervisor.signals import FORWARDED

    for name in ("SIGQUIT", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGURG"):
        assert TABLE[getattr(signal, name)] == "forward"
    # SIGCONT: fg/bg after guardrun stopped with the child (forwarded otherwise);
    # SIGTSTP: stop the child, and guardrun with it.
    assert TABLE[signal.SIGCONT] == "continued" and TABLE[signal.SIGTSTP] == "suspend"
    # The kernel's stops for a background guardrun keep their default: stop.
    for sig in (signal.SIGTTIN, signal.SIGTTOU, signal.SIGKILL, signal.SIGSTOP):
        assert sig not in TABLE and sig not in FORWARDED
    assert TABLE[signal.SIGWINCH] == "resize"  # used, not forwarded as such
