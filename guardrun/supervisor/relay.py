"""The relay: bytes both ways between the caller's terminal and the child's PTY.

One ``poll`` waits on the PTY, the caller's keys, the signal wake-up pipe and, while
the terminal is behind, the terminal's room for more, with a deadline (the next
memory sample). Per chunk it reads, writes and takes a timestamp and nothing else
(docs/architecture.md, "Costs": the relay alone used ~30% of a core at full speed, so
per-chunk Python work shows); the one extra is a substring test for an OSC title, a
C-speed scan, so that the agent's own title is kept.

No write here blocks (``termout``): a terminal that stops reading never stops the
loop. What it does not take waits in order in a bounded buffer; once that holds
``termout.LIMIT`` bytes the PTY is no longer read, so the agent waits on its own
writes as on a slow terminal, while sampling, signals, restarts and the user's keys
go on.

guardrun's own terminal output while the child draws (title, bell) goes through
:meth:`Relay.put` and :meth:`Relay.put_title`, notes written only once the child's
output has been quiet for ``QUIET`` seconds and the terminal has taken all before
them, so they never land inside one of the child's escape sequences. Between child
runs guardrun's bytes go out at once, after whatever the terminal has not taken yet.
"""

from __future__ import annotations

import os
import re
import select
from typing import TYPE_CHECKING

from guardrun.supervisor.termout import LIMIT, SLACK, TermOut

