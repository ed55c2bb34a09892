"""The dead man's switch's clock (supervisor/sentinel_program.py): what guardrun stores
in the shared page is what the sentinel reads back (a real memfd page, read with pread),
and the sentinel looks only when the loop has not sampled for the stale time, never
while it is paused (guardrun stops the tree itself, or is stopped under job control),
and once per stall. The sentinel stopping a real tree: tests/e2e/stall/."""

from __future__ import annotations

import os
import time

import pytest

from guardrun.supervisor import sentinel as mod
from guardrun.supervisor import sentinel_program as program


class Page:
    """guardrun's side of the page, as ``Sentinel._put`` writes it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __setitem__(self, i: int, value: float) -> None:
        buf = bytearray(8)
        memoryview(buf).cast("d")[0] = value
        os.pwrite(self.fd, buf, 0)


@pytest.fixture
def page() -> tuple[int, Page]:
    fd = mod._beat_page()
    if fd < 0:
        pytest.skip("no shared page here")
    return fd, Page(fd)


def test_a_beat_is_read_back_by_the_sentinel(page: tuple[int, Page]) -> None:
    fd, view = page
    switch = program.Switch(fd)
    assert switch.beat() == 0.0  # before the first sample: paused
    now = time.monotonic()
    view[0] = now
    assert switch.beat() == now
    view[0] = 0.0
    assert switch.beat() == 0.0


def test_stale_only_after_the_stale_time_and_never_while_paused(
    page: tuple[int, Page],
) -> None:
    fd, view = page
    switch = program.Switch(fd)
    assert not switch.stale()  # not armed: never
    switch.arm({"stale_s": 5.0, "emergency": 1})
    beat = time.monotonic()
    view[0] = beat
    assert not switch.stale()  # the loop sampled just now ...
    assert switch.next_look == beat + 5.0  # ... so the next look is when it turns stale
    switch.next_look = 0.0
    view[0] = time.monotonic() - 6.0
    assert switch.stale()
    assert switch.next_look <= time.monotonic() + program.LOOK_EVERY  # stuck: each second
    switch.next_look = 0.0
    view[0] = 0.0  # paused on purpose
    assert not switch.stale()
    stale_beat = time.monotonic() - 6.0
    view[0] = stale_beat
    switch.next_look = 0.0
    switch.acted_on = stale_beat  # already acted on this stall
    assert not switch.stale()


def test_the_stale_time_is_five_seconds_or_ten_intervals() -> None:
    s = mod.Sentinel(b"")
    try:
        if s._beat_fd < 0:
            pytest.skip("no shared page here")
        s.arm(0.2, 100)
        assert program.read_arm(s._armed.rstrip(b"\n"))["stale_s"] == 5.0
        s.arm(2.0, 100)
        assert program.read_arm(s._armed.rstrip(b"\n"))["stale_s"] == 20.0
        s.beat()
        assert os.pread(s._beat_fd, 8, 0) != bytes(8)
        s.pause()
        assert os.pread(s._beat_fd, 8, 0) == bytes(8)
    finally:
        s.done()
