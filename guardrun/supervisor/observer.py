"""What the supervisor tells the world: events, hooks, notifications, the live file,
and the state captured before acting (with the session it needs to resume).

The supervisor decides; this module records and reports. Nothing here may stall
the loop: hooks and desktop notifications run in the background, the event log
and the live file are single small writes, and capture is bounded (git runs
with a short timeout in a thread while the rest is gathered).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrun.errors import GuardrunError, StoreError
from guardrun.events import EventLog, new_run_id, run_log_path
from guardrun.live import LiveFile
from guardrun.state.agents import Agent, Session, detect
from guardrun.state.project import project_root
from guardrun.state.store import Store
from guardrun.supervisor.levels import CRITICAL, EMERGENCY, NORMAL, RANK, WARNING
from guardrun.ui import Reporter
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from guardrun.config_schema import Config
    from guardrun.hooks import HookRunner
    from guardrun.notify import Notifier
    from guardrun.supervisor.child import Child
    from guardrun.supervisor.run import Supervisor

HOOK_FOR_LEVEL = {WARNING: "on_warning", CRITICAL: "on_critical", EMERGENCY: "on_critical"}


class Observer:
    def __init__(
        self, cfg: Config, argv: list[str], cwd: Path, state_dir: Path, ui: Reporter
    ) -> None:
        self.cfg = cfg
        self.argv = list(argv)
        self.cwd = cwd
        self.ui = ui
        self.run_id = new_run_id()
        self.agent: Agent = detect(argv, cfg.agent)
        self.session: Session | None = None
        self.last_state: str | None = None
        self.last_state_file: str | None = None
        self.store = Store(state_dir, project_root(cwd))
        log_path: Path | None
        try:
            self.store.ensure()
            for leftover in self.store.clean_temp():
                ui.detail(f"removed a temporary file left by a crash: {leftover}")
            log_path = run_log_path(self.store.project_dir, self.run_id)
        except (StoreError, OSError) as err:
            ui.warn(f"state directory unusable, nothing will be saved: {err}")
            log_path = None
        self.events = EventLog(log_path, self.run_id, mirror=self._mirror, scrub=self._scrub)
        self._redactor: Any = None
        self._argv_shown: list[str] | None = None
        self._hooks: HookRunner | None = None
        self._notifier: Notifier | None = None
        self.live = LiveFile(state_dir, os.getpid())
        self._warned_capture = False
        self._title = ""

    # hooks.py and notify.py bring subprocess and threading: built on first use.
    @property
    def hooks(self) -> HookRunner:
        if self._hooks is None:
            from guardrun import hooks

            self._hooks = hooks.HookRunner(self.events)
        return self._hooks

    def hook_pids(self) -> set[int]:
        return self._hooks.pids() if self._hooks is not None else set()

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            from guardrun import notify

            cfg = self.cfg.notify
            out = 1 if os.isatty(1) else None
            self._notifier = notify.Notifier(cfg.title, cfg.bell, cfg.desktop, out, log=self.events)
        return self._notifier

    def _scrub(self, text: str) -> str:
        if self._redactor is None:
            from guardrun.state.redact import Redactor

            try:
                self._redactor = Redactor(self.cfg.state.redact)
            except GuardrunError:  # config validation already reported a bad pattern
                self._redactor = Redactor()
        return str(self._redactor.redact(text))

    def _safe_argv(self, argv: list[str] | None = None) -> list[str]:
        """A command as logs and the live file show it: secrets scrubbed, including the
        value after a flag such as ``--api-key`` (the original argv's is computed once)."""
        if argv is not None:
            self._scrub("")  # builds the redactor
            return list(self._redactor.redact_obj(list(argv)))
        if self._argv_shown is None:
            self._argv_shown = self._safe_argv(self.argv)
        return self._argv_shown

    def _mirror(self, line: str) -> None:
        self.ui.detail(line.rstrip("\n"))

    # --------------------------------------------------------------- events
    def event(self, kind: str, sup: Supervisor | None = None, **fields: Any) -> None:
        if sup is not None:
            sample = sup.last_sample
            fields.setdefault("memory_bytes", sample.total(sup.s.metric) if sample else None)
            fields.setdefault("level", sup.tracker.level if sup.tracker else None)
            fields.setdefault("mode", sup.mode)
        self.events.emit(kind, **fields)

    def hook(self, name: str, sup: Supervisor) -> None:
        argvs: list[str] = getattr(self.cfg.hooks, name)
        if not argvs:
            return
        child = sup.child
        sample = sup.last_sample
        from guardrun.hooks import hook_env

        env = hook_env(
            self.run_id,
            child.pid if child else None,
            sample.total(sup.s.metric) if sample else None,
            sup.tracker.level if sup.tracker else NORMAL,
            self.last_state_file,
        )
        self.hooks.run(name, argvs, env)

    # ------------------------------------------------------------ lifecycle
    def started(self, sup: Supervisor, child: Child, restarts: int) -> None:
        self._warned_capture = False
        kind = "started" if restarts == 0 else "restarted"
        self.event(
            kind,
            sup,
            argv=self._safe_argv(child.argv),
            child_pid=child.pid,
            attempt=restarts,
            agent=self.agent.name,
            session_id=self.session.session_id if self.session else None,
        )
        self.update_live(sup, force=True)

    def update_live(self, sup: Supervisor, force: bool = False) -> None:
        if not force and not self.live.due():
            return  # called at every sample: build nothing between writes
        child = sup.child
        sample = sup.last_sample
        nxt = sup.breaker.next_allowed()
        self.live.update(
            {
                "argv": self._safe_argv(),
                "cwd": str(self.cwd),
                "run_id": self.run_id,
                "child_pid": child.pid if child else None,
                "memory_bytes": sample.total(sup.s.metric) if sample else None,
                "processes": len(sample.procs) if sample else None,
                "level": sup.tracker.level if sup.tracker else None,
                "mode": sup.mode,
                "restarts": sup.restarts,
                "breaker": sup.breaker.state,
                "next_restart_at": None if nxt is None else time.time() + nxt - sup.clock(),
                "agent": self.agent.name,
                "session_id": self.session.session_id if self.session else None,
                "cgroup_bytes": self._cgroup_current(sup),
            },
            force=force,
        )

    def _cgroup_current(self, sup: Supervisor) -> int | None:
        """memory.current of the cgroup the limit comes from, beside the tree's sum."""
        limit = sup.limit
        if limit is None or limit.cgroup_dir is None:
            return None
        for name in ("memory.current", "memory.usage_in_bytes"):
            try:
                return int((limit.cgroup_dir / name).read_text())
            except (OSError, ValueError):
                continue
        return None

    def title_text(self, sup: Supervisor) -> str | None:
        """The terminal title for now, or None when unchanged."""
        sample = sup.last_sample
        if sample is None or sup.tracker is None:
            return None
        level = sup.tracker.level
        trend = 0.0
        if len(sup.history) >= 2:
            trend = float(sup.history[-1][1] - sup.history[-2][1])
        from guardrun.notify import format_title

        text = format_title(sup.name, sample.total(sup.s.metric), level, trend)
        if text == self._title:
            return None
        self._title = text
        return text

    def level_changed(self, sup: Supervisor, old: str, new: str, value: int) -> None:
        self.event("level_changed", sup, previous=old, level=new, memory_bytes=value)
        if RANK[new] > RANK[old] and new != NORMAL:
            sup.pending_bell = True
            self.notifier.desktop(
                f"guardrun: {sup.name} memory {new}",
                f"{format_bytes(value)} in {len(sup.last_sample.procs) if sup.last_sample else 0}"
                " processes",
            )
            self.hook(HOOK_FOR_LEVEL[new], sup)
            if new == WARNING and not self._warned_capture:
                # Once per child run: a later emergency then has a fresh state at hand.
                self._warned_capture = True
                self.capture(sup, "warning")

    # -------------------------------------------------------------- capture
    def capture(self, sup: Supervisor, reason: str) -> str | None:
        from guardrun.state.capture import CaptureContext, capture

        child = sup.child
        if child is None:
            return None
        thresholds = sup.thresholds.as_dict() if sup.thresholds else {}
        status = child.status
        exit_status = None
        if status is not None:
            sig = child.term_signal()
            exit_status = -sig if sig is not None else child.returncode
        ctx = CaptureContext(
            store=self.store,
            reason=reason,
            argv=child.argv,
            cwd=self.cwd,
            run_id=self.run_id,
            pid=child.pid,
            started_at=child.started_wall,
            exit_status=exit_status,
            env=sup.env,
            sample=sup.last_sample,
            history=[(t, b) for t, b in sup.history],
            metric=sup.s.metric,
            level=sup.tracker.level if sup.tracker else NORMAL,
            thresholds=thresholds,
            attempt=sup.restarts + 1,
            breaker=sup.breaker.snapshot(),
            agent=self.agent,
            transcript_mode=self.cfg.state.transcript,
            redact_patterns=self.cfg.state.redact,
        )
        started = time.monotonic()
        try:
            result = capture(ctx)
        except (GuardrunError, OSError) as err:
            self.ui.warn(f"could not save state: {err}")
            self.event("capture_failed", sup, reason=reason, error=str(err))
            return None
        if result.session is not None:
            self.session = result.session
        self.last_state = result.id
        self.last_state_file = str(result.path)
        try:  # retention, applied where states are made (state.keep, state.max_age)
            self.store.prune(keep=self.cfg.state.keep, max_age=self.cfg.state.max_age)
        except (GuardrunError, OSError) as err:
            self.ui.detail(f"pruning old states failed: {err}")
        took = time.monotonic() - started
        self.event(
            "state_captured",
            sup,
            reason=reason,
            state_id=result.id,
            path=str(result.path),
            session_id=result.session.session_id if result.session else None,
            errors=result.errors,
            took_ms=round(took * 1000, 1),
        )
        if reason != "warning":
            self.ui.info(f"state saved: {result.id}")
        for problem in result.errors:
            self.ui.detail(f"capture: {problem}")
        return result.id

    def find_session(self, sup: Supervisor) -> Session | None:
        """The live session, when capture has not found it (or is off)."""
        child = sup.child
        if child is None:
            return self.session
        try:
            pids = sup.last_sample.pids if sup.last_sample else [child.pid]
            found = self.agent.find_session(child.argv, pids, self.cwd, child.started_wall, sup.env)
        except (OSError, ValueError) as err:
            self.ui.detail(f"session lookup failed: {err}")
            found = None
        if found is not None:
            self.session = found
        return self.session

    def restart_argv(self, sup: Supervisor) -> list[str]:
        """Resume the conversation when possible; else the same argv, and say so."""
        child = sup.child
        argv = list(child.argv if child else self.argv)
        if not self.cfg.restart.resume:
            return list(self.argv)
        session = self.session or self.find_session(sup)
        resumed = self.agent.resume_argv(argv, session)
        if self.agent.name == "generic":
            return list(self.argv) + list(self.cfg.restart.resume_args)
        if resumed is None:
            self.ui.warn(
                f"no {self.agent.name} conversation to resume (none found, or none saved "
                f"yet): restarting {sup.name} with its original arguments"
            )
            return list(self.argv)
        if session is not None and session.session_id:
            self.ui.info(f"resuming {self.agent.name} session {session.session_id}")
        return resumed

    def close(self, sup: Supervisor, code: int) -> None:
        self.event("stopped", sup, exit_code=code)
        self.hook("on_exit", sup)
        if self._notifier is not None:
            self._notifier.restore_title()
        if self._hooks is not None:
            self._hooks.close(wait=2.0)
        self.live.remove()
        self.events.close()


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)
