"""The relay over socket pairs and pipes (no child process): bytes pass unchanged both
ways, a signal wakes it, the agent's title is seen, and guardrun's own bytes wait for
a quiet moment in the child's output."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from guardrun.supervisor.relay import CHUNK, QUIET, Relay
from guardrun.supervisor.termout import LIMIT


class Ends:
    """The child's side of a fake PTY, the caller's keys and screen, and a wake pipe."""

    def __init__(self) -> None:
        self.child, master = socket.socketpair()
        self.master = master.detach()
        self.keys_r, self.keys_w = os.pipe()
        self.screen_r, self.screen_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.screen_r, False)
        self.relay = Relay(self.wake_r, time.monotonic, out_fd=self.screen_w, in_fd=self.keys_r)
        self.relay.attach(self.master, keys=True)

    def screen(self) -> bytes:
        try:
            return os.read(self.screen_r, 1 << 20)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        self.child.close()
        for fd in (self.master, self.keys_r, self.keys_w, self.screen_r, self.screen_w):
            os.close(fd)
        os.close(self.wake_r)
        os.close(self.wake_w)


@pytest.fixture
def ends() -> Iterator[Ends]:
    e = Ends()
    yield e
    e.close()


def test_output_and_keys_pass_unchanged(ends: Ends) -> None:
    data = bytes(range(256)) * 4
    ends.child.sendall(data)
    os.write(ends.keys_w, b"\x03\x1b[A typed")
    ends.relay.pump(time.monotonic() + 0.2)
    assert ends.screen() == data
    assert ends.child.recv(100) == b"\x03\x1b[A typed"
    assert ends.relay.tail == data
    assert ends.relay.last_io > 0


def test_a_signal_wakes_the_pump_long_before_its_deadline(ends: Ends) -> None:
    os.write(ends.wake_w, b"\x0a")
    started = time.monotonic()
    ends.relay.pump(started + 30.0)
    assert time.monotonic() - started < 5.0  # woke, did not sleep out the 30 s
    ends.relay.pump(time.monotonic() + 0.05)  # the pipe was emptied: it sleeps again


def test_the_childs_side_closing_ends_the_pump(ends: Ends) -> None:
    ends.child.sendall(b"bye")
    ends.child.close()
    started = time.monotonic()
    ends.relay.pump(started + 30.0)
    ends.relay.pump(started + 0.1)  # EOF seen: the PTY is no longer polled
    assert ends.screen() == b"bye"
    assert ends.relay.master is None
    ends.child = socket.socket()  # for close()


def test_the_agents_own_title_is_seen(ends: Ends) -> None:
    ends.child.sendall(b"text\x1b]0;first\x07more\x1b]2;\xe2\x9c\xb3 Claude Code\x1b\\end")
    ends.relay.pump(time.monotonic() + 0.1)
    assert ends.relay.child_title == "✳ Claude Code"
    ends.child.sendall(b"\x1b]1;icon only\x07")  # OSC 1 is the icon name, not the title
    ends.relay.pump(time.monotonic() + 0.1)
    assert ends.relay.child_title == "✳ Claude Code"


def test_own_bytes_wait_for_a_quiet_moment(ends: Ends) -> None:
    ends.child.sendall(b"\x1b[31")  # half an escape sequence, just written
    ends.relay.pump(time.monotonic() + 0.01)
    ends.relay.put(b"\x1b]0;guardrun\x07")
    ends.relay.flush()
    assert ends.screen() == b"\x1b[31"  # not inside the child's sequence
    time.sleep(QUIET)
    ends.relay.flush()
    assert ends.screen() == b"\x1b]0;guardrun\x07"


def test_between_runs_own_bytes_go_out_at_once(ends: Ends) -> None:
    ends.relay.detach()
    ends.relay.put(b"\x07")
    assert ends.screen() == b"\x07"


def test_drain_relays_what_is_left(ends: Ends) -> None:
    ends.child.sendall(b"last words")
    assert ends.relay.drain(ends.master, wait=0.05) == b"last words"
    assert ends.screen() == b"last words"
    assert ends.relay.drain(None) == b""


def _feed(sock: socket.socket, data: bytes) -> threading.Thread:
    """The child writing ``data`` (waiting whenever its PTY is full), in a thread."""
    t = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    t.start()
    return t


def test_a_screen_that_does_not_read_never_stops_the_pump(ends: Ends) -> None:
    data = bytes(range(256)) * (40 << 10)  # 10 MiB, more than LIMIT
    feeder = _feed(ends.child, data)
    started = time.monotonic()
    ends.relay.pump(started + 1.0)  # nobody reads the screen
    assert time.monotonic() - started < 1.5  # the deadline held: sampling would go on
    held = len(ends.relay.term.pend)
    assert LIMIT <= held < LIMIT + CHUNK  # bounded: then the PTY is no longer read
    assert ends.relay.behind
    ends.relay.pump(time.monotonic() + 0.3)
    assert len(ends.relay.term.pend) == held  # the child waits on its own writes
    got = bytearray()
    deadline = time.monotonic() + 30
    while len(got) < len(data) and time.monotonic() < deadline:
        got += ends.screen()  # the screen reads again
        ends.relay.pump(time.monotonic() + 0.01)
    feeder.join(5)
    assert bytes(got) == data  # nothing lost, duplicated or reordered
    assert not ends.relay.behind


def test_title_and_bell_merge_while_the_screen_is_behind(ends: Ends) -> None:
    feeder = _feed(ends.child, b"x" * (LIMIT + (1 << 20)))
    ends.relay.pump(time.monotonic() + 0.5)
    assert ends.relay.behind
    ends.relay.put_title(lambda agent: b"\x1b]0;first\x07", push=True)
    ends.relay.put(b"\x07")
    ends.relay.put_title(lambda agent: b"\x1b]0;second " + (agent or "").encode() + b"\x07")
    ends.relay.put(b"\x07")
    ends.relay.flush()  # behind: kept
    got = bytearray()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got += ends.screen()
        ends.relay.pump(time.monotonic() + 0.02)
        if not ends.relay.behind and not feeder.is_alive():
            time.sleep(QUIET)
            ends.relay.flush()
            got += ends.screen()
            if not ends.relay.term.notes:
                break
    tail = bytes(got).lstrip(b"x")
    # One title (the latest, composed as written), the caller's title saved before it,
    # one bell.
    assert tail == b"\x1b[22;0t\x1b]0;second \x07\x07", tail


def test_a_line_put_while_the_terminal_write_is_in_the_kernel_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``os.write`` holds an export of its buffer while it waits in the kernel (the GIL
    released): a line another thread puts then (a capture's "state saved") must neither
    raise BufferError (it did, as an internal error, in a real stall) nor be lost."""
    from guardrun.supervisor import termout

    r, w = os.pipe()
    term = termout.TermOut(w)
    term.open()
    term.pend += b"agent output\n"
    real_write = os.write

    put = [b"state saved\n"]  # another thread's line, put once while the write waits

    def write(fd: int, data: bytes) -> int:
        with memoryview(data):  # as the C write holds its argument
            while put:
                term.pend += put.pop()
            return real_write(fd, data)

    monkeypatch.setattr(termout.os, "write", write)
    term.write_pending()
    monkeypatch.undo()
    term.write_pending()
    assert os.read(r, 1024) == b"agent output\nstate saved\n" and not term.pend
    os.close(r)
    term.close()
    os.close(w)
