"""The teller: what a run tells the world (events, hooks, notifications, the live file,
the metrics textfile, the sample history, the terminal title).

The supervisor decides; this module records and reports, and returns nothing the loop
depends on (what the loop asks, the argv and the states, is ``state.conversation``'s).
It reads ``RunStatus`` snapshots and never the ``Supervisor``; it reaches the terminal
only through the sink it is given (the relay's queue, written between the child's
output chunks). Nothing here may stall the loop: hooks and desktop notifications run in
the background, and the event log and the live file are single small writes.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.errors import GuardrunError
from guardrun.observe.events import EventLog, run_log_path
from guardrun.observe.live import LiveFile
from guardrun.observe.recorder import Recorder
from guardrun.observe.writer import Writer
from guardrun.platform.cgroup import read_text
from guardrun.supervisor.degrade import EMERGENCY_STOP, MONITOR_ONLY
from guardrun.supervisor.levels import CRITICAL, EMERGENCY, NORMAL, RANK, WARNING
from guardrun.supervisor.status import RunStatus
from guardrun.ui import Reporter
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from guardrun.config.schema import Config
    from guardrun.observe.hooks import HookRunner
    from guardrun.observe.metrics import Metrics
    from guardrun.observe.notify import Notifier

    class Saved(Protocol):  # for type checkers only: no class made at import
        """Where the run's states are (``state.conversation.Conversation``): the hooks
        get the latest state's path, and wait for a capture under way to write it."""

        last_state_file: str | None

        def when_saved(self, job: Callable[[], None]) -> None: ...


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
        *,
        run_id: str,
        agent: str,
        project: str,
        project_dir: str | os.PathLike[str] | None,
        saved: Saved | None = None,
    ) -> None:
        self.cfg = cfg
        self.argv = list(argv)
        self._cwd = os.fspath(cwd)
        self.ui = ui
        self.run_id = run_id
        self.agent = agent
        self.project = project
        self.saved = saved
        log_path = run_log_path(project_dir, run_id) if project_dir is not None else None
        if log_path is not None:
            from guardrun.observe.lastresort import tell

            tell(os.path.dirname(log_path), ui.warn)  # the sentinel stopped a tree since
        self._redactor: Any = None
        # The files' writes in a thread of their own: a hung disk never stalls the loop.
        self.writer = Writer(ui.warn)
        # Built-in rules on the JSON line (they keep it JSON), the user's patterns on
        # the values before they are serialized.
        self.events = EventLog(
            log_path, self.run_id, mirror=self._mirror, scrub=_scrub_builtin,
            scrub_value=self._scrub_custom if cfg.state.redact else None, writer=self.writer,
        )  # fmt: skip
        meta = {"run_id": self.run_id, "started": time.time(), "agent": self.agent,
                "metric": cfg.memory.metric, "cwd": self._scrub(self._cwd)}  # fmt: skip
        self.recorder = Recorder(log_path, meta, self._safe_argv, self.writer)
        self.history = self.recorder.history
        self._argv_shown: list[str] | None = None
        self._hooks: HookRunner | None = None
        self._notifier: Notifier | None = None
        self.live = LiveFile(state_dir, os.getpid())
        self.live.writer = self.writer
        self._live_warned = False
        self._title = ""
        self._sink: Callable[[bytes], None] | None = None
        self._title_sink: Any = None  # the relay's put_title (the title made as written)
        self.metrics: Metrics | None = self._metrics()

    def _metrics(self) -> Metrics | None:
        """The Prometheus textfile (``metrics.textfile``), when one is set."""
        setting = self.cfg.metrics.textfile
        if setting is None:
            return None
        from guardrun import __version__
        from guardrun.observe import metrics

        labels = {"run_id": self.run_id, "project": self.project, "agent": self.agent}
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

    def _scrub_custom(self, text: str) -> str:
        self._scrub("")  # builds the redactor
        return str(self._redactor.redact_custom(text))

    def _safe_argv(self, argv: list[str] | None = None) -> list[str]:
        """A command as logs and the live file show it: secrets scrubbed, including the
        value after a flag such as ``--api-key`` (the original argv's is computed once)."""
        if argv is not None:
            self._scrub("")  # builds the redactor
            return list(self._redactor.redact_obj(list(argv)))
        if self._argv_shown is None:
            self._argv_shown = self._safe_argv(self.argv)
        return self._argv_shown

    def watching(self, argv: list[str], what: str) -> None:
        """The run's first line (``-v``, ``--log-file``): the command, scrubbed, and ``what``
        (thresholds, limit, probe)."""
        self.ui.detail(f"watching {' '.join(self._safe_argv(argv))}: {what}")

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
        if self.saved is not None:
            # GUARDRUN_STATE_FILE names the state just begun (on_restart's): the hook
            # starts once it is written, without holding up the run meanwhile.
            self.saved.when_saved(lambda: self._start_hook(runner, name, argvs, st))
        else:
            self._start_hook(runner, name, argvs, st)

    def _start_hook(self, runner: HookRunner, name: str, argvs: list[str], st: RunStatus) -> None:
        from guardrun.observe.hooks import hook_env

        state_file = self.saved.last_state_file if self.saved is not None else None
        env = hook_env(self.run_id, st.child_pid, st.memory_bytes, st.level, state_file)
        runner.run(name, argvs, env)

    # ------------------------------------------------------------ lifecycle
    def started(self, st: RunStatus) -> None:
        self.event(
            "started" if st.restarts == 0 else "restarted",
            st,
            argv=self._safe_argv(list(st.child_argv)),
            child_pid=st.child_pid,
            attempt=st.restarts,
            agent=self.agent,
            session_id=st.session_id,
        )
        self.update_live(st, force=True)

    def sampled(self, st: RunStatus) -> None:
        """A new sample: the history, the live file (when it has news, see ``LiveFile``)
        and the title."""
        self.recorder.record(st)
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

    def update_live(self, st: RunStatus, force: bool = False) -> None:
        if not force and not self.live.due():
            return  # called at every sample: build nothing between writes
        self.live.update(
            live_info(
                st,
                self._safe_argv(),
                self._cwd,
                self.run_id,
                self.agent,
                can_restart=self.cfg.restart.enabled,
            ),
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

        total, swapped = st.sample.total(st.metric), st.sample.swapped

        def compose(agent: str) -> str:  # made again when written: the agent's title then
            return format_title(
                st.name, total, st.level, trend, agent,
                growth=st.growth, eta_critical=st.eta_critical, eta_emergency=st.eta_emergency,
                swapped=swapped,
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

    def external_changed(self, st: RunStatus, level: str, source: str, reason: str) -> None:
        """The machine's pressure (RAM, PSI, GPU) changed level."""
        if level == NORMAL:
            self.ui.detail("the machine has memory to spare again")
        elif level == CRITICAL:
            self.ui.warn(f"{reason}: {st.name} will be restarted at its next quiet moment")
        else:
            self.ui.warn(reason)
        self.event("level_changed", st, source=source or "system", level=level, reason=reason)

    def last_resort(self) -> dict[str, str | None]:
        """Where the sentinel writes when it stops the tree itself (``sentinel.py``): the
        event log, the record beside it, the live file."""
        log = self.events.path
        record = log[: -len(".jsonl")] + ".sentinel.json" if log else None
        return {"run_id": self.run_id, "event_log": log, "record": record, "live": self.live.path}

    def close(self, st: RunStatus, code: int) -> None:
        """The run is over: on every way out, the title the terminal had comes back. The
        states begun are written by now (the supervisor waits for them first)."""
        self.event("stopped", st, exit_code=code)
        self.hook("on_exit", st)
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


def live_info(
    st: RunStatus, argv: list[str], cwd: str, run_id: str, agent: str, can_restart: bool = True
) -> dict[str, object]:
    """The live file's content (``observe.live``; ``guardrun status`` reads it)."""
    return {
        "argv": argv,
        "cwd": cwd,
        "run_id": run_id,
        "child_pid": st.child_pid,
        "memory_bytes": st.memory_bytes,
        "swapped_bytes": st.swapped_bytes,
        "memory_source": st.memory_source,
        "processes": st.processes,
        "level": st.level,
        "mode": st.mode,
        "restarts": st.restarts,
        "breaker": st.breaker.get("state"),
        "next_restart_at": st.next_restart_at,
        "agent": agent,
        "session_id": st.session_id,
        "cgroup_bytes": _cgroup_current(st.cgroup_dir),
        "priority": st.priority,
        "idle_since": None if st.idle_since is None else round(st.idle_since, 1),
        "passed": st.passed,
        "stopped": st.stopped,
        # Whether this run can give way (fleet.budget never chooses one that cannot).
        "can_restart": can_restart and st.mode not in (MONITOR_ONLY, EMERGENCY_STOP),
        "budget_bytes": st.budget,
        "machine_level": st.machine_level,
        **st.trend(),
    }


def _cgroup_current(cgroup_dir: str | None) -> int | None:
    """memory.current of the cgroup the limit comes from, beside the tree's sum."""
    if cgroup_dir is None:
        return None
    for name in ("memory.current", "memory.usage_in_bytes"):
        text = read_text(os.path.join(cgroup_dir, name))
        if text is not None and text.isdigit():
            return int(text)
    return None


def _scrub_builtin(text: str) -> str:
    """The event log's line: the built-in rules only (see ``EventLog.scrub_value``)."""
    from guardrun.state.redact import redact

    return redact(text)
