"""Supervisor: ties the probe, levels, breaker, child and terminal together.

One synchronous loop per child run (see ``watch``): wait on the child's PTY,
the caller's keys and a signal wake-up pipe, with a timeout that is the next
memory sample. Signal handlers only record the signal; the loop acts on it
(as uvicorn's multiprocess supervisor does). The loop returns an ``Outcome``
and ``run`` decides: restart, exit, or stop at emergency.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from guardrun.errors import ProbeError
from guardrun.platform import Probe, TreeSample, available_probes
from guardrun.platform.cgroup import MemoryLimit, memory_limit
from guardrun.supervisor import degrade
from guardrun.supervisor.breaker import Breaker
from guardrun.supervisor.child import (
    Child,
    exit_code,
    spawn,
    take_foreground_back,
    window_size,
)
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
from guardrun.supervisor.stop import alive, stop_tree
from guardrun.supervisor.terminal import Terminal, reset_modes
from guardrun.ui import Reporter

if TYPE_CHECKING:
    from guardrun.supervisor.observer import Observer
from guardrun.units import format_bytes, format_duration

EXIT_EMERGENCY_STOP = 75
CHUNK = 65536
TREE_MARKER = "GUARDRUN_TREE"
PR_SET_CHILD_SUBREAPER = 36
_HANDLED = ("SIGCHLD", "SIGWINCH", "SIGTERM", "SIGHUP", "SIGINT", "SIGUSR1", "SIGUSR2")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# What runtimes print when they die of memory (V8, CPython, glibc, Go, Rust).
OOM_MESSAGES = (
    b"JavaScript heap out of memory",
    b"FATAL ERROR: Reached heap limit",
    b"MemoryError",
    b"out of memory",
    b"Out of memory",
    b"memory allocation of",
)


@dataclass
class Outcome:
    kind: str  # "exited" | "restart" | "stop"
    reason: str = ""
    signal: int = 0


def set_subreaper() -> bool:
    """Orphans of the tree (double-forked daemons) are reparented to us, not to init."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _read_environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


