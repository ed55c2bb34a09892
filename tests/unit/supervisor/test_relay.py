"""The relay over socket pairs and pipes (no child process): bytes pass unchanged both
ways, a signal wakes it, the agent's title is seen, and guardrun's own bytes wait for
a quiet moment in the child's output."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from guardrun.supervisor.relay import QUIET, Relay


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
