"""guardrun's side of its own terminal: writes that never block, in order, bounded.

A terminal can stop reading: frozen (Ctrl-S on a terminal with flow control), an SSH
link that stalls, a hung emulator, a script that does not read. A blocking write
would then stop guardrun's whole loop, sampling included, while the agent's helpers
go on growing. So the terminal is written through a descriptor of its own opened
``O_NONBLOCK`` (a new open of the same terminal: the shell and guardrun's stderr
keep their blocking one), and what it does not take waits here, in order:

- ``pend``: the child's output and guardrun's own lines, a FIFO written as the
  terminal takes it. The relay stops reading the child's PTY once it holds
  ``LIMIT`` bytes, so the agent then waits on its own writes, as it would on a slow
  terminal; nothing is dropped, duplicated or reordered.
- the notes: guardrun's title and bell while the child draws. Written only when
  ``pend`` is empty and the child's output has been quiet (never inside one of its
  escape sequences); while the terminal is behind they merge: the latest title, one
  bell. The title is composed when it is written, from the agent's title as known
  then, so a title the agent set a moment before is kept beside guardrun's figure.
"""

from __future__ import annotations

import os
import select
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

LIMIT = 4 << 20  # bytes held for a terminal that is not reading before the PTY waits
CHUNK = 1 << 16  # bytes offered to the terminal in one write
SLACK = 1 << 20  # more taken when draining a child that ended (its PTY's last bytes)
EXIT_WAIT = 3.0  # at exit, how long a terminal that takes nothing more is waited for
PUSH_TITLE = b"\x1b[22;0t"  # as notify.PUSH_TITLE (not imported: observe is above)
BELL = b"\x07"


class TermOut:
    def __init__(self, fd: int) -> None:
        self.fd = fd  # the caller's terminal (or a pipe in tests), as given
        self.wfd = -1  # guardrun's non-blocking descriptor for it, opened by ``open``
        self._own = False  # wfd is a new open of the terminal (closed by ``close``)
        self._was_blocking: bool | None = None  # else: fd's flag, put back by ``close``
        self.pend = bytearray()
        self.hangup = False  # EIO writing: the terminal is gone
        self._title: Callable[[str | None], bytes] | None = None
        self._push = False
        self._bell = False
        self._raw = bytearray()  # other notes (the title's restore), in order after those

    def open(self) -> int:
        """The non-blocking descriptor, opened once."""
        if self.wfd >= 0:
            return self.wfd
        fd = self.fd
        try:
            if os.isatty(fd):
                flags = os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
                fd = os.open(os.ttyname(fd), flags)
                self._own = True
        except OSError:
            fd = self.fd
        if not self._own:  # a pipe or socket (tests), or a terminal with no name
            self._was_blocking = os.get_blocking(fd)
            os.set_blocking(fd, False)
        self.wfd = fd
        return fd

    @property
    def behind(self) -> bool:
        """The terminal has not taken everything yet."""
        return bool(self.pend)

    def write_pending(self) -> None:
        """Write what the terminal takes now, without waiting.

        A copy of the front is written, never ``pend`` itself: ``os.write`` holds an
        export of its buffer while it waits in the kernel with the GIL released, and a
        line put by another thread (a capture's "state saved") resizing ``pend`` then
        would raise BufferError. A terminal takes a few KiB at a time: the copy is small."""
        pend, fd, write = self.pend, self.wfd, os.write
        while pend:
            try:
                n = write(fd, bytes(pend[:CHUNK]))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # EIO: hung up; nothing will be read any more
                self.hangup = True
                pend.clear()
                return
            if n <= 0:
                return
            del pend[:n]  # from the front of a bytearray: no copy of the rest

    # ------------------------------------------------------------- the notes
    def put_title(self, compose: Callable[[str | None], bytes], push: bool) -> None:
        self._title = compose
        self._push = self._push or push

    def put_bell(self) -> None:
        self._bell = True

    def put_raw(self, data: bytes) -> None:
        self._settle()
        self._raw += data

    def _settle(self) -> None:
        """The title and bell queued so far, into the ordered notes (bytes put after them
        must come after them)."""
        if self._title is not None or self._bell:
            self._raw += self._compose(self._title)

    def _compose(self, title: Callable[[str | None], bytes] | None) -> bytes:
        data = (PUSH_TITLE if self._push else b"") if title is not None else b""
        if title is not None:
            data += title(self.agent_title)
        if self._bell:
            data += BELL
        self._title, self._push, self._bell = None, False, False
        return data

    agent_title: str | None = None  # set by the relay: the agent's latest title

    @property
    def notes(self) -> bool:
        return self._title is not None or self._bell or bool(self._raw)

    def flush_notes(self) -> None:
        """The notes after everything before them (not waiting for the terminal)."""
        if not self.notes:
            return
        data = bytes(self._raw) + self._compose(self._title)
        self._raw = bytearray()
        self.pend += data
        self.write_pending()

    # ---------------------------------------------------------------- the end
    def finish(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Everything out before guardrun exits, waiting for a terminal that reads, and
        giving up on one that has taken nothing for ``EXIT_WAIT`` seconds."""
        self.flush_notes()
        if self.wfd < 0:
            return
        last = clock()
        while self.pend and not self.hangup:
            size = len(self.pend)
            self.write_pending()
            now = clock()
            if len(self.pend) < size:
                last = now
            elif now - last >= EXIT_WAIT:
                break
            if self.pend:
                try:
                    select.select([], [self.wfd], [], max(0.0, min(0.25, last + EXIT_WAIT - now)))
                except (OSError, ValueError):
                    break
        self.pend.clear()

    def close(self) -> None:
        if self._own and self.wfd >= 0:
            try:
                os.close(self.wfd)
            except OSError:
                pass
        elif self._was_blocking is not None and self.wfd >= 0:
            try:
                os.set_blocking(self.wfd, self._was_blocking)
            except OSError:
                pass
        self.wfd, self._own, self._was_blocking = -1, False, None