class Supervisor:
    def __init__(
        self,
        settings: RunSettings,
        reporter: Reporter,
        env: dict[str, str] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.obs = observer
        self.pending_title: str | None = None
        self.pending_bell = False
        self.exit_code: int | None = None
        self.s = settings
        self.ui = reporter
        self.env = dict(os.environ if env is None else env)
        self.pid = os.getpid()
        self.clock = time.monotonic
        self.breaker = Breaker(settings.policy, self.clock)
        self.mode = degrade.NORMAL
        self.restarts = 0
        self.child: Child | None = None
        self.argv = list(settings.argv)
        self.name = os.path.basename(self.argv[0])
        self._pending: list[int] = []
        self._wake_r = self._wake_w = -1
        self._probes: list[Probe] = []
        self._probe: Probe | None = None
        self._known: set[int] = set()
        self._verdicts: dict[int, bool] = {}
        self._adopted: list[int] = []
        self._sentinel: Any = None
        self._term: Terminal | None = None
        self._retry_at = 0.0
        self.output_tail = b""
        self.external: Any = None
        self._external_level = NORMAL
        self._oom: Any = None
        self._pss: Any = None
        self.last_sample: TreeSample | None = None
        self.history: list[tuple[float, int]] = []
        self.limit: MemoryLimit | None = None
        self.thresholds: Thresholds | None = None
        self.tracker: LevelTracker | None = None
        self._nonce = f"{self.pid}-{os.urandom(4).hex()}"
        self._marker = f"{TREE_MARKER}={self._nonce}".encode()

    # ----------------------------------------------------------------- set-up
    def _use_pty(self) -> bool:
        if self.s.pty is not None:
            return self.s.pty
        return os.isatty(0) and os.isatty(1)

    def _install_signals(self) -> None:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._wake_r, self._wake_w = r, w
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for name in _HANDLED:
            signal.signal(getattr(signal, name), self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._pending.append(signum)

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(-1)
        for name in _HANDLED:
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _setup_memory(self) -> None:
        self.limit = memory_limit()
        total = self.limit.bytes
        self.thresholds = Thresholds(
            self.s.warning.resolve(total),
            self.s.critical.resolve(total),
            self.s.emergency.resolve(total),
        )
        self.tracker = LevelTracker(
            self.thresholds, self.s.sustained, self.s.hysteresis, self.s.hysteresis_bytes
        )
        try:
            self._probes = available_probes(self.s.probe)
            self._probe = self._probes[0]
        except ProbeError as err:
            self._probe = None
            self._degrade(degrade.PROBE_LOST, f"memory cannot be watched: {err}")

    # ------------------------------------------------------------------ child
    def _start(self, argv: list[str]) -> Child:
        env = dict(self.env)
        env[TREE_MARKER] = self._nonce
        use_pty = self._use_pty()
        fg = None
        if not use_pty and os.isatty(0):
            fg = 0
        child = spawn(
            argv,
            use_pty=use_pty,
            env=env,
            cwd=self.s.cwd,
            winsize=window_size(0) if use_pty else None,
            foreground_fd=fg,
        )
        if child.master_fd is not None:
            os.set_blocking(child.master_fd, False)
        self.child = child
        self._known = {child.pid}
        self._verdicts = {}
        self._adopted = []
        assert self.tracker is not None
        self.tracker.reset()
        self.history = []
        self.last_sample = None
        if sys.platform.startswith("linux"):
            from guardrun.platform.cgroup_events import OomWatch

            self._oom = OomWatch(child.pid)
        if self.obs is not None:
            self.obs.started(self, child, self.restarts)
        return child

    def _adopted_roots(self) -> list[int]:
        """Orphans of the tree that the kernel handed to us as subreaper."""
        if not sys.platform.startswith("linux"):
            return []
        from guardrun.platform.linux import direct_children

        child = self.child
        skip = {child.pid if child else -1, self._sentinel.pid if self._sentinel else -1}
        if self.obs is not None:
            skip |= self.obs.hooks.pids()
        out = []
        for pid in direct_children(self.pid):
            if pid in skip:
                continue
            ours = self._verdicts.get(pid)
            if ours is None:
                # Ours when it was seen in the tree before, or carries the marker
                # every process of the tree inherits; hooks and git calls do not.
                ours = pid in self._known or _read_environ_has(pid, self._marker)
                self._verdicts[pid] = ours
            if ours:
                out.append(pid)
        return out

    def _reap_adopted(self) -> None:
        for pid in list(self._adopted):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._adopted.remove(pid)
                self._verdicts.pop(pid, None)

    def _members(self) -> list[int]:
        """Every live pid of the tree: the child's descendants and adopted orphans."""
        child = self.child
        self._adopted = self._adopted_roots()
        roots = ([child.pid] if child and child.status is None else []) + self._adopted
        if self._probe is not None:
            try:
                return self._probe.sample(roots).pids
            except ProbeError:
                pass
        return [p for p in roots if alive(p)]

    # --------------------------------------------------------------- sampling
    def _sample(self) -> TreeSample | None:
        child = self.child
        assert child is not None
        self._adopted = self._adopted_roots()
        roots = [child.pid, *self._adopted]
        while self._probe is not None:
            try:
                sample = self._probe.sample(roots)
                break
            except ProbeError as err:
                failed = self._probe
                self._probes.remove(failed)
                failed.close()
                self._probe = self._probes[0] if self._probes else None
                if self._probe is not None:
                    self.ui.warn(f"probe {failed.name} failed ({err}); using {self._probe.name}")
                    if self.obs is not None:
                        self.obs.event(
                            "probe_fallback",
                            self,
                            failed=failed.name,
                            using=self._probe.name,
                            error=str(err),
                        )
                else:
                    self._degrade(degrade.PROBE_LOST, f"memory cannot be watched: {err}")
        else:
            return None
        self._known.update(sample.pids)
        if self._sentinel is not None:
            self._sentinel.update(child.pgid, sample.pids)
        self.last_sample = sample
        self.history.append((time.time(), sample.rss))
        if len(self.history) > 120:
            del self.history[:-60]
        if self.obs is not None:
            self.obs.update_live(self)
            if self._term is not None:
                self.pending_title = self.obs.title_text(self) or self.pending_title
        return sample

    def _degrade(self, event: str, why: str) -> degrade.Transition:
        old = self.mode
        t = degrade.next_mode(self.mode, event, self.s.on_exhausted)
        self.mode = t.mode
        if t.action == "warn":
            self.ui.warn(why)
        if t.changed and self.obs is not None:
            if t.mode == degrade.NORMAL:
                self.obs.event("recovered", self, previous=old, reason=why)
            else:
                self.obs.event("degraded", self, previous=old, reason=why)
                self.obs.hook("on_degraded", self)
            self.obs.update_live(self, force=True)
        return t

    # ------------------------------------------------------------------- loop
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
        last_io = last_out = now
        tail = b""
        critical_since: float | None = None
        next_sample = now
        level = NORMAL
        read, write = os.read, os.write
        while True:
            timeout = max(0.0, next_sample - self.clock())
            try:
                events = poller.poll(timeout * 1000.0)
            except InterruptedError:
                events = []
            for fd, ev in events:
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
                    _write_all(1, data)
                    last_io = last_out = self.clock()
                    tail = data
                elif fd == stdin_fd:
                    if ev & select.POLLOUT:
                        pass
                    try:
                        data = read(fd, CHUNK)
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(fd)
                        stdin_fd = -1
                        continue
                    last_io = self.clock()
                    pending_in += data
                elif fd == self._wake_r:
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
            if self._pending:
                outcome = self._handle_signals(child)
                if outcome is not None:
                    return outcome
            if child.status is not None:
                self.output_tail = tail[-4096:] + self._drain(child)
                return Outcome("exited")
            now = self.clock()
            if now < next_sample:
                continue
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
                _write_all(1, data)
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
                self.s = replace(self.s, metric="rss")
                return sample.rss
            self._pss = PssConfirmer()
        full = self._pss.with_pss(sample)
        self.last_sample = full
        return int(full.total(self.s.metric))

    def _handle_signals(self, child: Child) -> Outcome | None:
        pending, self._pending = self._pending, []
        outcome: Outcome | None = None
        for sig in pending:
            if sig == signal.SIGCHLD:
                child.poll()
                self._reap_adopted()
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

    def _drain(self, child: Child) -> bytes:
        """Relay what the child wrote before it exited; returns the last of it."""
        fd = child.master_fd
        tail = b""
        if fd is None:
            return tail
        deadline = self.clock() + 0.5
        while self.clock() < deadline:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                r, _, _ = select.select([fd], [], [], 0.02)
                if not r:
                    break
                continue
            except OSError:
                break
            if not data:
                break
            _write_all(1, data)
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
                self,
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
            self.obs.level_changed(self, old, new, value)

    def capture(self, reason: str) -> str | None:
        """Save state before acting; returns the state id, or None."""
        if self.obs is None:
            return None
        return self.obs.capture(self, reason)

    def restart_argv(self) -> list[str]:
        """The argv for the next run (resuming the conversation when possible)."""
        if self.obs is None:
            return list(self.argv)
        return self.obs.restart_argv(self)

    # -------------------------------------------------------------- decisions
    def _clean_exit(self, child: Child) -> bool:
        """True when the child's exit is the user's or guardrun's doing, not a crash."""
        code = child.returncode
        sig = child.term_signal()
        if code == 0:
            return True
        if sig in (signal.SIGINT, signal.SIGQUIT) or code in (130, 131):
            return True  # the user's Ctrl-C or Ctrl-\
        if sig is not None and sig in child.signals_sent:
            return True
        return False

    def _stop(self, child: Child, first: int = signal.SIGTERM) -> None:
        def drain() -> None:
            if child.master_fd is not None:
                try:
                    while True:
                        data = os.read(child.master_fd, CHUNK)
                        if not data:
                            break
                        _write_all(1, data)
                except OSError:
                    pass

        def reap() -> None:
            self._reap_adopted()

        stop_tree(child, self._members, reap, self.s.grace, self.ui.detail, drain, first)
        self._reap_adopted()

    def _between_runs(self, child: Child) -> None:
        """The child is gone: the terminal is guardrun's again."""
        child.close()
        if self._term is not None:
            self._term.restore()
            if child.signals_sent or not self._clean_exit(child):
                reset_modes(1)
        elif os.isatty(0) and self.child is not None and child.master_fd is None:
            take_foreground_back(0)
        self.ui.set_drawing(False)

    def _try_restart(self, reason: str, crashed: bool) -> bool:
        """Ask restart protection; True when a restart may go ahead."""
        now = self.clock()
        decision = self.breaker.request()
        if decision.allowed:
            if self.mode != degrade.NORMAL:
                self._degrade(degrade.RESTART_ALLOWED, "")
                self.ui.info("restart protection allows a probe restart")
            return True
        self._retry_at = now + max(decision.wait, self.s.interval)
        self._event(
            "restart_refused",
            reason=reason,
            why=decision.reason,
            retry_in_s=round(decision.wait, 1),
        )
        if crashed:
            self.ui.warn(f"crash restarts exhausted: {decision.reason}")
            return False
        event = degrade.EMERGENCY_REFUSED if reason == EMERGENCY else degrade.RESTART_REFUSED
        self._degrade(
            event,
            f"restart refused ({decision.reason}); {self.name} keeps running, watched only "
            f"(next restart possible in {format_duration(decision.wait)})",
        )
        return False

    def _announce_restart(self, why: str) -> float:
        """Print why, the memory, the attempt and the cooldown; return the cooldown."""
        decision_wait = self.breaker.cooldown()
        attempt = len(self.breaker.restarts) + 1
        p = self.s.policy
        self.ui.warn(
            f"restarting {self.name}: {why} (attempt {attempt}/{p.max_attempts} within "
            f"{format_duration(p.window)}, cooldown {format_duration(decision_wait)})"
        )
        return decision_wait

    def _why(self, reason: str) -> str:
        sample = self.last_sample
        if reason in (CRITICAL, EMERGENCY) and sample is not None and self.thresholds:
            value = sample.total(self.s.metric)
            return (
                f"memory {format_bytes(value)} over {reason} "
                f"{format_bytes(self.thresholds.of(reason))} "
                f"({len(sample.procs)} process{'es' if len(sample.procs) != 1 else ''})"
            )
        if reason == "signal":
            return "asked to restart (SIGUSR1)"
        return reason

    def _cooldown(self, seconds: float) -> bool:
        """Wait out the cooldown between runs; False when the user asked to quit."""
        from guardrun.supervisor.countdown import countdown

        return countdown(
            seconds,
            f"restarting {self.name}",
            self._term,
            self._pending,
            self._wake_r,
            quiet=self.ui.quiet,
        )

    # -------------------------------------------------------------------- run
    def run(self) -> int:
        """Supervise until the command is done; returns guardrun's exit code."""
        from guardrun.supervisor.sentinel import Sentinel

        self._install_signals()
        set_subreaper()
        self._sentinel = Sentinel(self._marker)
        try:
            self._setup_memory()
            if self._use_pty() and os.isatty(0):
                self._term = Terminal(0)
            self.exit_code = self._run()
            return self.exit_code
        finally:
            child = self.child
            if child is not None and (child.status is None or self._members()):
                self._stop(child)
            if self._term is not None:
                self._term.close()
            if child is not None:
                child.close()
            self.ui.set_drawing(False)
            for probe in self._probes:
                probe.close()
            if self.external is not None:
                self.external.close()
            if self.obs is not None:
                self.obs.close(self, self.exit_code if self.exit_code is not None else 70)
            self._sentinel.done()
            self._restore_signals()

    def _run(self) -> int:
        argv = list(self.argv)
        assert self.thresholds is not None and self.limit is not None
        t = self.thresholds
        self.ui.detail(
            f"watching {' '.join(argv)}: warning {format_bytes(t.warning)}, critical "
            f"{format_bytes(t.critical)}, emergency {format_bytes(t.emergency)} "
            f"(of {format_bytes(self.limit.bytes)} {self.limit.source}); probe "
            f"{self._probe.name if self._probe else 'none'}"
        )
        while True:
            child = self._start(argv)
            if self._term is not None:
                self._term.raw()
            self.ui.set_drawing(self._term is not None)
            done, value = self._supervise(child)
            if done:
                return int(value)
            if not self._cooldown(value):
                self.ui.info(f"not restarting {self.name}: quit during the cooldown")
                code = child.returncode
                return code if code is not None else 0
            self.breaker.record_restart()
            self.restarts += 1
            argv = self.restart_argv()
            if self.obs is not None:
                self.obs.hook("on_restart", self)

    def _supervise(self, child: Child) -> tuple[bool, float]:
        """Watch one child run. (True, exit code) to exit; (False, cooldown) to restart."""
        while True:
            outcome = self.watch(child)
            if outcome.kind == "stop":
                self.ui.info(f"{outcome.reason}: stopping {self.name}")
                self.capture("stop")
                self._stop(child, outcome.signal)
                self._between_runs(child)
                code = child.returncode
                self._event("child_exited", child=child, reason=outcome.reason)
                return True, code if code is not None else 128 + outcome.signal
            if outcome.kind == "exited":
                crash = self._crash_kind(child)
                self._event("child_exited", child=child, reason=crash or "exit")
                self._stop(child)  # remnants: grandchildren, daemons
                self._between_runs(child)
                code = child.returncode
                assert code is not None
                if crash is None or not (self.s.restart and self.s.on_crash):
                    return True, code
                ran = self.clock() - child.started
                if ran < self.s.min_uptime:
                    self.ui.warn(
                        f"{self.name} failed {ran:.1f}s after starting (code {code}): "
                        "not restarting a command that fails at start"
                    )
                    return True, code
                why = self._exit_why(child, crash)
                self._event("restart_requested", reason=crash)
                if not self._try_restart(crash, crashed=True):
                    self.ui.warn(f"{why}; not restarting it")
                    return True, code
                self.capture(crash)
                return False, self._announce_restart(why)
            self._event("restart_requested", reason=outcome.reason)
            allowed = self._try_restart(outcome.reason, crashed=False)
            if self.mode == degrade.EMERGENCY_STOP:
                return True, self._emergency_stop(child)
            if not allowed:
                continue  # monitor-only: the child stays, watched
            self.capture(outcome.reason)
            self._stop(child)
            self._between_runs(child)
            return False, self._announce_restart(self._why(outcome.reason))

    def _crash_kind(self, child: Child) -> str | None:
        """None for an exit that is the user's or guardrun's doing; else "crash" or "oom"."""
        if self._clean_exit(child):
            return None
        if child.term_signal() == signal.SIGKILL and self._oom is not None:
            if self._oom.new_kills() > 0:
                return "oom"
        if any(m in self.output_tail for m in OOM_MESSAGES):
            return "oom"
        return "crash"

    def _exit_why(self, child: Child, kind: str) -> str:
        sig = child.term_signal()
        how = (
            f"exited with code {child.returncode}"
            if sig is None
            else f"was killed by {signal.Signals(sig).name}"
        )
        if kind == "oom":
            how += " (out of memory)"
        return f"{self.name} {how}"

    def _event(self, kind: str, child: Child | None = None, **fields: Any) -> None:
        if self.obs is None:
            return
        if child is not None:
            fields.update(
                child_pid=child.pid, exit_code=child.returncode, signal=child.term_signal()
            )
        self.obs.event(kind, self, **fields)

    def _emergency_stop(self, child: Child) -> int:
        state = self.capture("emergency")
        self._stop(child)
        self._between_runs(child)
        self.ui.error(
            f"stopped {self.name} at emergency memory after restarts were exhausted"
            + (f"; state saved as {state}" if state else "")
        )
        self.ui.info("resume the conversation with: guardrun state resume")
        return EXIT_EMERGENCY_STOP


def _write_all(fd: int, data: bytes) -> None:
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


__all__ = ["Supervisor", "Outcome", "exit_code", "EXIT_EMERGENCY_STOP"]
