"""One thread for a run's file writes, so that no disk can stall sampling.

The event log, the sample history, the live file and the metrics textfile may sit on
a slow, full or hung filesystem (NFS, FUSE, a frozen mount: a write there waits in
the kernel, uninterruptibly, until the filesystem comes back). The loop only formats
what to write and hands it here (``submit``: an append under a lock, never a wait);
one thread does the system calls, in the order they were given, so a file's writes
never overtake each other. The queue is bounded (``LIMIT`` jobs): once full, further
writes are dropped and counted, and the user is told once, on the first drop;
sampling, restarts and the emergency stop go on meanwhile. ``_thread``, not
``threading``: the start path stays light (tests/unit/test_startup.py).
"""

from __future__ import annotations

import _thread
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

LIMIT = 1000  # queued writes: at one sample a second, far more than a stalled minute's
CLOSE_WAIT = 5.0  # at the end of a run, how long the last writes are waited for


class Writer:
    def __init__(self, warn: Callable[[str], None] | None = None, limit: int = LIMIT) -> None:
        self.limit = limit
        self.dropped = 0
        self._warn = warn
        self._jobs: deque[tuple[str, Callable[[], object]]] = deque()
        self._lock = _thread.allocate_lock()  # guards _jobs and busy
        self._ready = _thread.allocate_lock()  # released when there may be jobs
        self._ready.acquire()
        self._started = False
        self.busy: str | None = None  # what the thread is writing now
        self.busy_since = 0.0

    def submit(self, what: str, job: Callable[[], object]) -> bool:
        """Queue ``job`` (a file write named ``what``); False when dropped (queue full)."""
        with self._lock:
            queued = len(self._jobs) < self.limit
            if queued:
                self._jobs.append((what, job))
                if not self._started:
                    self._started = True
                    _thread.start_new_thread(self._run, ())
            else:
                self.dropped += 1
        if queued:
            try:
                self._ready.release()
            except RuntimeError:  # already released: the thread will look at the queue
                pass
        elif self.dropped == 1 and self._warn is not None:
            stuck = f" (stuck writing the {self.busy})" if self.busy else ""
            self._warn(
                f"the state directory is not taking writes{stuck}: guardrun goes on watching, "
                "and drops event log, history and live file updates until it takes them again"
            )
        return queued

    def _run(self) -> None:  # pragma: no cover - the writer thread (the e2e tests run it)
        while True:
            self._ready.acquire()
            while True:
                with self._lock:
                    if not self._jobs:
                        self.busy = None
                        break
                    what, job = self._jobs.popleft()
                    self.busy, self.busy_since = what, time.monotonic()
                try:
                    job()
                except Exception:  # noqa: BLE001 - each writer keeps its own error; the thread lives
                    pass

    def idle(self) -> bool:
        with self._lock:
            return not self._jobs and self.busy is None

    def drain(self, timeout: float = CLOSE_WAIT) -> bool:
        """Wait until every write queued so far is done, ``timeout`` seconds at most.

        A marker job queued behind them wakes the caller the moment they are done (the
        jobs run in order): a run's end waits for its writes, not for a polling tick."""
        if self.idle():
            return True
        done = _thread.allocate_lock()
        done.acquire()
        with self._lock:
            queued = len(self._jobs) < self.limit  # a full queue: wait for it to go idle
            if queued:
                self._jobs.append(("the end of the queue", done.release))
        if queued:
            try:
                self._ready.release()
            except RuntimeError:
                pass
            return done.acquire(timeout=max(timeout, 0.0))
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True