if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 65536
QUIET = 0.05  # seconds of no child output before guardrun's own bytes go out
# OSC 0 (icon and title) or OSC 2 (title), ended by BEL or ST.
_TITLE = rb"\x1b\][02];([^\x07\x1b]*)(?:\x07|\x1b\\)"
_IN, _OUT = select.POLLIN, select.POLLOUT


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
        self.term = TermOut(out_fd)
        self._to_child = b""
        self._poller = select.poll()
        self._master_mask = 0  # what the PTY master is polled for (0: not registered)
        self._out_polled = False  # the terminal is polled for room (it is behind)

    # ------------------------------------------------------------ set-up
    def attach(self, master: int | None, keys: bool) -> None:
        """Relay for a new child: its PTY master (None: no PTY) and the caller's keys."""
        self.master = master
        self.keys = self.in_fd if keys and master is not None else -1
        self._poller = select.poll()
        self._master_mask, self._out_polled = 0, False
        self._poller.register(self.wake_fd, _IN)
        if master is not None:
            os.set_blocking(master, False)
            self.term.open()
            self._watch_master()
        if self.keys >= 0:
            self._poller.register(self.keys, _IN)
        self.last_in = self.last_out = self.clock()
        self.tail, self._to_child, self.child_title = b"", b"", None
        self._watch_out()

    def listen_keys(self, on: bool) -> None:
        """Read the caller's keys or not (off while guardrun is a background job: the keys
        are the shell's, and reading them would stop guardrun with SIGTTIN)."""
        if on and self.keys < 0 and self.master is not None and os.isatty(self.in_fd):
            self.keys = self.in_fd
            self._poller.register(self.keys, _IN)
        elif not on and self.keys >= 0:
            self._poller.unregister(self.keys)
            self.keys = -1

    def detach(self) -> None:
        self.master, self.keys = None, -1
        self._master_mask = 0
        self.flush(force=True)

    def finish(self) -> None:
        """The child is gone for good: what the terminal has not taken goes out, waiting
        a bounded time for a terminal that has stopped reading (``termout.EXIT_WAIT``)
        before guardrun gives its terminal its modes back."""
        self.detach()
        self.term.finish(self.clock)

    def close(self) -> None:
        """guardrun is exiting: the last notes (the caller's title back), then the
        terminal's descriptor is closed."""
        self.finish()
        self.term.close()

    @property
    def last_io(self) -> float:
        return max(self.last_in, self.last_out)

    @property
    def behind(self) -> bool:
        """The terminal has not taken all the bytes given to it (it is slow or stalled)."""
        return self.term.behind

    def _watch_master(self) -> None:
        """Poll the PTY for output while the terminal keeps up, and for room while keys
        wait for the child."""
        master = self.master
        if master is None:
            return
        mask = (_IN if len(self.term.pend) < LIMIT else 0) | (_OUT if self._to_child else 0)
        if mask == self._master_mask:
            return
        if not mask:
            self._poller.unregister(master)
        elif self._master_mask:
            self._poller.modify(master, mask)
        else:
            self._poller.register(master, mask)
        self._master_mask = mask

    def _watch_out(self) -> None:
        """Poll the terminal for room exactly while it is behind."""
        behind = self.term.behind
        if behind != self._out_polled and self.term.wfd >= 0:
            if behind:
                self._poller.register(self.term.wfd, _OUT)
            else:
                self._poller.unregister(self.term.wfd)
            self._out_polled = behind

    # ----------------------------------------------------------- the pump
    def pump(self, until: float) -> None:
        """Relay until the clock reaches ``until``, a signal arrives, or the PTY closes."""
        # The hot path: locals only (the last output's time and chunk are written back on
        # the way out), one clock read per wake-up and one per chunk.
        read, write, clock, poll = os.read, os.write, self.clock, self._poller.poll
        master, keys, wake = self.master, self.keys, self.wake_fd
        term = self.term
        out, pend = term.wfd, term.pend
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
                for fd, ev in events:
                    if fd == master:
                        if not ev & _IN:  # room for the keys (POLLOUT) only
                            if not ev & (select.POLLHUP | select.POLLERR):
                                continue
                        try:
                            data = read(fd, CHUNK)
                        except BlockingIOError:
                            continue
                        except OSError:  # EIO: the child's side closed
                            data = b""
                        if not data:
                            self._poller.unregister(fd)
                            self.master = master = None
                            self._master_mask = 0
                            woke = True
                            continue
                        if pend:  # the terminal is behind: after what it has not taken
                            pend += data
                            if len(pend) >= LIMIT:  # full: the child waits on its writes
                                self._watch_master()
                        else:
                            try:
                                n = write(out, data)
                            except BlockingIOError:  # EAGAIN: nothing was written
                                n = 0
                            except OSError:  # EIO: the caller's terminal hung up
                                n = len(data)
                                self.hangup = woke = True
                            if n != len(data):
                                pend += data[n:]
                                self._watch_out()
                        last_out = clock()
                        tail = data
                        if b"\x1b]" in data:
                            self._see_title(data)
                    elif fd == out:
                        term.write_pending()
                        if term.hangup:
                            self.hangup = woke = True
                        if not pend:
                            self._watch_out()
                            if term.notes and clock() - last_out >= QUIET:
                                term.flush_notes()
                                self._watch_out()
                        if master is not None and len(pend) < LIMIT:
                            self._watch_master()
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
        self._watch_master()

    def _see_title(self, data: bytes) -> None:
        found = re.findall(_TITLE, data)
        if found:
            self.child_title = self.term.agent_title = found[-1].decode("utf-8", "replace")

    # ------------------------------------------------------ guardrun's bytes
    def put(self, data: bytes) -> None:
        """Queue guardrun's own bytes for the terminal: while the child draws, notes
        written at a quiet moment (title, bell); between runs, at once in order."""
        if data == b"\x07":
            self.term.put_bell()  # merged while the terminal is behind
        else:
            self.term.put_raw(data)
        if self.master is None:
            self.flush(force=True)

    def put_text(self, data: bytes) -> None:
        """guardrun's own lines (printed only while no child draws): in order after all
        the terminal has not taken yet, written as far as it takes them now."""
        term = self.term
        if term.wfd < 0:
            term.open()
        term.put_raw(data)
        term.flush_notes()
        if term.hangup:
            self.hangup = True
        self._watch_out()

    def put_title(self, compose: Callable[[str | None], bytes], push: bool = False) -> None:
        """Queue guardrun's title, composed when it is written from the agent's title as
        known then (``compose(agent_title)``); a later one replaces it. ``push``: save
        the caller's title first (kept when merged)."""
        self.term.put_title(compose, push)
        if self.master is None:
            self.flush(force=True)

    def flush(self, force: bool = False) -> None:
        """Hand the notes to the terminal now if the child's output is quiet (or
        ``force``), after everything it has not taken yet; never waits."""
        term = self.term
        if term.notes and (force or (not term.behind and self.clock() - self.last_out >= QUIET)):
            if term.wfd < 0:
                term.open()
            term.flush_notes()
            if term.hangup:
                self.hangup = True
            self._watch_out()

    def drain(self, fd: int | None, wait: float = 0.02) -> bytes:
        """Relay what the child wrote and was not relayed yet; returns the last of it.

        ``wait``: how long to wait for more once the PTY is empty (a child that just
        exited may still have output in flight); 0 returns at once. Past
        ``LIMIT + SLACK`` bytes not taken by the terminal it reads no more.
        """
        tail = b""
        if fd is None:
            return tail
        term = self.term
        if term.wfd < 0:
            term.open()
        deadline = self.clock() + 0.5
        while self.clock() < deadline and len(term.pend) < LIMIT + SLACK:
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
                term.pend += data
                term.write_pending()
                if term.hangup:  # the terminal hung up: the child's output is read, dropped
                    self.hangup = True
            tail = (tail + data)[-4096:]
        self._watch_out()
        return tail
