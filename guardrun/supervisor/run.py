"""Supervisor: one synchronous loop that composes parts which do not know each other.

The relay moves bytes; the tree and its probe say what the memory is; the level
tracker, the breaker and ``decide`` turn numbers into decisions (pure, clock
injected); the observer records and reports what happened, from ``RunStatus``
snapshots. Signals are recorded by their handlers and acted on here, from one
table (``signals.TABLE``). ``watch`` returns an ``Outcome`` for one child run, and
``run`` decides what follows: restart, exit, or stop at emergency.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, NamedTuple, Protocol

from guardrun.errors import EXIT_EMERGENCY_STOP, ProbeError
from guardrun.platform import set_subreaper
from guardrun.platform.cgroup import MemoryLimit
from guardrun.platform.cgroup_events import OomWatch
from guardrun.platform.signums import signal
from guardrun.platform.types import TreeSample
from guardrun.supervisor import decide, degrade
from guardrun.supervisor.child import (
    Child,
    give_foreground,
    spawn,
    take_foreground_back,
    window_size,
)
from guardrun.supervisor.levels import CRITICAL, EMERGENCY, NORMAL
from guardrun.supervisor.memory import MemoryWatch, Pressure
from guardrun.supervisor.protection import Protection
from guardrun.supervisor.relay import Relay
from guardrun.supervisor.settings import RunSettings
from guardrun.supervisor.signals import Signals, name_of
from guardrun.supervisor.status import RunStatus
from guardrun.supervisor.stop import stop_tree
from guardrun.supervisor.terminal import HANGUP, RESET_MODES, Terminal, hung_up
from guardrun.supervisor.tree import TREE_MARKER, Tree
from guardrun.ui import Reporter
from guardrun.units import format_bytes, format_duration, format_eta, format_rate

if TYPE_CHECKING:
    from collections.abc import Callable

    from guardrun.fleet.turns import Shared, Turns
    from guardrun.observe.observer import Observer
    from guardrun.supervisor.jobs import StoppedWatch

BUDGET, SYSTEM = decide.BUDGET, decide.SYSTEM

PROBE_RETRY = 10  # unwatched: try the backends again every this many poll intervals
LEASE_SLACK = 60.0  # a shared restart's lease lasts the grace and this (a hung holder)
# A crash's state is saved once the new child has drawn its first output, or this long
# after its start: the capture's Python work (and its thread's hold on the GIL) would
# otherwise delay relaying that first output, the end of the user's wait.
CAPTURE_AFTER = 0.1


class Outcome(NamedTuple):
    kind: str  # "exited" | "restart" | "stop"
    reason: str = ""
    signal: int = 0


class Lease(Protocol):
    """One shared restart at a time: ``lease.Lease``."""

    held: bool

    def acquire(self, seconds: float) -> bool: ...
    def release(self) -> None: ...


class Watchdog(Protocol):
    """Ends the tree if guardrun is SIGKILLed, or over emergency while the loop has not
    sampled for a while: ``supervisor.sentinel.Sentinel``."""

    pid: int | None

    def update(self, pgid: int, pids: list[int]) -> None: ...
    def arm(self, interval: float, emergency: int, **where: object) -> None: ...
    def beat(self) -> None: ...
    def pause(self) -> None: ...
    def done(self) -> None: ...


class Supervisor:
    def __init__(
        self,
        settings: RunSettings,
        reporter: Reporter,
        *,
        observer: Observer,
        external: Pressure | None = None,
        limit: MemoryLimit,
        sentinel: Callable[[bytes], Watchdog] | None = None,
        clock: Callable[[], float] = time.monotonic,
        env: dict[str, str] | None = None,
        machine: Shared | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.s = settings
        self.ui = reporter
        self.obs = observer
        self.external = external
        self.limit = limit
        self.clock = clock
        self.env = dict(os.environ if env is None else env)
        self.name = os.path.basename(settings.argv[0])
        self.protection = Protection(
            settings.policy, settings.interval, settings.on_exhausted, clock
        )
        self.signals = Signals()
        self.relay = Relay(-1, clock)
        self.tree = Tree(f"{os.getpid()}-{os.urandom(4).hex()}", self._not_ours, self._probe_failed)
        self.mem = MemoryWatch(settings, limit, self.tree, external, reporter.warn)
        self._sentinel_factory = sentinel
        self._sentinel: Watchdog | None = None
        self._told: object = None  # the procs tuple the sentinel was last told of
        self.restarts = 0
        self.child: Child | None = None
        self.exit_code: int | None = None
        self.output_tail = b""
        self._term: Terminal | None = None
        self._probe_retry_at = 0.0
        self._fresh = False  # the next start is a new conversation, not a counted restart
        self._deferred: tuple[RunStatus, str] | None = None  # a crash's capture, for later
        self._later: tuple[RunStatus, str] | None = None  # ... once the next child is up
        self._hook_later = False  # on_restart waits for that state (GUARDRUN_STATE_FILE)
        self._oom: OomWatch | None = None
        self.lease = lease  # one budget or machine restart at a time, across runs
        self.machine = machine  # the other runs of this user (the budget, their files)
        self.turns: Turns | None = None  # ... and who gives way: made when first needed
        # Job control (``jobs``): guardrun followed the child's stop and has not continued
        # it yet; the stop last acted on; the watch while guardrun is stopped.
        self.suspended = False
        self._seen_stop: int | None = None
        self.watcher: StoppedWatch | None = None

    # ------------------------------------------------------------ the snapshot
    def status(self, full: bool = False) -> RunStatus:
        """The snapshot; ``full`` adds the breaker's whole snapshot (states record it),
        which the per-sample readers (live file, title) do without."""
        child = self.child
        breaker = self.protection.breaker
        nxt = breaker.next_allowed()
        exit_status = None
        if child is not None and child.status is not None:
            sig = child.term_signal()
            exit_status = -sig if sig is not None else child.returncode
        mem = self.mem
        est = mem.estimate
        return RunStatus(
            name=self.name,
            metric=mem.metric,
            mode=self.protection.mode,
            level=mem.level,
            restarts=self.restarts,
            child_pid=child.pid if child else None,
            child_argv=child.argv if child else self.s.argv,
            child_started_wall=child.started_wall if child else None,
            child_exit=exit_status,
            sample=mem.last_sample,
            history=mem.history,
            thresholds=mem.thresholds,
            cgroup_dir=self.limit.cgroup_dir,
            breaker=breaker.snapshot() if full else {"state": breaker.state},
            next_restart_at=None if nxt is None else time.time() + nxt - self.clock(),
            env=self.env,
            child_title=self.relay.child_title,
            priority=self.s.priority,
            idle_since=self._idle_since(),
            passed=self.turns.passed if self.turns is not None else False,
            stopped=name_of(child.stopped) if child and child.stopped else None,
            budget=self.machine.budget if self.machine is not None else None,
            machine_level=mem.external_level,
            growth=est.rate,
            eta_critical=est.eta_critical,
            eta_emergency=est.eta_emergency,
        )

    def _idle_since(self) -> float | None:
        """Wall time of the child's last output or the user's last key (None: no PTY)."""
        if self.child is None or self.child.master_fd is None:
            return None
        return time.time() - (self.clock() - self.relay.last_io)

    def _event(self, kind: str, child: Child | None = None, **fields: object) -> None:
        if child is not None:
            fields.update(
                child_pid=child.pid, exit_code=child.returncode, signal=child.term_signal()
            )
        self.obs.event(kind, self.status(), **fields)

    # ------------------------------------------------------------------ child
    def _use_pty(self) -> bool:
        if self.s.pty is not None:
            return self.s.pty
        return os.isatty(0) and os.isatty(1)

    def _start(self, argv: list[str]) -> Child:
        env = dict(self.env)
        env[TREE_MARKER] = self.tree.nonce
        use_pty = self._use_pty()
        child = spawn(
            argv,
            use_pty=use_pty,
            env=env,
            cwd=self.s.cwd,
            winsize=window_size(0) if use_pty else None,
            foreground_fd=0 if not use_pty and os.isatty(0) else None,
        )
        self.child = child
        self.suspended, self._seen_stop = False, None
        self.mem.new_child(child.pid)
        self.relay.attach(child.master_fd, keys=os.isatty(0))
        self._oom = OomWatch(child.pid)  # no memory cgroup (not Linux): counts nothing
        self.obs.started(self.status())
        return child

    def _members(self) -> list[int]:
        """Every live pid of the tree that a stop may end (the child's descendants and
        adopted orphans, less what the agent shares with other runs)."""
        child = self.child
        pids = self.tree.members(child is not None and child.status is None)
        spared = self.obs.spared(pids)
        return [p for p in pids if p not in spared] if spared else pids

    def _not_ours(self) -> set[int]:
        """guardrun's own helpers among its children: the sentinel, the child's monitor
        (PTY mode), the watch while stopped, hooks."""
        pids = {self._sentinel.pid if self._sentinel and self._sentinel.pid else -1}
        if self.child is not None and self.child.monitor is not None:
            pids.add(self.child.monitor)
        if self.watcher is not None and self.watcher.pid is not None:
            pids.add(self.watcher.pid)
        return pids | self.obs.hook_pids()

    def _stop(self, child: Child, first: int = signal.SIGTERM) -> None:
        if self._sentinel is not None:
            self._sentinel.pause()  # guardrun stops the tree itself: not a stall

        def drain() -> None:  # what the child writes while it stops, without waiting
            self.relay.drain(child.master_fd, wait=0.0)

        stop_tree(child, self._members, self.tree.reap, self.s.grace, self.ui.detail, drain, first)
        self.tree.reap()

    def _between_runs(self, child: Child) -> None:
        """The child is gone: the terminal is guardrun's again."""
        self.relay.detach()
        child.close()
        if self._term is not None:
            # A terminal that is behind stays raw until it has taken the child's output:
            # its modes apply to bytes as they are written.
            if not self.relay.behind:
                self._term.restore()
            if child.signals_sent or not self._clean(child):
                self.relay.put(RESET_MODES)  # after the child's output, never blocking
        elif os.isatty(0) and child.master_fd is None:
            take_foreground_back(0, child.pgid)
        self.ui.set_drawing(False)

    def _clean(self, child: Child) -> bool:
        return decide.clean_exit(child.returncode, child.term_signal(), child.signals_sent)

    # --------------------------------------------------------------- memory
    def _probe_failed(self, failed: str, using: str, error: str) -> None:
        if not using:
            self._degrade(degrade.PROBE_LOST, f"memory cannot be watched: {error}")
            return
        self.ui.warn(f"probe {failed} failed ({error}); using {using}")
        self._event("probe_fallback", failed=failed, using=using, error=error)

    def _sample(self) -> TreeSample | None:
        child = self.child
        assert child is not None
        if self.protection.mode == degrade.UNWATCHED and not self._probe_again():
            return None
        sample = self.mem.sample()
        if sample is None:
            return None
        # A tree that stood still comes back as the same tuple (the probe): nothing to tell.
        if self._sentinel is not None and sample.procs is not self._told:
            self._told = sample.procs
            self._sentinel.update(child.pgid, sample.pids)
        return sample

    def _probe_again(self) -> bool:
        """Unwatched: every PROBE_RETRY intervals, try the backends again."""
        now = self.clock()
        if now < self._probe_retry_at:
            return False
        self._probe_retry_at = now + PROBE_RETRY * self.s.interval
        try:
            probe = self.mem.probe_again()
        except ProbeError as err:
            self.ui.detail(f"memory still cannot be watched: {err}")
            return False
        self._degrade(degrade.PROBE_BACK, f"memory can be watched again (probe {probe})")
        return self.protection.mode == degrade.NORMAL

    def _degrade(self, event: str, why: str) -> None:
        self._mode_changed(self.protection.change(event), why)

    def _mode_changed(self, t: degrade.Transition, why: str) -> None:
        if t.action == "warn":
            self.ui.warn(why)
        elif t.changed and t.mode == degrade.NORMAL and why:
            self.ui.info(why)
        if not t.changed:
            return
        st = self.status()
        if t.mode == degrade.NORMAL:
            self.obs.event("recovered", st, previous=t.previous, reason=why)
        else:
            self.obs.event("degraded", st, previous=t.previous, reason=why)
            self.obs.hook("on_degraded", st)
        self.obs.update_live(st, force=True)

    def capture(self, reason: str) -> str | None:
        """Save state before acting; returns the state id, or None."""
        if self.child is not None and self.child.status is None:
            self._sample()  # the state records memory as it is now, not at the last poll
        return self.obs.capture(self.status(full=True), reason)

    # ------------------------------------------------------------- the loop
    def watch(self, child: Child) -> Outcome:
        """Relay and sample until the child exits or something must be done."""
        relay, clock, s = self.relay, self.clock, self.s
        decider = decide.Decider(
            decide.Moment(s.idle_quiet, s.idle_wait, s.plan_ahead, s.idle), s.max_growth
        )
        next_sample = clock()
        growing = False  # the growth rate is over max_growth (acting as critical)
        while True:
            until = next_sample
            if self._later is not None:  # a crash's state, once this child is up
                if relay.tail or clock() >= child.started + CAPTURE_AFTER:
                    self._capture_later()
                else:
                    until = min(until, child.started + CAPTURE_AFTER)
            relay.pump(until)
            if relay.hangup:  # EIO on the caller's terminal: nobody is there any more
                return Outcome("stop", HANGUP, signal.SIGHUP)
            if self.signals.pending:
                outcome = self._on_signals(child)
                if outcome is not None:
                    return outcome
            if child.stopped != self._seen_stop and child.status is None:
                self._job_changed(child)
            if child.status is not None:
                self.output_tail = relay.tail[-4096:] + relay.drain(child.master_fd)
                return Outcome("exited")
            now = clock()
            if now < next_sample:
                continue
            if self._sentinel is not None:
                self._sentinel.beat()  # the dead man's switch: the loop samples
            sample = self._sample()
            if sample is None:
                next_sample = now + s.interval
                continue
            relay.flush()
            tick = self.mem.judge(sample, now)
            self.obs.sampled(self.status())  # judged: the level and trend of this sample
            if tick.level != tick.previous:
                st = self.status(full=True)  # a warning captures a state
                self.obs.level_changed(st, tick.previous, tick.level, tick.value)
            ext = tick.external
            if ext is not None and tick.external_changed:
                self.obs.external_changed(self.status(), ext.level, ext.source, ext.reason)
            est = self.mem.estimate
            ext_level = ext.level if ext else NORMAL
            turn = self._turn(ext_level == CRITICAL)
            acting = decider.level(tick.level, ext_level, ext.source if ext else "", est, now, turn)
            if (acting.reason == decide.GROWTH) != growing:
                growing = not growing
                self._growth_changed(growing)
            next_sample = now + self.mem.next_delay(acting.level)
            if not s.restart or not self.protection.may_ask(now):
                continue
            last_io = relay.last_io if child.master_fd is not None else None
            reason = decider.restart(acting, now, last_io, est, stopped=child.stopped is not None)
            if reason is not None and acting.reason in (BUDGET, SYSTEM):
                reason = acting.reason  # the machine's turn, even at a planned moment
                if self.lease is not None and not self.lease.acquire(s.grace + LEASE_SLACK):
                    continue  # another run is restarting for the machine: look again later
            if reason is not None:
                return Outcome("restart", reason)

    def _turn(self, machine_critical: bool) -> str | None:
        """This run's turn to give way for the machine (``turns.Turns``), once a budget is
        set or the machine has been critical; None when nothing is shared."""
        machine = self.machine
        if machine is None or (
            self.turns is None and machine.budget is None and not machine_critical
        ):
            return None
        if self.turns is None:
            from guardrun.fleet.turns import Turns  # most runs never share: lazily

            self.turns = Turns(machine, os.getpid(), self.name, self._event, self.ui.warn)
        return self.turns.turn(machine_critical)

    def _growth_changed(self, growing: bool) -> None:
        st = self.status()
        if growing:
            self.ui.warn(f"{self._why(decide.GROWTH)}: treated as critical")
        self.obs.event(
            "level_changed", st, source=decide.GROWTH, level=CRITICAL if growing else st.level
        )
        self.obs.trend(st)

    def _on_signals(self, child: Child) -> Outcome | None:
        outcome: Outcome | None = None
        for sig, what in self.signals.take():
            if what == "child":
                child.poll()
                self.tree.reap()
            elif what == "resize":
                self._resize(child)
            elif what == "stop":
                hup = sig == signal.SIGHUP and hung_up(0)  # the terminal went, not a kill -HUP
                outcome = Outcome("stop", HANGUP if hup else f"received {name_of(sig)}", sig)
            elif what == "restart" and outcome is None:
                outcome = Outcome("restart", "signal")
            elif what == "capture":
                self.capture("manual")
            elif what == "continued" and self.suspended:
                self._resume(child)  # fg (or bg) after guardrun stopped with the child
            elif what == "suspend" and child.status is None and child.stopped is None:
                from guardrun.supervisor import jobs

                # guardrun follows once the child has stopped; in an orphaned group the
                # kernel would discard this stop for guardrun, and so does guardrun.
                if not jobs.group_orphaned():
                    child.killpg(signal.SIGTSTP)
            elif what in ("forward", "continued") and child.status is None:
                # Sent on the sender's behalf: a child it ends has not crashed.
                child.signals_sent.append(sig)
                child.killpg(sig)
        return outcome

    # ------------------------------------------------------------ job control
    def _job_changed(self, child: Child) -> None:
        """The child stopped or was continued (its monitor or ``waitpid`` says)."""
        from guardrun.supervisor import jobs  # a stop is rare: not on the start path

        sig = self._seen_stop = child.stopped
        self.obs.update_live(self.status(), force=True)  # `status` says so; budgets skip it
        if sig is None:
            if self.suspended:  # continued by someone else: the job is guardrun's again
                self.suspended = False
            self._event("child_continued")
            return
        self._event("child_stopped", signal=name_of(sig))
        if not jobs.group_orphaned():
            self._suspend(child, sig)
        elif sig in jobs.JOB_STOPS:
            # The kernel would discard this stop sent to guardrun's orphaned group (PID 1,
            # a session leader): nobody could continue the job. So does guardrun.
            self.ui.detail(f"{self.name} stopped ({name_of(sig)}) with no job control: continued")
            child.killpg(signal.SIGCONT)

    def _suspend(self, child: Child, sig: int) -> None:
        """Stop guardrun with the child's signal, so that the shell shows the job stopped;
        returns once guardrun is continued."""
        from guardrun.supervisor import jobs

        self.suspended = True
        if self._sentinel is not None:
            self._sentinel.pause()  # stopped on purpose: its own watch wakes it at emergency
        self.obs.suspended()  # the caller's title back, queued
        self.relay.flush(force=True)
        if self._term is not None:
            self._term.restore()
        self.obs.update_live(self.status(), force=True)
        if self.watcher is None:
            self.watcher = jobs.StoppedWatch()
        probe, metric = self.tree.probe, self.mem.metric
        if probe is not None and self.protection.mode != degrade.UNWATCHED:
            self.tree.members(child_alive=True)  # the orphans adopted by now, as roots
            roots = [child.pid, *self.tree.adopted]

            def total() -> int | None:
                try:
                    return probe.sample(roots).total(metric)
                except ProbeError:
                    return None

            self.watcher.start(total, self.mem.thresholds.emergency, self.s.interval)
        self.ui.set_drawing(False)
        jobs.stop_self(sig)
        self.watcher.end()
        self._resume(child)

    def _resume(self, child: Child) -> None:
        """In the terminal's foreground: take the terminal back and continue the child.
        In the background (``bg``, or woken at emergency): the child stays stopped and
        guardrun watches, without the terminal's keys, until ``fg``."""
        from guardrun.supervisor import jobs

        if child.status is not None:
            self.suspended = False
            return
        if not jobs.in_foreground(0):
            self.relay.listen_keys(False)
            return
        self.suspended = False
        if self._term is not None:
            self._term.resave()  # what the shell left is what to put back at the end
            self._term.raw()
            self.ui.set_drawing(True)
        elif os.isatty(0):
            give_foreground(0, child.pgid)
        self.relay.listen_keys(True)
        self._resize(child)
        child.killpg(signal.SIGCONT)

    def _wait_foreground(self) -> None:
        """A restart due while guardrun runs in the background waits for ``fg``: the new
        child draws on the caller's terminal. The kernel stops a background job that
        writes its terminal's modes; guardrun asks for that stop itself, before spawning."""
        if self._term is None:
            return  # no PTY: a background child is stopped by the kernel, and guardrun follows
        from guardrun.supervisor import jobs

        while not jobs.in_foreground(0):
            if jobs.group_orphaned():
                return
            self.ui.info(f"{self.name} restarts when guardrun is in the foreground again (fg)")
            jobs.stop_self(signal.SIGTTOU)

    def _resize(self, child: Child) -> None:
        size = window_size(0)
        if size is not None and child.master_fd is not None:
            import fcntl
            import termios

            try:
                fcntl.ioctl(child.master_fd, termios.TIOCSWINSZ, size)
            except OSError:
                pass

    # ------------------------------------------------------- restart protection
    def _try_restart(self, reason: str, crashed: bool) -> bool:
        """Ask restart protection; True when a restart may go ahead."""
        v = self.protection.ask(reason, crashed, self.name)
        if not v.allowed:
            self._event("restart_refused", reason=reason, why=v.why, retry_in_s=round(v.wait, 1))
            if crashed:
                self.ui.warn(f"crash restarts exhausted: {v.why}")
        if v.transition is not None:
            self._mode_changed(v.transition, v.message)
        return v.allowed

    def _why(self, reason: str) -> str:
        sample = self.mem.last_sample
        if reason in (CRITICAL, EMERGENCY) and sample is not None:
            value = sample.total(self.mem.metric)
            n = len(sample.procs)
            return (
                f"memory {format_bytes(value)} over {reason} "
                f"{format_bytes(self.mem.thresholds.of(reason))} "
                f"({n} process{'es' if n != 1 else ''})"
            )
        if reason == "signal":
            return "asked to restart (SIGUSR1)"
        est = self.mem.estimate
        if reason in (decide.PLANNED, decide.GROWTH) and sample is not None:
            size = format_bytes(sample.total(self.mem.metric))
            rate = format_rate(est.rate) if est.rate is not None else "no trend"
            if reason == decide.GROWTH and self.s.max_growth is not None:
                over = format_rate(self.s.max_growth)
                return f"memory {size} growing {rate}, faster than max_growth {over}"
            ahead = (
                f"emergency in {format_eta(est.eta_emergency)}"
                if est.eta_emergency is not None
                else "critical"
            )
            idle = format_duration(self.s.idle)
            return f"planned at an idle moment ({idle}): memory {size} {rate}, {ahead}"
        return reason

    def _exit_why(self, child: Child, kind: str) -> str:
        sig = child.term_signal()
        how = (
            f"exited with code {child.returncode}"
            if sig is None
            else f"was killed by {name_of(sig)}"
        )
        return f"{self.name} {how}" + (" (out of memory)" if kind == "oom" else "")

    def _announce(self, why: str, asked: bool = False) -> float:
        text, wait = self.protection.announce(self.name, why, asked)
        self.ui.warn(text)
        return wait

    def _cooldown(self, seconds: float) -> bool:
        """Wait out the cooldown between runs; False when the user asked to quit."""
        if seconds <= 0:
            return True  # the first restart: nothing to wait, nothing to import
        from guardrun.supervisor.countdown import countdown

        quiet = self.ui.quiet or self.relay.behind  # a terminal not reading: no countdown
        return countdown(seconds, f"restarting {self.name}", self._term, self.signals, quiet=quiet)

    # -------------------------------------------------------------------- run
    def run(self) -> int:
        """Supervise until the command is done; returns guardrun's exit code."""
        self.signals.install()
        self.relay.wake_fd = self.signals.wake_fd
        set_subreaper()
        if self._sentinel_factory is not None:
            self._sentinel = self._sentinel_factory(self.tree.marker)
        try:
            try:
                self.tree.open_probes(self.s.probe)
            except ProbeError as err:
                self._degrade(degrade.PROBE_LOST, f"memory cannot be watched: {err}")
            if self._sentinel is not None:  # its last resort: see sentinel.py
                probe = self.tree.probe.name if self.tree.probe else ""
                self._sentinel.arm(
                    self.s.interval, self.mem.thresholds.emergency, metric=self.mem.metric,
                    probe=probe, grace=self.s.grace, **self.obs.last_resort(),
                )  # fmt: skip
            if self._use_pty() and os.isatty(0):
                self._term = Terminal(0)
                self.obs.attach_terminal(self.relay.put, self.relay.put_title)
                term = self._term
                self.ui.use_terminal(self.relay.put_text, raw=lambda: term.raw_on)
            self.exit_code = self._run()
            return self.exit_code
        finally:
            self._capture_later()
            child = self.child
            if child is not None and (child.status is None or self._members()):
                self._stop(child)
            self.relay.finish()  # what the terminal has not taken yet, before its modes
            if self._term is not None:
                self._term.close()
            if child is not None:
                child.close()
            self.ui.set_drawing(False)
            self.mem.close()
            self.obs.close(self.status(), self.exit_code if self.exit_code is not None else 70)
            self.relay.close()  # the title the terminal had, put back
            self.ui.use_terminal(None)
            if self._sentinel is not None:
                self._sentinel.done()
            if self.lease is not None:
                self.lease.release()
            self.signals.restore()

    def _run(self) -> int:
        argv = self.obs.launch_argv()
        t = self.mem.thresholds
        shown = " ".join(self.obs.shown(argv))  # scrubbed: -v and --log-file show it
        self.ui.detail(
            f"watching {shown}: warning {format_bytes(t.warning)}, critical "
            f"{format_bytes(t.critical)}, emergency {format_bytes(t.emergency)} "
            f"(of {format_bytes(self.limit.bytes)} {self.limit.source}); probe "
            f"{self.tree.probe.name if self.tree.probe else 'none'}"
        )
        deferred: tuple[RunStatus, str] | None = None
        restarted = False
        while True:
            child = self._start(argv)
            if self.lease is not None and self.lease.held:
                self.lease.release()  # the new child is up: the next run may go
            if deferred is not None:  # a crash's state, saved once the new child is up
                self._later, deferred = deferred, None
            if restarted and self._later is not None:
                self._hook_later = True
            elif restarted:
                self.obs.hook("on_restart", self.status())
            if self._term is not None:
                self._term.raw()
            self.ui.set_drawing(self._term is not None)
            done, value = self._supervise(child)
            self._capture_later()  # the child ended before it was saved
            deferred, self._deferred = self._deferred, None
            if done:
                return int(value)
            if self._fresh:  # the agent refused to resume: a new conversation, at once
                self._fresh = False
                self.restarts += 1
                argv = self.obs.launch_argv()
                continue
            self._wait_foreground()
            if not self._cooldown(value):
                self.ui.info(f"not restarting {self.name}: quit during the cooldown")
                if deferred is not None:
                    self.obs.capture(*deferred)
                # The user interrupted the restart (was the old child's 143), or hung up.
                return 128 + signal.SIGHUP if hung_up(0) else 130
            self.protection.record_restart()
            self.restarts += 1
            argv = self.obs.restart_argv(deferred[0] if deferred is not None else self.status())
            restarted = True

    def _capture_later(self) -> None:
        if self._later is not None:
            later, self._later = self._later, None
            self.obs.capture(*later)
        if self._hook_later:
            self._hook_later = False
            self.obs.hook("on_restart", self.status())

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
                if outcome.reason == HANGUP:  # 128+SIGHUP, whatever the child made of it
                    return True, 128 + signal.SIGHUP
                return True, code if code is not None else 128 + outcome.signal
            if outcome.kind == "exited":
                return self._exited(child)
            self._event("restart_requested", reason=outcome.reason)
            self.obs.trend(self.status())
            allowed = self._try_restart(outcome.reason, crashed=False)
            if self.protection.mode == degrade.EMERGENCY_STOP:
                return True, self._emergency_stop(child)
            if not allowed:
                if outcome.reason in (BUDGET, SYSTEM) and self.turns is not None:
                    self._pass_turn(outcome.reason)
                continue  # monitor-only: the child stays, watched
            self.capture(outcome.reason)
            self._stop(child)
            self._between_runs(child)
            asked = outcome.reason == "signal"  # SIGUSR1, `guardrun restart`: never delayed
            return False, self._announce(self._why(outcome.reason), asked)

    def _exited(self, child: Child) -> tuple[bool, float]:
        oom_kills = self._oom.new_kills() if self._oom is not None else 0
        crash = decide.exit_kind(
            child.returncode, child.term_signal(), child.signals_sent, oom_kills, self.output_tail
        )
        self._event("child_exited", child=child, reason=crash or "exit")
        self._stop(child)  # remnants: grandchildren, daemons
        self._between_runs(child)
        code = child.returncode
        assert code is not None
        ran = self.clock() - child.started
        if crash is not None and self.obs.resume_refused(code, ran):
            self.ui.warn(
                f"{self.name} could not resume its conversation (exit {code} after "
                f"{ran:.1f}s): starting it in a new conversation"
            )
            self._event("resume_refused", child=child, ran_s=round(ran, 2))
            self._fresh = True
            return False, 0.0
        if crash is None or not (self.s.restart and self.s.on_crash):
            if crash is None and self.obs.saves_at_exit():
                self.capture("exit")
            return True, code
        if decide.start_failure(ran, self.s.min_uptime):
            self.ui.warn(
                f"{self.name} failed {ran:.1f}s after starting (code {code}): "
                "not restarting a command that fails at start"
            )
            return True, code
        why = self._exit_why(child, crash)
        self._event("restart_requested", reason=crash)
        if not self._try_restart(crash, crashed=True):
            self.ui.warn(f"{why}; not restarting it")
            self.capture(crash)
            return True, code
        # The child is gone: nothing is lost by starting the next one first. The state
        # (git facts, transcript copy: ~15 ms) is saved while it starts, from this moment's
        # snapshot, so a crash costs the agent's own start time and little more.
        self._deferred = (self.status(full=True), crash)
        return False, self._announce(why)

    def _pass_turn(self, reason: str) -> None:
        """Restart protection refused this run's turn: the next run in the ranking gives
        way instead (this one's live file says so)."""
        assert self.turns is not None
        self.turns.pass_turn(reason)
        if self.lease is not None:
            self.lease.release()
        self.obs.update_live(self.status(), force=True)

    def _emergency_stop(self, child: Child) -> int:
        # The tree first: capture takes only what needs the live tree here; the copy of
        # the transcript (seconds when it is big) is written meanwhile, and waited for.
        state = self.capture("emergency")
        self._stop(child)
        self._between_runs(child)
        self.obs.wait_captures()
        error = self.obs.capture_error(state)
        self.ui.error(
            f"stopped {self.name} at emergency memory after restarts were exhausted"
            + ("" if error else f"; state saved as {state}")
        )
        if error:  # `state resume` would take an older state: never suggest it then
            self.ui.error(f"the state could not be saved: {error}")
        else:
            self.ui.info("resume the conversation with: guardrun state resume")
        return EXIT_EMERGENCY_STOP
