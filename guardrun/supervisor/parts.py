"""What one run is made of, and what it is now: the parts of the Supervisor (relay,
tree, memory watch, signals, restart protection, job control, the watchdog, the teller
and the asker, the fleet's turns), the ``RunStatus`` snapshot every reader gets, and the
child's start, whole-tree stop and capture. The run (``run.Supervisor``) and the watch
loop (``watch.Watch``) act through these; the parts themselves do not know each other.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import ProbeError
from guardrun.platform.cgroup import MemoryLimit
from guardrun.platform.cgroup_events import OomWatch
from guardrun.platform.signums import signal
from guardrun.platform.types import TreeSample
from guardrun.supervisor import decide, degrade
from guardrun.supervisor.child import Child, spawn, take_foreground_back, window_size
from guardrun.supervisor.jobctl import JobControl
from guardrun.supervisor.memory import MemoryWatch, Pressure
from guardrun.supervisor.outcome import Later
from guardrun.supervisor.protection import Protection
from guardrun.supervisor.relay import Relay
from guardrun.supervisor.settings import RunSettings
from guardrun.supervisor.signals import Signals, name_of
from guardrun.supervisor.status import RunStatus
from guardrun.supervisor.stop import stop_tree
from guardrun.supervisor.terminal import RESET_MODES
from guardrun.supervisor.tree import TREE_MARKER, Tree
from guardrun.ui import Reporter

if TYPE_CHECKING:
    from collections.abc import Callable

    from guardrun.supervisor.ports import Asker, Lease, Shared, Teller, Turns, Watchdog

PROBE_RETRY = 10  # unwatched: try the backends again every this many poll intervals


class Parts:
    def __init__(
        self,
        settings: RunSettings,
        reporter: Reporter,
        *,
        teller: Teller,
        asker: Asker,
        external: Pressure | None = None,
        limit: MemoryLimit,
        sentinel: Callable[[bytes], Watchdog] | None = None,
        clock: Callable[[], float] = time.monotonic,
        env: dict[str, str] | None = None,
        machine: Shared | None = None,
        lease: Lease | None = None,
        make_turns: Callable[[Callable[..., None], Callable[[str], None]], Turns] | None = None,
    ) -> None:
        self.s = settings
        self.ui = reporter
        self.obs = teller  # what happened is told here ...
        self.conv = asker  # ... and what to start, spare and save is asked here
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
        self.tree = Tree(f"{os.getpid()}-{os.urandom(4).hex()}", self.not_ours, self.probe_failed)
        self.mem = MemoryWatch(settings, limit, self.tree, external, reporter.warn)
        self.sentinel_factory = sentinel
        self.sentinel: Watchdog | None = None
        self._told: object = None  # the procs tuple the sentinel was last told of
        self.restarts = 0
        self.child: Child | None = None
        self.output_tail = b""
        self._probe_retry_at = 0.0
        self.later: Later | None = None  # a crash's state, saved once the next child is up
        self.oom: OomWatch | None = None
        self.lease = lease  # one budget or machine restart at a time, across runs
        self.machine = machine  # the other runs of this user (the budget, their files)
        self._make_turns = make_turns
        self.turns: Turns | None = None  # ... and who gives way: made when first needed
        self.jobs = JobControl(
            self.name, self.relay, reporter, teller, self.status, self.event, settings.interval
        )
        self.jobs.pause_watchdog = self._pause_watchdog

    def start_sentinel(self, child: Child) -> None:
        """The last resort (``sentinel.py``), started when the loop first waits on a child
        that still runs: its own start (an interpreter) then falls in the wait instead of
        beside guardrun's, which it slowed (docs/benchmarks.md), and a command gone by
        then needs none. Until then guardrun is at work, never stalled, and only a
        SIGKILL in those milliseconds would leave the tree to its parent-death signal
        (PTY mode) or to itself."""
        if self.sentinel_factory is None or self.sentinel is not None:
            return
        self.sentinel = sentinel = self.sentinel_factory(self.tree.marker)
        probe = self.tree.probe.name if self.tree.probe else ""
        sentinel.arm(
            self.s.interval, self.mem.thresholds.emergency, metric=self.mem.metric,
            probe=probe, grace=self.s.grace, **self.obs.last_resort(),
        )  # fmt: skip
        sample = self.mem.last_sample
        if sample is not None:  # the tree as sampled; later members it finds by the marker
            self._told = sample.procs
            sentinel.update(child.pgid, sample.pids)

    def _pause_watchdog(self) -> None:
        if self.sentinel is not None:
            self.sentinel.pause()

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
            session_id=self.conv.session_id,
        )

    def _idle_since(self) -> float | None:
        """Wall time of the child's last output or the user's last key (None: no PTY)."""
        if self.child is None or self.child.master_fd is None:
            return None
        return time.time() - (self.clock() - self.relay.last_io)

    def event(self, kind: str, child: Child | None = None, **fields: object) -> None:
        if child is not None:
            fields.update(
                child_pid=child.pid, exit_code=child.returncode, signal=child.term_signal()
            )
        self.obs.event(kind, self.status(), **fields)

    def use_pty(self) -> bool:
        if self.s.pty is not None:
            return self.s.pty
        return os.isatty(0) and os.isatty(1)

    def start(self, argv: list[str]) -> Child:
        env = dict(self.env)
        env[TREE_MARKER] = self.tree.nonce
        use_pty = self.use_pty()
        child = spawn(
            argv,
            use_pty=use_pty,
            env=env,
            cwd=self.s.cwd,
            winsize=window_size(0) if use_pty else None,
            foreground_fd=0 if not use_pty and os.isatty(0) else None,
        )
        self.child = child
        self.jobs.new_child()
        self.mem.new_child(child.pid)
        self.relay.attach(child.master_fd, keys=os.isatty(0))
        self.oom = OomWatch(child.pid)  # no memory cgroup (not Linux): counts nothing
        self.obs.started(self.status())
        self.conv.started()  # retention runs while the child starts
        return child

    def members(self) -> list[int]:
        """Every live pid of the tree that a stop may end (the child's descendants and
        adopted orphans, less what the agent shares with other runs)."""
        child = self.child
        pids = self.tree.members(child is not None and child.status is None)
        spared = self.conv.spared(pids)
        return [p for p in pids if p not in spared] if spared else pids

    def not_ours(self) -> set[int]:
        """guardrun's own helpers among its children: the sentinel, the child's monitor
        (PTY mode), the watch while stopped, hooks."""
        pids = {self.sentinel.pid if self.sentinel and self.sentinel.pid else -1}
        if self.child is not None and self.child.monitor is not None:
            pids.add(self.child.monitor)
        watcher = self.jobs.watcher
        if watcher is not None and watcher.pid is not None:
            pids.add(watcher.pid)
        return pids | self.obs.hook_pids()

    def stop(self, child: Child, first: int = signal.SIGTERM) -> None:
        if self.sentinel is not None:
            self.sentinel.pause()  # guardrun stops the tree itself: not a stall

        def drain() -> None:  # what the child writes while it stops, without waiting
            self.relay.drain(child.master_fd, wait=0.0)

        stop_tree(child, self.members, self.tree.reap, self.s.grace, self.ui.detail, drain, first)
        self.tree.reap()

    def between_runs(self, child: Child) -> None:
        """The child is gone: the terminal is guardrun's again."""
        self.relay.detach()
        child.close()
        # A terminal that is behind stays raw until it has taken the child's output: its
        # modes apply to bytes as they are written.
        if self.jobs.term is not None:
            if not self.relay.behind:
                self.jobs.term.restore()
            if child.signals_sent or not self.clean(child):
                self.relay.put(RESET_MODES)  # after the child's output, never blocking
        elif os.isatty(0) and child.master_fd is None:
            take_foreground_back(0, child.pgid)
        self.ui.set_drawing(False)

    def clean(self, child: Child) -> bool:
        return decide.clean_exit(child.returncode, child.term_signal(), child.signals_sent)

    def probe_failed(self, failed: str, using: str, error: str) -> None:
        if not using:
            self.change_mode(degrade.PROBE_LOST, f"memory cannot be watched: {error}")
            return
        self.ui.warn(f"probe {failed} failed ({error}); using {using}")
        self.event("probe_fallback", failed=failed, using=using, error=error)

    def sample(self) -> TreeSample | None:
        child = self.child
        assert child is not None
        if self.protection.mode == degrade.UNWATCHED and not self._probe_again():
            return None
        sample = self.mem.sample()
        if sample is None:
            return None
        # A tree that stood still comes back as the same tuple (the probe): nothing to tell.
        if self.sentinel is not None and sample.procs is not self._told:
            self._told = sample.procs
            self.sentinel.update(child.pgid, sample.pids)
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
        self.change_mode(degrade.PROBE_BACK, f"memory can be watched again (probe {probe})")
        return self.protection.mode == degrade.NORMAL

    def change_mode(self, event: str, why: str) -> None:
        self.mode_changed(self.protection.change(event), why)

    def mode_changed(self, t: degrade.Transition, why: str) -> None:
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
            self.sample()  # the state records memory as it is now, not at the last poll
        return self.conv.capture(self.status(full=True), reason)

    def stopped_watch(self, child: Child) -> tuple[Callable[[], int | None], int] | None:
        """While guardrun is stopped with the child: what its watcher samples (the tree's
        total) and the emergency threshold it wakes guardrun at."""
        probe, metric = self.tree.probe, self.mem.metric
        if probe is None or self.protection.mode == degrade.UNWATCHED:
            return None
        self.tree.members(child_alive=True)  # the orphans adopted by now, as roots
        roots = [child.pid, *self.tree.adopted]

        def total() -> int | None:
            try:
                return probe.sample(roots).total(metric)
            except ProbeError:
                return None

        return total, self.mem.thresholds.emergency

    def reason_text(self, reason: str) -> str:
        from guardrun.supervisor import why  # a restart's words: imported when one comes

        mem = self.mem
        return why.restart(
            reason, mem.last_sample, mem.metric, mem.thresholds, mem.estimate,
            self.s.max_growth, self.s.idle,
        )  # fmt: skip

    def turn(self, machine_critical: bool) -> str | None:
        """This run's turn to give way for the machine (``turns.Turns``), once a budget is
        set or the machine has been critical; None when nothing is shared."""
        machine = self.machine
        if machine is None or (
            self.turns is None and machine.budget is None and not machine_critical
        ):
            return None
        if self.turns is None:
            if self._make_turns is None:
                return None
            self.turns = self._make_turns(self.event, self.ui.warn)  # most runs never share
        return self.turns.turn(machine_critical)

    def save_later(self) -> None:
        if self.later is not None:
            later, self.later = self.later, None
            later.save(self.conv.capture)
