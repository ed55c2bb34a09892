"""Supervisor: ties the probe, levels, breaker, child and terminal together.

One synchronous loop per child run (see ``watch``): wait on the child's PTY,
the caller's keys and a signal wake-up pipe, with a timeout that is the next
memory sample. Signal handlers only record the signal; the loop acts on it
(as uvicorn's multiprocess supervisor does). The loop returns an ``Outcome``
and ``run`` decides: restart, exit, or stop at emergency.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from guardrun.errors import ProbeError
from guardrun.platform import TreeSample
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
    LevelTracker,
    Thresholds,
)
from guardrun.supervisor.settings import RunSettings
from guardrun.supervisor.stop import stop_tree
from guardrun.supervisor.terminal import Terminal, reset_modes
from guardrun.supervisor.tree import TREE_MARKER, Tree
from guardrun.supervisor.watch import Outcome, WatchLoop
from guardrun.ui import Reporter

if TYPE_CHECKING:
    from guardrun.supervisor.observer import Observer
from guardrun.units import format_bytes, format_duration

EXIT_EMERGENCY_STOP = 75
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


def set_subreaper() -> bool:
    """Orphans of the tree (double-forked daemons) are reparented to us, not to init."""
    from guardrun.platform.linux import PR_SET_CHILD_SUBREAPER, prctl_call

    prctl = prctl_call()
    return prctl is not None and int(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


class Supervisor(WatchLoop):
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
        self.tree = Tree(f"{self.pid}-{os.urandom(4).hex()}", self._not_ours, self._probe_failed)
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
            self.tree.open_probes(self.s.probe)
        except ProbeError as err:
            self._degrade(degrade.PROBE_LOST, f"memory cannot be watched: {err}")

    # ------------------------------------------------------------------ child
    def _start(self, argv: list[str]) -> Child:
        env = dict(self.env)
        env[TREE_MARKER] = self.tree.nonce
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
        self.tree.new_child(child.pid)
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

    def _members(self) -> list[int]:
        """Every live pid of the tree: the child's descendants and adopted orphans."""
        child = self.child
        return self.tree.members(child is not None and child.status is None)

    def _not_ours(self) -> set[int]:
        pids = {self._sentinel.pid if self._sentinel and self._sentinel.pid else -1}
        if self.obs is not None:
            pids |= self.obs.hook_pids()
        return pids

    def _probe_failed(self, failed: str, using: str, error: str) -> None:
        if not using:
            self._degrade(degrade.PROBE_LOST, f"memory cannot be watched: {error}")
            return
        self.ui.warn(f"probe {failed} failed ({error}); using {using}")
        if self.obs is not None:
            self.obs.event("probe_fallback", self, failed=failed, using=using, error=error)

    # --------------------------------------------------------------- sampling
    def _sample(self) -> TreeSample | None:
        child = self.child
        assert child is not None
        sample = self.tree.sample()
        if sample is None:
            return None
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

    def capture(self, reason: str) -> str | None:
        """Save state before acting; returns the state id, or None."""
        if self.obs is None:
            return None
        if self.child is not None and self.child.status is None:
            self._sample()  # the state records memory as it is now, not at the last poll
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
        def drain() -> None:  # what the child writes while it stops, without waiting
            self._drain(child, wait=0.0)

        stop_tree(child, self._members, self.tree.reap, self.s.grace, self.ui.detail, drain, first)
        self.tree.reap()

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
        self._sentinel = Sentinel(self.tree.marker)
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
            self.tree.close()
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
            f"{self.tree.probe.name if self.tree.probe else 'none'}"
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


__all__ = ["Supervisor", "Outcome", "exit_code", "EXIT_EMERGENCY_STOP"]
