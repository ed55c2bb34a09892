"""The relay: bytes both ways between the caller's terminal and the child's PTY.

One ``poll`` waits on the PTY, the caller's keys and the signal wake-up pipe, with a
deadline (the next memory sample). Per chunk it reads, writes and takes a timestamp
and nothing else (docs/architecture.md, "Costs": the relay alone used ~30% of a
core at full speed, so per-chunk Python work shows); the one extra is a substring
test for an OSC title, a C-speed scan, so that the agent's own title is kept.

guardrun's own terminal output while the child draws (title, bell) goes through
:meth:`Relay.put`, a queue that is written only once the child's output has been
quiet for ``QUIET`` seconds, so it never lands inside one of the child's escape
sequences. Between child runs the queue is written at once.
"""

from __future__ import annotations

import errno
import os
import re
import select
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 65536
QUIET = 0.05  # seconds of no child output before guardrun's own bytes go out
# OSC 0 (icon and title) or OSC 2 (title), ended by BEL or ST.
_TITLE = re.compile(rb"\x1b\][02];([^\x07\x1b]*)(?:\x07|\x1b\\)")


class Relay:
    def __init__(
        self, wake_fd: int, clock: Callable[[], float], out_fd: int = 1, in_fd: int = 0
    ) -> None:
        self.wake_fd, self.clock, self.out_fd, self.in_fd = wake_fd, clock, out_fd, in_fd
        self.master: int | None = None
        self.keys = -1
        now = clock()
        self.last_in = self.last_out = now
        self.tail = b""  # the last chunk of the child's output (OOM messages are read there)
        self.child_title: str | None = None  # the agent's own latest title
        # The caller's terminal is gone (EIO writing to it or reading keys from it): the
        # child's output has nowhere to go; the loop stops the child (exit 129).
        self.hangup = False
        self._out = bytearray()  # guardrun's queued terminal bytes
        self._to_child = b""
        self._poller = select.poll()

    def attach(self, master: int | None, keys: bool) -> None:
        """Relay for a new child: its PTY master (None: no PTY) and the caller's keys."""
        self.master = master
        self.keys = self.in_fd if keys and master is not None else -1
        self._poller = select.poll()
        self._poller.register(self.wake_fd, select.POLLIN)
        if master is not None:
            os.set_blocking(master, False)
            self._poller.register(master, select.POLLIN)
        if self.keys >= 0:
            self._poller.register(self.keys, select.POLLIN)
        self.last_in = self.last_out = self.clock()
        self.tail, self._to_child, self.child_title = b"", b"", None

    def listen_keys(self, on: bool) -> None:
        """Read the caller's keys or not (off while guardrun is a background job: the keys
        are the shell's, and reading them would stop guardrun with SIGTTIN)."""
        if on and self.keys < 0 and self.master is not None and os.isatty(self.in_fd):
            self.keys = self.in_fd
            self._poller.register(self.keys, select.POLLIN)
        elif not on and self.keys >= 0:
            self._poller.unregister(self.keys)
            self.keys = -1

    def detach(self) -> None:
        self.master, self.keys = None, -1
        self.flush(force=True)

    @property
    def last_io(self) -> float:
        return max(self.last_in, self.last_out)

    def pump(self, until: float) -> None:
        """Relay until the clock reaches ``until``, a signal arrives, or the PTY closes."""
        # The hot path: locals only (the last output's time and chunk are written back on
        # the way out), one clock read per wake-up and one per chunk.
        read, write, clock, poll = os.read, os.write, self.clock, self._poller.poll
        master, keys, wake, out = self.master, self.keys, self.wake_fd, self.out_fd
        last_out, tail = self.last_out, self.tail
        try:
            while True:
                now = clock()
                if now >= until:
                    return
                try:
                    events = poll((until - now) * 1000.0)
                except InterruptedError:
                    continue
                woke = False
                for fd, _ev in events:
                    if fd == master:
                        try:
                            data = read(fd, CHUNK)
                        except BlockingIOError:
                            continue
                        except OSError:  # EIO: the child's side closed
                            data = b""
                        if not data:
                            self._poller.unregister(fd)
                            self.master = master = None
                            woke = True
                            continue
                        try:
                            n = write(out, data)
                            if n != len(data):
                                write_all(out, data[n:])
                        except BlockingIOError:  # EAGAIN: nothing was written
                            write_all(out, data)
                        except OSError:  # EIO: the caller's terminal hung up
                            self.hangup = woke = True
                        last_out = clock()
                        tail = data
                        if b"\x1b]" in data:
                            self._see_title(data)
                    elif fd == keys:
                        try:
                            data = read(fd, CHUNK)
                        except OSError:
                            data = b""
                        if not data:  # a terminal in raw mode reads 0 or EIO only when
                            self._poller.unregister(fd)  # it has hung up
                            self.keys = keys = -1
                            self.hangup = woke = True
                            continue
                        self.last_in = clock()
                        self._to_child += data
                    elif fd == wake:  # its bytes only say that a signal came
                        try:
                            read(fd, 512)  # once: more left makes the next poll return at once
                        except OSError:
                            pass
                        woke = True
                if self._to_child and master is not None:
                    self._send_keys(master)
                if woke:
                    return
        finally:
            self.last_out, self.tail = last_out, tail

    def _send_keys(self, master: int) -> None:
        try:
            n = os.write(master, self._to_child)
            self._to_child = self._to_child[n:]
        except BlockingIOError:
            pass
        except OSError:
            self._to_child = b""
        # A child that is not reading: wake when it can take more, not before.
        more = select.POLLIN | select.POLLOUT if self._to_child else select.POLLIN
        self._poller.modify(master, more)

    def _see_title(self, data: bytes) -> None:
        found = _TITLE.findall(data)
        if found:
            self.child_title = found[-1].decode("utf-8", "replace")

    def put(self, data: bytes) -> None:
        """Queue guardrun's own bytes for the terminal (title, bell)."""
        self._out += data
        if self.master is None:
            self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        """Write the queue now if the child's output is quiet (or ``force``)."""
        if not self._out or (not force and self.clock() - self.last_out < QUIET):
            return
        data, self._out = bytes(self._out), bytearray()
        try:
            write_all(self.out_fd, data)
        except OSError:
            pass  # a closed terminal: the title is a nicety

    def drain(self, fd: int | None, wait: float = 0.02) -> bytes:
        """Relay what the child wrote and was not relayed yet; returns the last of it.

        ``wait``: how long to wait for more once the PTY is empty (a child that just
        exited may still have output in flight); 0 returns at once.
        """
        tail = b""
        if fd is None:
            return tail
        deadline = self.clock() + 0.5
        while self.clock() < deadline:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                r, _, _ = select.select([fd], [], [], wait)
                if not r:
                    break
                continue
            except OSError:
                break
            if not data:
                break
            if not self.hangup:
                try:
                    write_all(self.out_fd, data)
                except OSError:  # the terminal hung up: the child's output is read, dropped
                    self.hangup = True
            tail = (tail + data)[-4096:]
        return tail


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except OSError as err:
            if err.errno == errno.EINTR:
                continue
            raise
        view = view[n:]
