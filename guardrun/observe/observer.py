"""What a run tells the world: events, hooks, notifications, the live file, the
terminal title, and the state captured before acting (with the session it needs to
resume).

The supervisor decides; this module records and reports. It reads a ``RunStatus``
snapshot and never the ``Supervisor``; it reaches the terminal only through the
sink it is given (the relay's queue, written between the child's output chunks).
Nothing here may stall the loop: hooks and desktop notifications run in the
background, the event log and the live file are single small writes, and capture
is bounded (git runs with a short timeout in a thread while the rest is gathered).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import GuardrunError, StoreError
from guardrun.observe.events import EventLog, new_run_id, run_log_path
from guardrun.observe.history import TOP, History, history_path
from guardrun.observe.live import LiveFile
from guardrun.observe.writer import Writer
from guardrun.platform.cgroup import read_text
from guardrun.platform.types import RSS
from guardrun.state.agents import Agent, AgentSettings, Session, detect
from guardrun.state.project import project_root
from guardrun.state.store import Store
from guardrun.supervisor.levels import CRITICAL, EMERGENCY, NORMAL, RANK, WARNING
from guardrun.supervisor.status import RunStatus
from guardrun.ui import Reporter
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from guardrun.config.schema import Config
    from guardrun.observe.hooks import HookRunner
    from guardrun.observe.metrics import Metrics
    from guardrun.observe.notify import Notifier

# A resume the agent refuses ends at once: Codex in 0.6 s, Claude in ~1 s, Gemini in ~3 s.
RESUME_REFUSAL_WINDOW = 10.0
HOOK_FOR_LEVEL = {WARNING: "on_warning", CRITICAL: "on_critical", EMERGENCY: "on_critical"}
IDLE_STEP = 5.0  # seconds: how stale a busy run's idle_since may be in its live file


class Observer:
    def __init__(
        self,
        cfg: Config,
        argv: list[str],
        cwd: str | os.PathLike[str],
        state_dir: str | os.PathLike[str],
        ui: Reporter,
    ) -> None:
        self.cfg = cfg
        self.argv = list(argv)
        self._cwd = os.fspath(cwd)
        self.ui = ui
        self.run_id = new_run_id()
        agents = AgentSettings(cfg.agents.codex_no_daemon, cfg.agents.gemini_session_id)
        self.agent: Agent = detect(argv, cfg.agent, agents)
        self.resuming = False  # the current child was started with a resume argv
        self._launched = False  # launch_argv was called once: later calls are new conversations
        self.session: Session | None = None
        self.last_state: str | None = None
        self.last_state_file: str | None = None
        self.store = Store(state_dir, project_root(cwd))
        log_path: str | None
        try:
            self.store.ensure()
            for leftover in self.store.clean_temp():
                ui.detail(f"removed a temporary file left by a crash: {leftover}")
            log_path = run_log_path(self.store.dirs.project, self.run_id)
            from guardrun.observe.lastresort import tell

            tell(os.path.dirname(log_path), ui.warn)  # the sentinel stopped a tree since
        except (StoreError, OSError) as err:
            ui.warn(f"state directory unusable, nothing will be saved: {err}")
            log_path = None
        self._redactor: Any = None
        # The files' writes in a thread of their own: a hung disk never stalls the loop.
        self.writer = Writer(ui.warn)
        self.events = EventLog(
            log_path, self.run_id, mirror=self._mirror, scrub=self._scrub, writer=self.writer
        )
        meta = {"run_id": self.run_id, "started": time.time(), "agent": self.agent.name,
                "metric": cfg.memory.metric, "cwd": self._scrub(self._cwd),
                "ram_total": _ram_total()}  # fmt: skip
        self.history = History(
            history_path(log_path) if log_path is not None else None,
            meta,
            describe=self._describe_pid,
            system=_system_used,
            writer=self.writer,
        )
        self._history_thresholds: object = None
        self._top_of: object = None  # the procs the history's top was last taken from ...
        self._top: list[tuple[int, int]] = []  # ... and that top
        self._argv_shown: list[str] | None = None
        self._hooks: HookRunner | None = None
        self._notifier: Notifier | None = None
        self.live = LiveFile(state_dir, os.getpid())
        self.live.writer = self.writer
        self._warned_capture = False
        self._live_warned = False
        self._title = ""
        self._sink: Callable[[bytes], None] | None = None
        self._title_sink: Any = None  # the relay's put_title (the title made as written)
        self._prune_due = False
        self._problems_said = 0
        self._capture_thread: Any = None  # the last capture's thread (threading.Thread)
        self._capture_errors: dict[str, str] = {}  # state id -> why it is not saved
        self.metrics: Metrics | None = self._metrics()

    @property
    def cwd(self) -> Path:
        """The run's directory as a Path, for capture and the agents' session lookup."""
        from pathlib import Path  # not at the start: a run that ends at once has no use for it

        return Path(self._cwd)  # made at each read (a microsecond): no functools at the start

    def _metrics(self) -> Metrics | None:
        """The Prometheus textfile (``metrics.textfile``), when one is set."""
        setting = self.cfg.metrics.textfile
        if setting is None:
            return None
        from guardrun import __version__
        from guardrun.observe import metrics

        labels = {"run_id": self.run_id, "project": self.store.project, "agent": self.agent.name}
        name = os.path.basename(self.argv[0]) if self.argv else ""
        info = {"version": __version__, "metric": self.cfg.memory.metric, "command": name}
        path = metrics.target(setting, self.run_id)
        textfile = metrics.Metrics(path, labels, info, warn=self.ui.warn)
        textfile.writer = self.writer
        return textfile

    def attach_terminal(self, sink: Callable[[bytes], None], title_sink: Any = None) -> None:
        """Where title and bell bytes go while the child draws (the relay's queue)."""
        self._sink, self._title_sink = sink, title_sink

    # hooks.py and notify.py bring subprocess and threading: built on first use.
    @property
    def hooks(self) -> HookRunner:
        if self._hooks is None:
            from guardrun.observe import hooks

            self._hooks = hooks.HookRunner(self.events)
        return self._hooks

    def hook_pids(self) -> set[int]:
        return self._hooks.pids() if self._hooks is not None else set()

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            from guardrun.observe import notify

            cfg = self.cfg.notify
            out = 1 if os.isatty(1) else None
            self._notifier = notify.Notifier(
                cfg.title, cfg.bell, cfg.desktop, out, log=self.events, sink=self._sink,
                title_sink=self._title_sink,
            )  # fmt: skip
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

    def shown(self, argv: list[str]) -> list[str]:
        """``argv`` as guardrun's own lines (``-v``, ``--log-file``) may show it: scrubbed."""
        return self._safe_argv(argv)

    def _mirror(self, line: str) -> None:
        self.ui.detail(line.rstrip("\n"))

    # --------------------------------------------------------------- events
    def event(self, kind: str, st: RunStatus | None = None, **fields: Any) -> None:
        if st is not None:
            fields.setdefault("memory_bytes", st.memory_bytes)
            fields.setdefault("level", st.level)
            fields.setdefault("mode", st.mode)
        self.events.emit(kind, **fields)
        if self.metrics is not None and self.metrics.note(kind, fields) and st is not None:
            self.metrics.update(st, force=True)  # news: a start, a level, a mode, a capture

    def trend(self, st: RunStatus) -> None:
        """The growth rate and the time left to each threshold (at level changes and
        restarts): the event log shows how fast the leak was when guardrun acted."""
        self.event("trend", st, **st.trend())

    def hook(self, name: str, st: RunStatus) -> None:
        argvs: list[str] = getattr(self.cfg.hooks, name)
        if not argvs:
            return
        runner = self.hooks
        thread = self._capture_thread
        if thread is not None and thread.is_alive():
            # GUARDRUN_STATE_FILE names the state just begun (on_restart's): the hook
            # starts once it is written, without holding up the run meanwhile.
            self._in_background(lambda: self._start_hook(runner, name, argvs, st))
        else:
            self._start_hook(runner, name, argvs, st)

    def _start_hook(self, runner: HookRunner, name: str, argvs: list[str], st: RunStatus) -> None:
        from guardrun.observe.hooks import hook_env

        env = hook_env(self.run_id, st.child_pid, st.memory_bytes, st.level, self.last_state_file)
        runner.run(name, argvs, env)

    # ------------------------------------------------------------ lifecycle
    def prune(self) -> None:
        """Apply retention if a state was saved since the last time."""
        if not self._prune_due:
            return
        self._prune_due = False
        try:
            self.store.prune(keep=self.cfg.state.keep, max_age=self.cfg.state.max_age)
        except (GuardrunError, OSError) as err:
            self.ui.detail(f"pruning old states failed: {err}")
        # What pruning skipped (a directory named like a state): said once, and pruning
        # goes on at the next state.
        for problem in self.store.problems[self._problems_said :]:
            self.ui.warn(problem)
        self._problems_said = len(self.store.problems)

    def started(self, st: RunStatus) -> None:
        self._warned_capture = False
        self.event(
            "started" if st.restarts == 0 else "restarted",
            st,
            argv=self._safe_argv(list(st.child_argv)),
            child_pid=st.child_pid,
            attempt=st.restarts,
            agent=self.agent.name,
            session_id=self.session.session_id if self.session else None,
        )
        self.update_live(st, force=True)
        if self._prune_due:  # the new child starts meanwhile; the disk is not the loop's wait
            self._in_background(self.prune)

    def sampled(self, st: RunStatus) -> None:
        """A new sample: the history, the live file (when it has news, see ``LiveFile``)
        and the title."""
        self._record(st)
        key: tuple[object, ...] = (
            st.child_pid, st.level, st.mode, st.restarts, st.processes, st.breaker.get("state"),
            st.passed, st.machine_level, st.stopped,
        )  # fmt: skip
        if st.budget is not None and st.idle_since is not None:
            # Under a budget the runs rank each other by idleness from these files: a busy
            # run's is at most IDLE_STEP seconds behind.
            key += (int(st.idle_since // IDLE_STEP),)
        if self.live.worth_writing(key, st.memory_bytes):
            self.update_live(st, force=True)
        if self._sink is not None and self.cfg.notify.title:
            self.title(st)
        if self.metrics is not None:
            self.metrics.update(st)  # every metrics.INTERVAL at most

    def _record(self, st: RunStatus) -> None:
        """The sample into the history (buffered: ``History`` writes every few seconds)."""
        sample, value = st.sample, st.memory_bytes
        if sample is None or value is None:
            return
        if st.thresholds is not self._history_thresholds and st.thresholds is not None:
            self._history_thresholds = st.thresholds
            self.history.set_meta(
                thresholds=st.thresholds.as_dict(), name=st.name, argv=self._safe_argv()
            )
        procs = sample.procs
        if procs is not self._top_of:  # a tree that stood still comes as the same tuple
            top = procs if len(procs) <= TOP else sorted(procs, key=RSS, reverse=True)[:TOP]
            self._top_of, self._top = procs, [(p.pid, p.rss) for p in top]
        t = st.history[-1][0] if st.history else time.time()
        self.history.add(t, value, st.level, st.mode, st.growth, self._top)

    def _describe_pid(self, pid: int) -> dict[str, Any]:
        """A process of the history's top, named once: its name and (scrubbed) command line."""
        from guardrun.platform import process_argv, process_name

        argv = self._safe_argv(process_argv(pid))
        return {"name": process_name(pid), "cmd": " ".join(argv)[:200]}

    def update_live(self, st: RunStatus, force: bool = False) -> None:
        if not force and not self.live.due():
            return  # called at every sample: build nothing between writes
        self.live.update(
            {
                "argv": self._safe_argv(),
                "cwd": self._cwd,
                "run_id": self.run_id,
                "child_pid": st.child_pid,
                "memory_bytes": st.memory_bytes,
                "processes": st.processes,
                "level": st.level,
                "mode": st.mode,
                "restarts": st.restarts,
                "breaker": st.breaker.get("state"),
                "next_restart_at": st.next_restart_at,
                "agent": self.agent.name,
                "session_id": self.session.session_id if self.session else None,
                "cgroup_bytes": _cgroup_current(st.cgroup_dir),
                "priority": st.priority,
                "idle_since": None if st.idle_since is None else round(st.idle_since, 1),
                "passed": st.passed,
                "stopped": st.stopped,
                "budget_bytes": st.budget,
                "machine_level": st.machine_level,
                **st.trend(),
            },
            force=force,
        )
        if self.live.error and not self._live_warned:  # once: the run goes on without it
            self._live_warned = True
            self.ui.warn(
                f"no live file ({self.live.error}): `guardrun status` will not list this run"
            )

    def title(self, st: RunStatus) -> None:
        """Show the figure in the terminal title, written only when its text changes."""
        if st.sample is None:
            return
        trend = 0.0
        if len(st.history) >= 2:
            trend = float(st.history[-1][1] - st.history[-2][1])
        from guardrun.observe.notify import format_title

        total = st.sample.total(st.metric)

        def compose(agent: str) -> str:  # made again when written: the agent's title then
            return format_title(
                st.name, total, st.level, trend, agent,
                growth=st.growth, eta_critical=st.eta_critical, eta_emergency=st.eta_emergency,
            )  # fmt: skip

        text = compose(st.child_title or "")
        if text != self._title:
            self._title = text
            self.notifier.title(text, compose)

    def suspended(self) -> None:
        """guardrun stops with the child (Ctrl-Z): the shell gets back the title the
        terminal had; the next sample after ``fg`` saves it again and shows the figure."""
        if self._notifier is not None:
            self._notifier.restore_title()
        self._title = ""

    def level_changed(self, st: RunStatus, old: str, new: str, value: int) -> None:
        up = RANK[new] > RANK[old]
        arrow = "▲" if up else "▼"
        if new == NORMAL:
            text = f"{st.name}: memory {format_bytes(value)} {arrow} back to normal"
        else:
            limit = f" (threshold {format_bytes(st.thresholds.of(new))})" if st.thresholds else ""
            text = f"{st.name}: memory {format_bytes(value)} {arrow} {new}{limit}"
        (self.ui.warn if up and new != NORMAL else self.ui.detail)(text)
        self.event("level_changed", st, previous=old, level=new, memory_bytes=value)
        self.trend(st)
        if RANK[new] > RANK[old] and new != NORMAL:
            if self._sink is not None:
                self.notifier.bell()
            self.notifier.desktop(
                f"guardrun: {st.name} memory {new}",
                f"{format_bytes(value)} in {st.processes or 0} processes",
            )
            self.hook(HOOK_FOR_LEVEL[new], st)
            if new == WARNING and not self._warned_capture:
                # Once per child run: a later emergency then has a fresh state at hand.
                self._warned_capture = True
                self.capture(st, "warning")

    def external_changed(self, st: RunStatus, level: str, source: str, reason: str) -> None:
        """The machine's pressure (RAM, PSI, GPU) changed level."""
        if level == NORMAL:
            self.ui.detail("the machine has memory to spare again")
        elif level == CRITICAL:
            self.ui.warn(f"{reason}: {st.name} will be restarted at its next quiet moment")
        else:
            self.ui.warn(reason)
        self.event("level_changed", st, source=source or "system", level=level, reason=reason)

    # -------------------------------------------------------------- capture
    def capture(self, st: RunStatus, reason: str) -> str | None:
        """Save a state; returns its id (None when nothing could be begun).

        What needs the live tree is taken now (milliseconds); the rest (the transcript's
        copy, git, the last messages, the write) runs in a thread of its own, one capture
        after the other, so the caller goes on at once: the relay keeps relaying and an
        emergency stops the tree without waiting for a copy. ``wait_captures`` (and
        ``close``) wait for them; ``capture_error`` says whether one was saved.
        """
        from guardrun.state.capture import CaptureContext, begin

        if st.child_pid is None or st.child_started_wall is None:
            return None
        ctx = CaptureContext(
            store=self.store,
            reason=reason,
            # The child is gone at an exit: what was found while it ran is the best answer
            # (Claude removes sessions/<pid>.json at a clean exit).
            session=self.session if st.child_exit is not None else None,
            argv=list(st.child_argv),
            cwd=self.cwd,
            run_id=self.run_id,
            pid=st.child_pid,
            started_at=st.child_started_wall,
            exit_status=st.child_exit,
            env=dict(st.env),
            sample=st.sample,
            history=list(st.history),
            metric=st.metric,
            level=st.level,
            thresholds=st.thresholds.as_dict() if st.thresholds else {},
            trend=st.trend(),
            attempt=st.restarts + 1,
            breaker=dict(st.breaker),
            agent=self.agent,
            transcript_mode=self.cfg.state.transcript,
            redact_patterns=self.cfg.state.redact,
        )
        started = time.monotonic()
        try:
            pending = begin(ctx)
        except (GuardrunError, OSError, ValueError) as err:
            self._capture_failed(st, reason, None, err)
            return None
        if pending.session is not None and pending.session.session_id:
            self.session = pending.session  # the restart's resume argv needs it now
        self._capture_errors[pending.id] = "not saved yet"
        self._in_background(lambda: self._finish(pending, st, reason, started))
        return pending.id

    def _in_background(self, job: Callable[[], None]) -> None:
        """Run ``job`` in a thread after the jobs before it (FIFO: one capture at a time,
        so a later one can hard-link an earlier one's copy of an unchanged transcript)."""
        import threading

        before = self._capture_thread

        def run() -> None:
            if before is not None:
                before.join()
            job()

        thread = threading.Thread(target=run, name="guardrun-capture", daemon=True)
        self._capture_thread = thread
        thread.start()

    def wait_captures(self) -> None:
        """Until every capture begun so far is written (or has failed)."""
        thread = self._capture_thread
        if thread is not None:
            thread.join()

    def capture_error(self, state_id: str | None) -> str | None:
        """Why the state ``state_id`` is not saved (None: it is). After ``wait_captures``."""
        if state_id is None:
            return "no state was begun"
        return self._capture_errors.get(state_id)

    def _capture_failed(
        self, st: RunStatus, reason: str, state_id: str | None, err: BaseException
    ) -> None:
        text = str(err) or type(err).__name__
        if state_id is not None:
            self._capture_errors[state_id] = text
        self.ui.warn(f"could not save state: {text}")
        self.event("capture_failed", st, reason=reason, error=text)

    def _finish(self, pending: Any, st: RunStatus, reason: str, started: float) -> None:
        from guardrun.state.capture import finish

        try:
            result = finish(pending)
        except (GuardrunError, OSError) as err:
            self._capture_failed(st, reason, pending.id, err)
            return
        except Exception as err:  # a bug: the thread must still say so, and not die mute
            self._capture_failed(
                st, reason, pending.id, RuntimeError(f"{type(err).__name__}: {err}")
            )
            return
        self._capture_errors.pop(pending.id, None)
        if reason == "exit":  # one exit state per conversation is enough
            sid = result.session.session_id if result.session else None
            for gone in self.store.supersede(result.id, "exit", sid):
                self.ui.detail(f"removed the previous exit state {gone.name}")
        self.last_state = result.id
        self.last_state_file = str(result.path)
        # Retention (state.keep, state.max_age) once the next child is on its way: it reads
        # every state (~9 ms at 50), time a restart should not wait for.
        self._prune_due = True
        took = time.monotonic() - started
        self.event(
            "state_captured",
            st,
            reason=reason,
            state_id=result.id,
            path=str(result.path),
            session_id=result.session.session_id if result.session else None,
            session_source=result.session.source if result.session else None,
            session_note=(result.session.note or None) if result.session else None,
            errors=result.errors,
            took_ms=round(took * 1000, 1),
        )
        if reason != "warning":
            self.ui.info(f"state saved: {result.id}")
        for problem in result.errors:
            self.ui.detail(f"capture: {problem}")

    def find_session(self, st: RunStatus) -> Session | None:
        """The live session, when capture has not found it (or is off)."""
        if st.child_pid is None or st.child_started_wall is None:
            return self.session
        try:
            pids = st.sample.pids if st.sample else [st.child_pid]
            found = self.agent.find_session(
                list(st.child_argv), pids, self.cwd, st.child_started_wall, dict(st.env)
            )
        except (OSError, ValueError) as err:
            self.ui.detail(f"session lookup failed: {err}")
            found = None
        if found is not None:
            self.session = found
        return self.session

    def launch_argv(self) -> list[str]:
        """The user's argv as the agent starts it in a new conversation (Codex with
        ``--no-daemon``, Gemini with a new ``--session-id``): always from the user's own
        argv, never a previous child's. After the first start, a session the user's argv
        names is dropped: a new conversation is not that one."""
        self.resuming = False
        again, self._launched = self._launched, True
        return self.agent.launch_argv(self.argv, again=again)

    def restart_argv(self, st: RunStatus) -> list[str]:
        """Resume the conversation when possible; else a new one, and say so."""
        argv = list(st.child_argv or self.argv)
        if self.agent.name == "generic":
            self.resuming = False
            extra = self.cfg.restart.resume_args if self.cfg.restart.resume else []
            return list(self.argv) + list(extra)
        if not self.cfg.restart.resume:
            return self.launch_argv()
        session = self.session or self.find_session(st)
        resumed = self.agent.resume_argv(argv, session)
        if resumed is None:
            why = session.note if session is not None and session.note else "none found yet"
            self.ui.warn(
                f"no {self.agent.name} conversation to resume ({why}): restarting {st.name} "
                "in a new one"
            )
            return self.launch_argv()
        if session is not None and session.session_id:
            self.ui.info(f"resuming {self.agent.name} session {session.session_id}")
        self.resuming = True
        return resumed

    def resume_refused(self, code: int, ran: float) -> bool:
        """The child was started to resume, ended at once, and its code is the agent's "no
        such session" answer: the next start must be a new conversation, not a crash loop."""
        return self.resuming and ran < RESUME_REFUSAL_WINDOW and self.agent.resume_refused(code)

    def saves_at_exit(self) -> bool:
        """A state at a normal end, so ``state resume latest`` returns to the conversation
        just left: for agents (a generic command has no conversation to go back to)."""
        return self.agent.name != "generic"

    def spared(self, pids: list[int]) -> set[int]:
        """Members the whole-tree stop must leave alone: Codex's shared app-server daemon,
        which serves every codex on the machine (with ``agents.codex_no_daemon: false``)."""
        if self.agent.name != "codex" or self.cfg.agents.codex_no_daemon:
            return set()
        from guardrun.state.agents.codex import is_daemon

        return {p for p in pids if is_daemon(p)}

    def last_resort(self) -> dict[str, str | None]:
        """Where the sentinel writes when it stops the tree itself (``sentinel.py``): the
        event log, the record beside it, the live file."""
        log = self.events.path
        record = log[: -len(".jsonl")] + ".sentinel.json" if log else None
        return {"run_id": self.run_id, "event_log": log, "record": record, "live": self.live.path}

    def close(self, st: RunStatus, code: int) -> None:
        """The run is over: on every way out, the title the terminal had comes back."""
        self.wait_captures()  # a state begun is written before the run ends
        self.event("stopped", st, exit_code=code)
        self.hook("on_exit", st)
        self.prune()
        if self._notifier is not None:
            self._notifier.restore_title()
        if self._hooks is not None:
            self._hooks.close(wait=2.0)
        self.live.remove()
        if self.metrics is not None:
            self.metrics.close(st, code)
        self.history.close()
        self.events.close()
        if not self.writer.drain():
            self.ui.warn(f"the state directory took no writes for a while: {self.writer.busy} "
                         "and what followed it may be missing")  # fmt: skip


def _ram_total() -> int | None:
    from guardrun.platform import physical_memory

    try:
        return physical_memory()
    except Exception:
        return None


_meminfo: Any = None  # a KeptReader on meminfo, opened at the first flush


def _system_used() -> int | None:
    """The machine's RAM in use (total less available), for the report's background:
    at every history flush, so meminfo is read with ``pread`` on a kept fd."""
    global _meminfo
    from guardrun.platform import pressure

    if _meminfo is None:
        _meminfo = pressure.KeptReader(pressure.MEMINFO)
    text = _meminfo.read()
    try:
        parsed = pressure.parse_meminfo(text) if text is not None else None
        _, total, available = parsed if parsed is not None else pressure.system_memory()
    except Exception:  # psutil missing or failing: the history does without
        return None
    return total - available


def _cgroup_current(cgroup_dir: str | None) -> int | None:
    """memory.current of the cgroup the limit comes from, beside the tree's sum."""
    if cgroup_dir is None:
        return None
    for name in ("memory.current", "memory.usage_in_bytes"):
        text = read_text(os.path.join(cgroup_dir, name))
        if text is not None and text.isdigit():
            return int(text)
    return None
