"""The caller's terminal: raw mode while a child draws, restored on every way out.

Restoring is idempotent and registered with atexit as a last resort; the
supervisor also restores before printing anything of its own and in its
``finally``. A child killed mid-draw can leave the screen in the alternate
buffer with the cursor hidden and mouse reporting on: ``reset_modes`` undoes
the common ones before guardrun prints between runs.
"""

from __future__ import annotations

import atexit
import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# Leave the alternate screen, show the cursor, stop mouse reporting and
# bracketed paste, pop the kitty keyboard mode, reset colours.
RESET_MODES = (
    b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
    b"\x1b[?2004l\x1b[?1004l\x1b[<u\x1b[0m"
)


class Terminal:
    """The caller's terminal settings, saved at the start and put back on the way out.

    ``termios`` and ``tty`` are imported by the methods (a lookup after the first): a
    start with no terminal, as under ``--no-pty``, loads neither."""

    def __init__(self, fd: int) -> None:
        import termios

        self.fd = fd
        self.saved: list[Any] | None = termios.tcgetattr(fd)
        self.raw_on = False
        atexit.register(self.restore)

    def raw(self) -> None:
        import termios
        import tty

        if not self.raw_on:
            tty.setraw(self.fd, termios.TCSANOW)
            self.raw_on = True

    def resave(self) -> None:
        """Take the terminal's settings now as the ones to restore (after ``fg``: the
        shell may have changed them while guardrun was stopped)."""
        import termios

        if not self.raw_on:
            try:
                self.saved = termios.tcgetattr(self.fd)
            except termios.error:
                pass

    def cbreak(self) -> None:
        """Keys one at a time, with echo off and Ctrl-C still a signal (countdowns)."""
        import termios
        import tty

        self.restore()
        tty.setcbreak(self.fd, termios.TCSANOW)
        self.raw_on = True  # not the saved settings: restore() must run

    def restore(self) -> None:
        import termios

        if self.raw_on and self.saved is not None:
            try:
                # TCSANOW, not TCSADRAIN: draining waits, without end, for a terminal that
                # has stopped reading; the kernel applies output processing as each byte is
                # written, so what it holds already is unchanged by the switch.
                termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)
            except termios.error:
                pass
            self.raw_on = False

    def close(self) -> None:
        self.restore()
        atexit.unregister(self.restore)


HANGUP = "the terminal hung up"  # the reason of the stop that follows (exit 129)


def hung_up(fd: int) -> bool:
    """Whether the terminal on ``fd`` has hung up: its other side (the terminal window,
    ssh, the PTY master) is gone, and the kernel answers EIO to every request. False for
    a terminal that is there and for what is not a terminal (ENOTTY)."""
    import termios

    try:
        termios.tcgetattr(fd)
    except termios.error as err:
        return bool(err.args and err.args[0] == errno.EIO)
    except (OSError, ValueError):
        return False
    return False


def reset_modes(fd: int) -> None:
    try:
        os.write(fd, RESET_MODES)
    except OSError:
        pass
