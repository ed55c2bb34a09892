"""The watch loop of one child: relay until the next sample is due, act on signals and
job control, judge each sample through ``decide.step`` and tell what it found, and
return an ``Outcome`` when the child exits or something must be done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrun.platform.signums import signal
from guardrun.supervisor import decide
from guardrun.supervisor.child import Child
from guardrun.supervisor.jobctl import resize
from guardrun.supervisor.levels import CRITICAL
from guardrun.supervisor.memory import Tick
from guardrun.supervisor.outcome import Outcome
from guardrun.supervisor.signals import name_of
from guardrun.supervisor.terminal import HANGUP, hung_up

if TYPE_CHECKING:
    from guardrun.supervisor.parts import Parts

BUDGET, SYSTEM = decide.BUDGET, decide.SYSTEM
LEASE_SLACK = 60.0  # a shared restart's lease lasts the grace and this (a hung holder)


class Watch:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    def watch(self, child: Child) -> Outcome:
        """Relay and sample until the child exits or something must be done."""
        p = self.p
        relay, clock, s = p.relay, p.clock, p.s
        decider = decide.Decider(
            decide.Moment(s.idle_quiet, s.idle_wait, s.plan_ahead, s.idle), s.max_growth
        )
        next_sample = clock()
        growing = False  # the growth rate is over max_growth (acting as critical)
        while True:
            until = next_sample
            if p.sentinel is None and p.sentinel_factory is not None:
                if child.status is None and not p.signals.pending and clock() < until:
                    p.start_sentinel(child)  # the loop is about to wait: the sentinel now
            if p.later is not None:  # a crash's state, once this child is up
                at = p.later.due(child.started, bool(relay.tail), clock())
                if at is None:
                    p.save_later()
                else:
                    until = min(until, at)
            relay.pump(until)
            if relay.hangup:  # EIO on the caller's terminal: nobody is there any more
                return Outcome("stop", HANGUP, signal.SIGHUP)
            if p.signals.pending:
                outcome = self._on_signals(child)
                if outcome is not None:
                    return outcome
            if child.stopped != p.jobs.seen_stop and child.status is None:
                p.jobs.changed(child, p.stopped_watch)
            if child.status is not None:
                p.output_tail = relay.tail[-4096:] + relay.drain(child.master_fd)
                return Outcome("exited")
            now = clock()
            if now < next_sample:
                continue
            if p.sentinel is not None:
                p.sentinel.beat()  # the dead man's switch: the loop samples
            sample = p.sample()
            if sample is None:
                next_sample = now + s.interval
                continue
            relay.flush()
            step = decide.step(
                decider, p.mem, p.protection, sample, now,
                restart=s.restart,
                last_io=relay.last_io if child.master_fd is not None else None,
                stopped=child.stopped is not None,
                turn=p.turn,
                judged=self._judged,
            )  # fmt: skip
            acting, reason = step.acting, step.restart
            if (acting.reason == decide.GROWTH) != growing:
                growing = not growing
                self._growth_changed(growing)
            next_sample = now + step.delay
            if reason is not None and acting.reason in (BUDGET, SYSTEM):
                reason = acting.reason  # the machine's turn, even at a planned moment
                if p.lease is not None and not p.lease.acquire(s.grace + LEASE_SLACK):
                    continue  # another run is restarting for the machine: look again later
            if reason is not None:
                return Outcome("restart", reason)

    def _judged(self, tick: Tick) -> None:
        """A sample was judged: tell its level and trend, and what changed."""
        p = self.p
        p.obs.sampled(p.status())
        if tick.level != tick.previous:
            st = p.status(full=True)  # a warning captures a state
            p.obs.level_changed(st, tick.previous, tick.level, tick.value)
            p.conv.level_changed(st, tick.previous, tick.level)
        ext = tick.external
        if ext is not None and tick.external_changed:
            p.obs.external_changed(p.status(), ext.level, ext.source, ext.reason)

    def _growth_changed(self, growing: bool) -> None:
        p = self.p
        st = p.status()
        if growing:
            p.ui.warn(f"{p.reason_text(decide.GROWTH)}: treated as critical")
        p.obs.event(
            "level_changed", st, source=decide.GROWTH, level=CRITICAL if growing else st.level
        )
        p.obs.trend(st)

    def _on_signals(self, child: Child) -> Outcome | None:
        p = self.p
        outcome: Outcome | None = None
        for sig, what in p.signals.take():
            if what == "child":
                child.poll()
                p.tree.reap()
            elif what == "resize":
                resize(child)
            elif what == "stop":
                hup = sig == signal.SIGHUP and hung_up(0)  # the terminal went, not a kill -HUP
                outcome = Outcome("stop", HANGUP if hup else f"received {name_of(sig)}", sig)
            elif what == "restart" and outcome is None:
                outcome = Outcome("restart", "signal")
            elif what == "capture":
                p.capture("manual")
            elif what == "continued" and p.jobs.suspended:
                p.jobs.resume(child)  # fg (or bg) after guardrun stopped with the child
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
