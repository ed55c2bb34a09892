"""The loop of one child run: relay bytes both ways, sample the tree, act on signals.

It waits on the child's PTY, the caller's keys and the signal wake-up pipe at
once, with a timeout that is the next memory sample. Per chunk it does nothing
but read, write and take a timestamp (DESIGN §5: the relay alone used ~30% of a
core at full speed, so any per-chunk Python work shows). Signal handlers only
record the signal; the loop acts on it. It returns an ``Outcome`` and the
Supervisor decides what follows.

A mixin of Supervisor: it uses the supervisor's settings, tracker and observer.
"""

from __future__ import annotations

import errno
import os
import select
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from guardrun.platform import TreeSample
from guardrun.supervisor.child import Child, window_size
from guardrun.supervisor.levels import (
    CRITICAL,
    EMERGENCY,
    NORMAL,
    RANK,
    WARNING,
    LevelTracker,
    Thresholds,
    poll_interval,
)
from guardrun.supervisor.settings import RunSettings
from guardrun.ui import Reporter
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from guardrun.supervisor.observer import Observer
    from guardrun.supervisor.run import Supervisor
    from guardrun.supervisor.terminal import Terminal
    from guardrun.supervisor.tree import Tree

CHUNK = 65536
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Outcome(NamedTuple):
    kind: str  # "exited" | "restart" | "stop"
    reason: str = ""
    signal: int = 0


