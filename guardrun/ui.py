"""guardrun's own lines on stderr, only while no child is drawing.

While a child draws, lines are held back and printed after it ends; a terminal
shared with a full-screen program is the child's alone. Without a terminal
on stderr (CI logs, pipes) nothing is drawn over, so lines go out at once.
rich is imported on first use: most runs print nothing, and importing it would
cost more than the rest of start-up (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

PREFIX = "guardrun:"


_SGR = {"bold cyan": "\x1b[1;36m", "dim": "\x1b[2m", "bold yellow": "\x1b[1;33m",
        "bold red": "\x1b[1;31m"}  # fmt: skip
# C0 (but tab), DEL and C1 controls: text from a command line must not drive the terminal.
_CONTROLS = r"[\x00-\x08\x0a-\x1f\x7f-\x9f]"


class Reporter:
    def __init__(
        self,
        quiet: bool = False,
        verbose: bool = False,
        log_file: str | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.stream = stream or sys.stderr
        self.drawing = False
        self._held: list[tuple[str, str]] = []
        self._sink: Callable[[bytes], None] | None = None
        self._raw: Callable[[], bool] = bool  # the terminal is in raw mode (no CR added)
        self._log: TextIO | None = None
        if log_file:
            from guardrun.errors import UsageError

            try:
                # 0600 like every file guardrun writes: the log names commands and paths.
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
                fd = os.open(log_file, flags, 0o600)
                self._log = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as err:
                raise UsageError(f"--log-file: cannot open {log_file}: {err.strerror}") from err
        try:
            self._tty = os.isatty(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            self._tty = False

    def _out(self, style: str, text: str) -> None:
        if self.drawing and self._tty:
            self._held.append((style, text))
            return
        try:
            self._write(style, text)
        except (OSError, ValueError):
            pass  # the terminal hung up (EIO) or stderr is closed: the log file has the line

    def _write(self, style: str, text: str) -> None:
        if self._tty:
            # Plain SGR codes, not rich (its import: docs/benchmarks.md), and the first line
            # printed is often "restarting claude", on the path a user waits on.
            clean = re.sub(_CONTROLS, "", text)  # the text may quote a command or a path
            if self._sink is not None:  # in order after the child's output, never blocking
                end = "\r\n" if self._raw() else "\n"
                self._sink(f"{_SGR[style]}{PREFIX}\x1b[0m {clean}{end}".encode("utf-8", "replace"))
                return
            self.stream.write(f"{_SGR[style]}{PREFIX}\x1b[0m {clean}\n")
            self.stream.flush()
        else:
            self.stream.write(f"{PREFIX} {text}\n")
            self.stream.flush()

    def _logline(self, kind: str, text: str) -> None:
        if self._log is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
            self._log.write(f"{stamp} {kind} {text}\n")

    def info(self, text: str) -> None:
        self._logline("info", text)
        if not self.quiet:
            self._out("bold cyan", text)

    def detail(self, text: str) -> None:
        """Shown with -v only."""
        self._logline("debug", text)
        if self.verbose and not self.quiet:
            self._out("dim", text)

    def warn(self, text: str) -> None:
        self._logline("warn", text)
        if not self.quiet:
            self._out("bold yellow", text)

    def error(self, text: str) -> None:
        self._logline("error", text)
        self._out("bold red", text)

    def use_terminal(
        self,
        sink: Callable[[bytes], None] | None,
        raw: Callable[[], bool] = bool,
        out_fd: int = 1,
    ) -> None:
        """Lines for the terminal go to ``sink`` (the relay's, which never blocks on a
        terminal that has stopped reading and keeps them after the child's output) when
        stderr is the same terminal as ``out_fd``; None: straight to stderr again.
        ``raw()``: the terminal is in raw mode now, so a line ends with CR LF."""
        self._raw = raw
        if sink is not None:
            try:
                err_dev = os.fstat(self.stream.fileno()).st_rdev
                same = self._tty and err_dev == os.fstat(out_fd).st_rdev
            except (AttributeError, OSError, ValueError):
                same = False
            if not same:
                sink = None
        self._sink = sink

    def set_drawing(self, drawing: bool) -> None:
        self.drawing = drawing
        if not drawing and self._held:
            held, self._held = self._held, []
            for style, text in held:
                self._out(style, text)

    def close(self) -> None:
        self.set_drawing(False)
        if self._log is not None:
            self._log.close()
            self._log = None
