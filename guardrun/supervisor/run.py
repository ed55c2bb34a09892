"""Supervisor: the run, read top to bottom. Start a child, watch it (``watch.Watch``),
and follow the ``Next`` record that says what comes after it: exit with a code, restart
after a cooldown (resumed where the agent allows), or start a new conversation at once.

The parts it is made of (``parts.Parts``) do not know each other: the relay moves bytes,
the tree and its probe say what the memory is, the level tracker, the breaker and
``decide`` turn numbers into decisions (pure, clock injected). What happened is told to
the teller; what to start, spare and save is asked of the conversation; both come in
through the Protocols of ``ports``, as do the lease, the fleet's turns and the watchdog.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import EXIT_EMERGENCY_STOP, ProbeError
from guardrun.platform import set_subreaper
from guardrun.platform.cgroup import MemoryLimit
from guardrun.platform.signums import signal
from guardrun.supervisor import decide, degrade
from guardrun.supervisor.child import Child
from guardrun.supervisor.memory import Pressure
from guardrun.supervisor.outcome import EXIT, FRESH, RESTART, Later, Next
from guardrun.supervisor.parts import Parts
from guardrun.supervisor.settings import RunSettings
from guardrun.supervisor.terminal import HANGUP, Terminal, hung_up
from guardrun.supervisor.watch import Watch
from guardrun.ui import Reporter
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    from guardrun.supervisor.ports import Asker, Lease, Shared, Teller, Turns, Watchdog

BUDGET, SYSTEM = decide.BUDGET, decide.SYSTEM


class Supervisor:
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
        self.p = Parts(
            settings, reporter, teller=teller, asker=asker, external=external, limit=limit,
            sentinel=sentinel, clock=clock, env=env, machine=machine, lease=lease,
            make_turns=make_turns,
        )  # fmt: skip
        self.w = Watch(self.p)
        self.exit_code: int | None = None

    def run(self) -> int:
        """Supervise until the command is done; returns guardrun's exit code."""
        p = self.p
        p.signals.install()
        p.relay.wake_fd = p.signals.wake_fd
        set_subreaper()
        try:
            try:
                p.tree.open_probes(p.s.probe)
            except ProbeError as err:
                p.change_mode(degrade.PROBE_LOST, f"memory cannot be watched: {err}")
            if p.use_pty() and os.isatty(0):
                p.jobs.term = term = Terminal(0)
                p.obs.attach_terminal(p.relay.put, p.relay.put_title)
                p.ui.use_terminal(p.relay.put_text, raw=lambda: term.raw_on)
            self.exit_code = self._run()
            return self.exit_code
        finally:
            p.save_later()
            child = p.child
            if child is not None and (child.status is None or p.members()):
                p.stop(child)
            p.relay.finish()  # what the terminal has not taken yet, before its modes
            if p.jobs.term is not None:
                p.jobs.term.close()
            if child is not None:
                child.close()
            p.ui.set_drawing(False)
            p.mem.close()
            p.conv.wait_captures()  # a state begun is written before the run ends
            p.obs.close(p.status(), self.exit_code if self.exit_code is not None else 70)
            p.conv.prune()
            p.relay.close()  # the title the terminal had, put back
            p.ui.use_terminal(None)
            if p.sentinel is not None:
                p.sentinel.done()
            if p.lease is not None:
                p.lease.release()
            p.signals.restore()

    def _run(self) -> int:
        p = self.p
        argv = p.conv.launch_argv()
        t, probe = p.mem.thresholds, p.tree.probe
        p.obs.watching(
            argv,
            f"warning {format_bytes(t.warning)}, critical {format_bytes(t.critical)}, "
            f"emergency {format_bytes(t.emergency)} (of {format_bytes(p.limit.bytes)} "
            f"{p.limit.source}); probe {probe.name if probe else 'none'}",
        )
        later: Later | None = None  # a crash's state, saved once the next child is up
        restarted = False
        while True:
            p.start(argv)
            if p.lease is not None and p.lease.held:
                p.lease.release()  # the new child is up: the next run may go
            if later is not None:
                later.then = self._on_restart  # GUARDRUN_STATE_FILE: that state
                p.later, later = later, None
            elif restarted:
                self._on_restart()
            if p.jobs.term is not None:
                p.jobs.term.raw()
            p.ui.set_drawing(p.jobs.term is not None)
            assert p.child is not None
            nxt = self._supervise(p.child)
            p.save_later()  # the child ended before it was saved
            if nxt.step == EXIT:
                return nxt.code
            if nxt.step == FRESH:  # the agent refused to resume: a new conversation, at once
                p.restarts += 1
                argv = p.conv.launch_argv()
                continue
            p.jobs.wait_foreground(p.conv.wait_captures)
            if not self._cooldown(nxt.cooldown):
                p.ui.info(f"not restarting {p.name}: quit during the cooldown")
                if nxt.capture is not None:
                    nxt.capture.save(p.conv.capture)
                # The user interrupted the restart (was the old child's 143), or hung up.
                return 128 + signal.SIGHUP if hung_up(0) else 130
            p.protection.record_restart()
            p.restarts += 1
            later = nxt.capture
            argv = p.conv.restart_argv(later.status if later is not None else p.status())
            restarted = True

    def _supervise(self, child: Child) -> Next:
        """Watch one child run, and say what follows it."""
        p = self.p
        while True:
            outcome = self.w.watch(child)
            if outcome.kind == "stop":
                p.ui.info(f"{outcome.reason}: stopping {p.name}")
                p.capture("stop")
                p.stop(child, outcome.signal)
                p.between_runs(child)
                code = child.returncode
                p.event("child_exited", child=child, reason=outcome.reason)
                if outcome.reason == HANGUP:  # 128+SIGHUP, whatever the child made of it
                    return Next(EXIT, 128 + signal.SIGHUP)
                return Next(EXIT, code if code is not None else 128 + outcome.signal)
            if outcome.kind == "exited":
                return self._exited(child)
            p.event("restart_requested", reason=outcome.reason)
            p.obs.trend(p.status())
            allowed = self._try_restart(outcome.reason, crashed=False)
            if p.protection.mode == degrade.EMERGENCY_STOP:
                return Next(EXIT, self._emergency_stop(child))
            if not allowed:
                if outcome.reason in (BUDGET, SYSTEM) and p.turns is not None:
                    self._pass_turn(outcome.reason)
                continue  # monitor-only: the child stays, watched
            p.capture(outcome.reason)
            p.stop(child)
            p.between_runs(child)
            asked = outcome.reason == "signal"  # SIGUSR1, `guardrun restart`: never delayed
            return Next(RESTART, cooldown=self._announce(p.reason_text(outcome.reason), asked))

    def _exited(self, child: Child) -> Next:
        p = self.p
        oom_kills = p.oom.new_kills() if p.oom is not None else 0
        crash = decide.exit_kind(
            child.returncode, child.term_signal(), child.signals_sent, oom_kills, p.output_tail
        )
        p.event("child_exited", child=child, reason=crash or "exit")
        p.stop(child)  # remnants: grandchildren, daemons
        p.between_runs(child)
        code = child.returncode
        assert code is not None
        ran = p.clock() - child.started
        if crash is not None and p.conv.resume_refused(code, ran):
            p.ui.warn(
                f"{p.name} could not resume its conversation (exit {code} after "
                f"{ran:.1f}s): starting it in a new conversation"
            )
            p.event("resume_refused", child=child, ran_s=round(ran, 2))
            return Next(FRESH)
        if crash is None or not (p.s.restart and p.s.on_crash):
            if crash is None and p.conv.saves_at_exit():
                p.capture("exit")
            return Next(EXIT, code)
        if decide.start_failure(ran, p.s.min_uptime):
            p.ui.warn(
                f"{p.name} failed {ran:.1f}s after starting (code {code}): "
                "not restarting a command that fails at start"
            )
            return Next(EXIT, code)
        from guardrun.supervisor import why  # a crash's words: imported when one happens

        text = why.exited(p.name, child.returncode, child.term_signal(), crash)
        p.event("restart_requested", reason=crash)
        if not self._try_restart(crash, crashed=True):
            p.ui.warn(f"{text}; not restarting it")
            p.capture(crash)
            return Next(EXIT, code)
        # The child is gone: nothing is lost by starting the next one first. The state
        # (git facts, transcript copy) is saved while it starts, from this moment's
        # snapshot, so a crash costs the agent's own start time and little more.
        later = Later(p.status(full=True), crash)
        return Next(RESTART, cooldown=self._announce(text), capture=later)

    def _emergency_stop(self, child: Child) -> int:
        # The tree first: capture takes only what needs the live tree here; the copy of
        # the transcript (seconds when it is big) is written meanwhile, and waited for.
        p = self.p
        state = p.capture("emergency")
        p.stop(child)
        p.between_runs(child)
        p.conv.wait_captures()
        error = p.conv.capture_error(state)
        p.ui.error(
            f"stopped {p.name} at emergency memory after restarts were exhausted"
            + ("" if error else f"; state saved as {state}")
        )
        if error:  # `state resume` would take an older state: never suggest it then
            p.ui.error(f"the state could not be saved: {error}")
        else:
            p.ui.info("resume the conversation with: guardrun state resume")
        return EXIT_EMERGENCY_STOP

    def _try_restart(self, reason: str, crashed: bool) -> bool:
        """Ask restart protection; True when a restart may go ahead."""
        p = self.p
        v = p.protection.ask(reason, crashed, p.name)
        if not v.allowed:
            p.event("restart_refused", reason=reason, why=v.why, retry_in_s=round(v.wait, 1))
            if crashed:
                p.ui.warn(f"crash restarts exhausted: {v.why}")
        if v.transition is not None:
            p.mode_changed(v.transition, v.message)
        return v.allowed

    def _announce(self, text: str, asked: bool = False) -> float:
        p = self.p
        text, wait = p.protection.announce(p.name, text, asked)
        p.ui.warn(text)
        return wait

    def _cooldown(self, seconds: float) -> bool:
        """Wait out the cooldown between runs; False when the user asked to quit."""
        p = self.p
        if seconds <= 0:
            return True  # the first restart: nothing to wait, nothing to import
        from guardrun.supervisor.countdown import countdown

        quiet = p.ui.quiet or p.relay.behind  # a terminal not reading: no countdown
        return countdown(seconds, f"restarting {p.name}", p.jobs.term, p.signals, quiet=quiet)

    def _pass_turn(self, reason: str) -> None:
        """Restart protection refused this run's turn: the next run in the ranking gives
        way instead (this one's live file says so)."""
        p = self.p
        assert p.turns is not None
        p.turns.pass_turn(reason)
        if p.lease is not None:
            p.lease.release()
        p.obs.update_live(p.status(), force=True)

    def _on_restart(self) -> None:
        self.p.obs.hook("on_restart", self.p.status())