class WatchLoop:
    # Provided by Supervisor.
    s: RunSettings
    ui: Reporter
    obs: Observer | None
    tracker: LevelTracker | None
    thresholds: Thresholds | None
    external: Any
    clock: Callable[[], float]
    pending_title: str | None
    pending_bell: bool
    output_tail: bytes
    last_sample: TreeSample | None
    name: str
    _pending: list[int]
    _wake_r: int
    _retry_at: float
    _external_level: str
    _pss: Any
    _term: Terminal | None

    tree: Tree

    def _sample(self) -> TreeSample | None:
        raise NotImplementedError

    def _supervisor(self) -> Supervisor:
        return cast("Supervisor", self)

    def capture(self, reason: str) -> str | None:
        raise NotImplementedError

    def watch(self, child: Child) -> Outcome:
        """Relay and sample until the child exits or something must be done."""
        assert self.tracker is not None and self.thresholds is not None
        master = child.master_fd
        stdin_fd = 0 if (master is not None and os.isatty(0)) else -1
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if master is not None:
            poller.register(master, select.POLLIN)
        if stdin_fd >= 0:
            poller.register(stdin_fd, select.POLLIN)
        pending_in = b""
        now = self.clock()
        last_in = last_out = now
        tail = b""
        critical_since: float | None = None
        next_sample = now
        level = NORMAL
        # The hot path: locals only, one clock read per wake-up and one per chunk.
        read, write, clock, poll = os.read, os.write, self.clock, poller.poll
        pending, wake = self._pending, self._wake_r
        while True:
            now = clock()
            try:
                events = poll(max(0.0, next_sample - now) * 1000.0)
            except InterruptedError:
                events = []
            for fd, _ev in events:
                if fd == master:
                    try:
                        data = read(fd, CHUNK)
                    except BlockingIOError:
                        continue
                    except OSError:  # EIO: the child's side closed
                        data = b""
                    if not data:
                        poller.unregister(fd)
                        master = None
                        continue
                    n = write(1, data)
                    if n != len(data):
                        write_all(1, data[n:])
                    last_out = clock()
                    tail = data
                elif fd == stdin_fd:
                    try:
                        data = read(fd, CHUNK)
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(fd)
                        stdin_fd = -1
                        continue
                    last_in = clock()
                    pending_in += data
                elif fd == wake:
                    try:
                        while read(fd, 512):
                            pass
                    except OSError:
                        pass
            if pending_in and master is not None:
                try:
                    n = write(master, pending_in)
                    pending_in = pending_in[n:]
                except BlockingIOError:
                    pass
                except OSError:
                    pending_in = b""
                if pending_in:
                    # The child is not reading: wake when it can take more.
                    poller.modify(master, select.POLLIN | select.POLLOUT)
                else:
                    poller.modify(master, select.POLLIN)
            if pending:
                outcome = self._handle_signals(child)
                if outcome is not None:
                    return outcome
            if child.status is not None:
                self.output_tail = tail[-4096:] + self._drain(child)
                return Outcome("exited")
            if now < next_sample:
                continue
            now = clock()
            last_io = max(last_in, last_out)
            sample = self._sample()
            if sample is None:
                next_sample = now + self.s.interval
                continue
            if (self.pending_title or self.pending_bell) and master is not None:
                # Between the child's frames only (quiet 50 ms), never inside one
                # of its escape sequences.
                if now - last_out >= 0.05:
                    self._notify_terminal()
            value = self._value(sample)
            new = self.tracker.update(value)
            if new != level:
                self._level_changed(level, new, value)
                level = new
            acting, reason = level, level
            if self.external is not None:
                ext = self.external.check(now, sample.pids)
                if ext.level != self._external_level:
                    self._external_changed(ext)
                if ext.level == CRITICAL and RANK[level] < RANK[CRITICAL]:
                    acting, reason = CRITICAL, ext.source
            if RANK[acting] < RANK[CRITICAL]:
                critical_since = None
            elif critical_since is None:
                critical_since = now
            next_sample = now + poll_interval(acting, self.s.interval)
            if not self.s.restart or now < self._retry_at:
                continue
            if acting == EMERGENCY:
                return Outcome("restart", EMERGENCY)
            if acting == CRITICAL and critical_since is not None:
                quiet = now - (last_io if master is not None else critical_since)
                if quiet >= self.s.idle_quiet or now - critical_since >= self.s.idle_wait:
                    return Outcome("restart", reason)

    def _notify_terminal(self) -> None:
        from guardrun.notify import title_bytes

        data = b""
        if self.pending_title and self.obs is not None and self.obs.cfg.notify.title:
            data += title_bytes(self.pending_title)
        if self.pending_bell and self.obs is not None and self.obs.cfg.notify.bell:
            data += b"\x07"
        self.pending_title, self.pending_bell = None, False
        if data:
            try:
                write_all(1, data)
            except OSError:
                pass

    def _value(self, sample: TreeSample) -> int:
        """The number levels are judged on (RSS; PSS/USS confirmed when near a threshold)."""
        if self.s.metric == "rss":
            return sample.rss
        assert self.thresholds is not None
        # USS <= PSS <= RSS: under the lowest threshold in play, RSS settles it cheaply.
        if sample.rss < self.thresholds.warning * (1 - self.s.hysteresis):
            return sample.rss
        if self._pss is None:
            from guardrun.platform.smaps import PssConfirmer, supported

            if not supported():
                self.ui.warn(f"metric {self.s.metric} needs /proc smaps_rollup: using rss")
                self.s = self.s._replace(metric="rss")
                return sample.rss
            self._pss = PssConfirmer()
        full = self._pss.with_pss(sample)
        self.last_sample = full
        return int(full.total(self.s.metric))

    def _handle_signals(self, child: Child) -> Outcome | None:
        # The handlers append to this very list (the loop holds it): take in place.
        pending = self._pending[:]
        del self._pending[: len(pending)]
        outcome: Outcome | None = None
        for sig in pending:
            if sig == signal.SIGCHLD:
                child.poll()
                self.tree.reap()
            elif sig == signal.SIGWINCH:
                size = window_size(0)
                if size is not None and child.master_fd is not None:
                    import fcntl
                    import termios

                    try:
                        fcntl.ioctl(child.master_fd, termios.TIOCSWINSZ, size)
                    except OSError:
                        pass
            elif sig in STOP_SIGNALS:
                outcome = Outcome("stop", f"received {signal.Signals(sig).name}", sig)
            elif sig == signal.SIGUSR1 and outcome is None:
                outcome = Outcome("restart", "signal")
            elif sig == signal.SIGUSR2:
                self.capture("manual")
        return outcome

    def _drain(self, child: Child, wait: float = 0.02) -> bytes:
        """Relay what the child has written and not yet relayed; returns the last of it.

        ``wait``: how long to wait for more once the PTY is empty (a child that just
        exited may still have output in flight); 0 returns at once.
        """
        fd = child.master_fd
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
            write_all(1, data)
            tail = (tail + data)[-4096:]
        return tail

    def _external_changed(self, ext: Any) -> None:
        self._external_level = ext.level
        if ext.level == NORMAL:
            self.ui.detail("the machine has memory to spare again")
        elif ext.level == CRITICAL:
            self.ui.warn(f"{ext.reason}: {self.name} will be restarted at its next quiet moment")
        else:
            self.ui.warn(ext.reason)
        if self.obs is not None:
            self.obs.event(
                "level_changed",
                self._supervisor(),
                source=ext.source or "system",
                level=ext.level,
                reason=ext.reason,
            )

    def _level_changed(self, old: str, new: str, value: int) -> None:
        assert self.thresholds is not None
        arrow = "▲" if RANK[new] > RANK[old] else "▼"
        if new == NORMAL:
            text = f"{self.name}: memory {format_bytes(value)} {arrow} back to normal"
        else:
            text = (
                f"{self.name}: memory {format_bytes(value)} {arrow} {new} "
                f"(threshold {format_bytes(self.thresholds.of(new))})"
            )
        if RANK[new] > RANK[old] and new in (WARNING, CRITICAL, EMERGENCY):
            self.ui.warn(text)
        else:
            self.ui.detail(text)
        if self.obs is not None:
            self.obs.level_changed(self._supervisor(), old, new, value)


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
