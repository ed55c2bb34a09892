"""The run's writer thread (observe/writer.py): writes in the order given, a queue that
never makes the caller wait, drops counted and said once when the disk stops taking
writes, and a bounded wait at the end. A job blocked on a lock stands for a write
blocked in the kernel (tests/e2e/stall/test_frozen_state_dir.py freezes a real one)."""

from __future__ import annotations

import _thread
import time

from guardrun.observe.writer import Writer


def test_jobs_run_in_order_in_another_thread() -> None:
    done: list[tuple[int, int]] = []
    w = Writer()
    for i in range(50):
        assert w.submit("event log", lambda i=i: done.append((i, _thread.get_ident())))
    assert w.drain(5.0)
    assert [i for i, _ in done] == list(range(50))
    assert {t for _, t in done} != {_thread.get_ident()}


def test_a_hung_write_never_makes_the_caller_wait_and_drops_are_said_once() -> None:
    said: list[str] = []
    w = Writer(said.append, limit=3)
    hung = _thread.allocate_lock()
    hung.acquire()
    w.submit("live file", hung.acquire)  # blocks the thread, as a frozen filesystem would
    time.sleep(0.05)
    started = time.monotonic()
    results = [w.submit("event log", lambda: None) for _ in range(10)]
    assert time.monotonic() - started < 0.5  # never waited on the hung write
    assert results == [True] * 3 + [False] * 7
    assert w.dropped == 7
    assert len(said) == 1 and "stuck writing the live file" in said[0]
    assert not w.drain(0.2)  # bounded: gives up while the write hangs
    hung.release()
    assert w.drain(5.0)
    assert w.submit("event log", lambda: None)  # room again


def test_drain_returns_as_the_last_write_ends_not_at_a_polling_tick() -> None:
    """A run's end waits for its writes and no longer: guardrun's exit is on every start's
    clock (benchmarks/bench_startup.py)."""
    w = Writer()
    gate = _thread.allocate_lock()
    gate.acquire()
    w.submit("event log", gate.acquire)  # held until released below
    _thread.start_new_thread(lambda: (time.sleep(0.2), gate.release()), ())
    started = time.monotonic()
    assert w.drain(5.0)
    waited = time.monotonic() - started
    assert 0.15 < waited < 0.5 and w.idle()
    assert w.drain(0.0)  # idle: at once
