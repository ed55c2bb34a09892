"""The cooldown between two child runs, shown as a live one-line countdown.

Enter (or SIGUSR1) restarts now; ``q``, Ctrl-C or a stop signal quits guardrun.
The terminal is in cbreak mode meanwhile (keys one at a time, Ctrl-C still a
signal), and the line is transient: it disappears when the child comes back.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import TYPE_CHECKING

from guardrun.supervisor.signals import Signals
from guardrun.supervisor.terminal import Terminal

if TYPE_CHECKING:
    from typing import Any


def countdown(
    seconds: float,
    label: str,
    term: Terminal | None,
    signals: Signals,
    quiet: bool = False,
) -> bool:
    """Wait ``seconds``; True to go ahead with the restart, False to quit."""
    if seconds <= 0:
        return True
    keys = term is not None and os.isatty(0)
    live: Any = None
    if not quiet and os.isatty(2):
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        def line(left: float) -> Text:
            hint = " — Enter: now, q: quit" if keys else ""
            return Text.assemble(
                ("guardrun: ", "bold cyan"), f"{label} in {left:.0f}s", (hint, "dim")
            )

        live = Live(line(seconds), console=Console(stderr=True), transient=True, auto_refresh=False)
        live.start()
    elif not quiet:
        sys.stderr.write(f"guardrun: {label} in {seconds:.0f}s\n")
        sys.stderr.flush()
    if keys:
        assert term is not None
        term.cbreak()
    wake_r = signals.wake_fd
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            fds = [wake_r] + ([0] if keys else [])
            ready, _, _ = select.select(fds, [], [], min(left, 0.25))
            if wake_r in ready:
                try:
                    while os.read(wake_r, 512):
                        pass
                except OSError:
                    pass
            if 0 in ready:
                try:
                    key = os.read(0, 64)
                except OSError:  # EIO: the terminal hung up; quit (the caller says 129)
                    key = b""
                if not key or key[:1] in (b"q", b"Q", b"\x03"):
                    return False
                if key[:1] in (b"\r", b"\n"):
                    return True
            for _sig, what in signals.take():  # the run loop's table: same meaning here
                if what == "stop":
                    return False
                if what == "restart":
                    return True
                if what == "suspend":  # Ctrl-Z at the countdown (cbreak: ISIG is on)
                    _suspend(term if keys else None)
            if live is not None:
                live.update(line(left), refresh=True)
    finally:
        if live is not None:
            try:
                live.stop()
            except OSError:
                pass  # the terminal hung up
        if keys and term is not None:
            term.restore()


def _suspend(term: Terminal | None) -> None:
    """Stop guardrun (the shell shows the job stopped); on ``fg`` the countdown goes on."""
    import signal

    from guardrun.supervisor.jobs import stop_self

    if term is not None:
        term.restore()
    stop_self(signal.SIGTSTP)
    if term is not None:
        term.cbreak()
