"""Notifications that never touch the child's screen: terminal title, bell, desktop.

While the child draws, guardrun may only write sequences the terminal consumes
without drawing: OSC 0 sets the window/tab title, BEL rings or flashes. xterm's
title stack (CSI 22;0 t pushes, CSI 23;0 t pops; also in iTerm2, kitty, VTE)
lets the user's own title come back at exit. Terminals without the stack keep
an empty title, which most shells overwrite at the next prompt.

Title and bell bytes go to a sink: under a PTY the relay's queue, which writes
them between the child's output chunks; else straight to the terminal fd.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from typing import TYPE_CHECKING

from guardrun.observe.events import EventLog
from guardrun.platform import SYSTEM
from guardrun.units import format_bytes, format_eta, format_rate

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PUSH_TITLE = b"\x1b[22;0t"
POP_TITLE = b"\x1b[23;0t"
BELL = b"\x07"
DESKTOP_TIMEOUT = 10.0
# C0, DEL and C1 controls: an ESC or BEL inside a title would end the OSC early
# and let the rest be interpreted by the terminal.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def title_bytes(text: str) -> bytes:
    """OSC 0 (set icon name and window title) for ``text``, control characters removed."""
    clean = _CONTROLS.sub("", text)[:200]
    return b"\x1b]0;" + clean.encode("utf-8", "replace") + BELL


def rough_bytes(n: int) -> str:
    """Two significant digits (``1.8 MB``, ``312 MB``, ``12 GB``): a figure that changes
    visibly only when memory really moves, so the title is not rewritten every poll."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 999.5 or unit == "TB":
            if unit == "B" or value >= 9.95:
                return f"{value:.0f} {unit}"
            return f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_title(
    cmd_name: str,
    memory_bytes: int,
    level: str,
    trend: float = 0.0,
    agent_title: str = "",
    *,
    growth: float | None = None,
    eta_critical: float | None = None,
    eta_emergency: float | None = None,
    swapped: int = 0,
) -> str:
    """The title guardrun shows: at normal just the rough figure (``guardrun: codex
    900 MB``); above it the exact figure, the direction (``trend`` > 0 rising, < 0
    falling) and the level (``guardrun: claude 11.8 GB ▲ warning``). With a growth
    rate (bytes per second, from the trend), the rate and the next threshold's time:
    ``guardrun: claude 3.2 GB ▲ +40 MB/min · critical in ~25 min``. When the agent set
    a title of its own, the figure goes beside it: ``3.2 GB · ✳ Claude Code``. When a
    tenth or more of the figure is out of RAM (``swapped``), it says so, roughly:
    ``3.1 GB, 1.2 GB swapped ▲ warning``."""
    size = rough_bytes(memory_bytes) if level == "normal" else format_bytes(memory_bytes)
    if swapped and swapped * 10 >= memory_bytes:
        size += f", {rough_bytes(swapped)} swapped"
    if growth is not None and growth > 0:
        figure = f"{size} ▲ {format_rate(growth)}"
        if eta_critical is not None:
            figure += f" · critical in {format_eta(eta_critical)}"
        elif eta_emergency is not None:
            figure += f" · {level} · emergency in {format_eta(eta_emergency)}"
        elif level != "normal":
            figure += f" · {level}"
    elif level == "normal":
        figure = size
    else:
        arrow = " ▲" if trend > 0 else " ▼" if trend < 0 else ""
        figure = f"{size}{arrow} {level}"
    if agent_title:
        return f"{figure} · {agent_title}"
    name = os.path.basename(cmd_name.rstrip("/")) or cmd_name
    return f"guardrun: {name} {figure}"


def _applescript_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def desktop_argv(backend: str, program: str, summary: str, body: str) -> list[str]:
    """The argv that shows one desktop notification (no shell involved)."""
    if backend == "osascript":
        script = (
            f"display notification {_applescript_string(body)} "
            f"with title {_applescript_string(summary)}"
        )
        return [program, "-e", script]
    # "--": a body that starts with "-" is text, not an option.
    return [program, "--app-name=guardrun", "--", summary, body]


class Notifier:
    def __init__(
        self,
        title: bool,
        bell: bool,
        desktop: str,
        out_fd: int | None,
        *,
        log: EventLog | None = None,
        platform: str = SYSTEM,
        sink: Callable[[bytes], None] | None = None,
        title_sink: Callable[[Callable[[str | None], bytes], bool], None] | None = None,
    ) -> None:
        """``out_fd``: the terminal (title and bell only when it is one); ``sink``: where
        the bytes go instead of straight to it (the relay's queue, between child chunks);
        ``title_sink``: where a title goes as a function of the agent's own title, so the
        relay composes it when it writes it (``Relay.put_title``)."""
        self._tty = out_fd is not None and _isatty(out_fd)
        self._fd = out_fd
        self._sink = sink
        self._title_sink = title_sink
        self._title_on = title and self._tty
        self._bell_on = bell and self._tty
        self._log = log
        self._pushed = False
        self.error: str | None = None
        self._backend: tuple[str, str] | None = None
        if desktop not in ("auto", "true", "false"):
            raise ValueError(f"notify.desktop must be auto, true or false, not {desktop!r}")
        if desktop != "false":
            name = "osascript" if platform == "darwin" else "notify-send"
            found = shutil.which(name)
            if found:
                self._backend = (name, found)
            elif desktop == "true":
                self.error = f"desktop notifications need {name}, which is not on PATH"

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        if self._sink is not None:
            self._sink(data)
            return
        try:
            os.write(self._fd, data)
        except OSError:
            # A closed or revoked terminal: notifications are best effort.
            self._title_on = self._bell_on = False

    def title(self, text: str, compose: Callable[[str], str] | None = None) -> None:
        """Show ``text``; with ``compose`` (the text for a given agent title) and a
        title sink, the text is made when the relay writes it, from the agent's title
        as known then: one the agent set a moment ago is not overwritten by a stale one."""
        if not self._title_on:
            return
        if compose is not None and self._title_sink is not None:
            push, self._pushed = not self._pushed, True
            self._title_sink(lambda agent: title_bytes(compose(agent or "")), push)
            return
        if not self._pushed:
            self._pushed = True
            self._write(PUSH_TITLE + title_bytes(text))
        else:
            self._write(title_bytes(text))

    def bell(self) -> None:
        if self._bell_on:
            self._write(BELL)

    def restore_title(self) -> None:
        """Put back the title the terminal had before the first :meth:`title`."""
        if self._pushed and self._title_on:
            self._write(title_bytes("") + POP_TITLE)
        self._pushed = False

    def desktop(self, summary: str, body: str) -> bool:
        """Show a desktop notification in the background; False when none can be shown."""
        if self._backend is None:
            return False
        backend, program = self._backend
        argv = desktop_argv(backend, program, summary, body)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as err:
            self.error = f"cannot run {program}: {err.strerror or err}"
            self._emit(summary, body, error=self.error)
            return False
        threading.Thread(target=_reap, args=(proc,), daemon=True).start()
        self._emit(summary, body)
        return True

    def _emit(self, summary: str, body: str, **extra: Any) -> None:
        if self._log is not None:
            self._log.emit("notify", channel="desktop", summary=summary, body=body, **extra)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a notifier so it leaves no zombie; kill one that hangs (no D-Bus session)."""
    try:
        proc.wait(timeout=DESKTOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
