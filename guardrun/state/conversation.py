"""The asker: the agent's conversation across restarts, and the states saved for it.

The supervisor asks this module what it needs to act: the argv that launches the agent
in a new conversation or resumes the current one, whether an exit was the agent's
refusal to resume, whether a normal end saves a state, which members of the tree a stop
must spare, and the id of each state it begins. The answers come from the agent's
adapter (``state.agents``) and the store. Capture is bounded: what needs the live tree
is taken at once, the rest (transcript copy, git, the write) runs in a thread of its
own, one capture after the other, so the loop goes on meanwhile.

What it has to tell (``state_captured``, ``capture_failed``) goes through ``tell``, the
teller's ``event``, wired by ``runner``.
"""

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from guardrun.errors import GuardrunError, StoreError
from guardrun.state import retention
from guardrun.state.agents import AgentSettings, detect
from guardrun.state.project import project_root
from guardrun.state.store import Store
from guardrun.supervisor.levels import RANK, WARNING

if TYPE_CHECKING:
    from pathlib import Path

    from guardrun.state.agents.base import Agent
    from guardrun.state.agents.session import Session
    from guardrun.supervisor.status import RunStatus
    from guardrun.ui import Reporter

# A resume the agent refuses ends at once (each agent's time is in docs/benchmarks.md);
# a run longer than this was a conversation, and its end a crash like any other.
RESUME_REFUSAL_WINDOW = 10.0


def _no_tell(kind: str, st: "RunStatus | None" = None, **fields: Any) -> None:
    pass


class Keep(NamedTuple):
    """What the states keep, from ``state.*`` and ``restart.resume*`` (``runner`` reads the
    config: ``state/`` sits below ``config/``)."""

    resume: bool  # restart.resume
    resume_args: Sequence[str]  # restart.resume_args (generic agents)
    keep: int  # state.keep
    max_age: float  # state.max_age
    transcript: str  # state.transcript
    redact: Sequence[str]  # state.redact


class Conversation:
    def __init__(
        self,
        argv: list[str],
        cwd: str | os.PathLike[str],
        state_dir: str | os.PathLike[str],
        ui: "Reporter",
        run_id: str,
        *,
        agent: str,
        agents: AgentSettings,
        keep: Keep,
    ) -> None:
        self.k = keep
        self.agents = agents
        self.argv = list(argv)
        self._cwd = os.fspath(cwd)
        self.ui = ui
        self.run_id = run_id
        self.agent: Agent = detect(argv, agent, agents)
        self.tell: Callable[..., None] = _no_tell  # the teller's event, wired by runner
        # Where a file job goes that must not hold up the loop or the run's end (the
        # teller's writer thread, wired by runner); None: done in place, at the end.
        self.submit: Callable[[str, Callable[[], object]], object] | None = None
        # The run's sample points since a wall time (the teller's history), wired by runner.
        self.read_points: Callable[[float | None], Sequence[dict[str, Any]]] | None = None
        self.resuming = False  # the current child was started with a resume argv
        self._launched = False  # launch_argv was called once: later calls are new conversations
        self.session: Session | None = None
        self.last_state: str | None = None
        self.last_state_file: str | None = None
        self._warned_capture = False
        self._prune_due = False
        self._runs_pruned = False
        self._problems_said = 0
        self._capture_thread: Any = None  # the last capture's thread (threading.Thread)
        self._capture_errors: dict[str, str] = {}  # state id -> why it is not saved
        self.store = Store(state_dir, project_root(cwd))
        self.project_dir: str | None = None  # None: the state directory is unusable
        try:
            self.store.ensure()
            for leftover in retention.clean_temp(self.store):
                ui.detail(f"removed a temporary file left by a crash: {leftover}")
            self.project_dir = self.store.dirs.project
        except (StoreError, OSError) as err:
            ui.warn(f"state directory unusable, nothing will be saved: {err}")

    @property
    def cwd(self) -> "Path":
        """The run's directory as a Path, for capture and the agents' session lookup."""
        from pathlib import Path  # not at the start: a run that ends at once has no use for it

        return Path(self._cwd)

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session else None

    # ------------------------------------------------------------ the argv
    def launch_argv(self) -> list[str]:
        """The user's argv as the agent starts it in a new conversation (Codex with
        ``--no-daemon``, Gemini with a new ``--session-id``): always from the user's own
        argv, never a previous child's. After the first start, a session the user's argv
        names is dropped: a new conversation is not that one."""
        self.resuming = False
        again, self._launched = self._launched, True
        return self.agent.launch_argv(self.argv, again=again)

    def restart_argv(self, st: "RunStatus") -> list[str]:
        """Resume the conversation when possible; else a new one, and say so."""
        argv = list(st.child_argv or self.argv)
        if self.agent.name == "generic":
            self.resuming = False
            extra = self.k.resume_args if self.k.resume else []
            return list(self.argv) + list(extra)
        if not self.k.resume:
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
        if self.agent.name != "codex" or self.agents.codex_no_daemon:
            return set()
        from guardrun.state.agents.codex import is_daemon

        return {p for p in pids if is_daemon(p)}

    def find_session(self, st: "RunStatus") -> "Session | None":
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

    # ------------------------------------------------------------ lifecycle
    def started(self) -> None:
        """A child is up: a warning may capture again, and retention runs meanwhile."""
        self._warned_capture = False
        # Retention touches the disk: in a thread, never the loop's wait. Old runs' logs
        # go once a run, in the writer's thread while the first child starts (at the
        # end, on the loop, they were the run's last wait).
        if not self._runs_pruned and self.submit is not None:
            self._runs_pruned = True
            self.submit("pruning of old run logs", self._prune_runs)
        if self._prune_due:
            self._in_background(self.prune)

    def _prune_runs(self) -> None:
        retention.prune_runs(self.store, keep=self.k.keep, max_age=self.k.max_age)

    def level_changed(self, st: "RunStatus", old: str, new: str) -> None:
        """Once per child run, the first rise to warning saves a state: a later emergency
        then has a fresh one at hand."""
        if new == WARNING and RANK[new] > RANK[old] and not self._warned_capture:
            self._warned_capture = True
            self.capture(st, "warning")

    def prune(self) -> None:
        """Apply retention if a state was saved since the last time."""
        if not self._runs_pruned:  # once a run (at the latest at its end): old runs' logs
            self._runs_pruned = True  # (what it cannot remove is a store problem, said below)
            self._prune_runs()
        if self._prune_due:
            self._prune_due = False
            try:
                retention.prune(self.store, keep=self.k.keep, max_age=self.k.max_age)
            except (GuardrunError, OSError) as err:
                self.ui.detail(f"pruning old states failed: {err}")
        # What pruning skipped (a directory named like a state): said once, and pruning
        # goes on at the next state.
        for problem in self.store.problems[self._problems_said :]:
            self.ui.warn(problem)
        self._problems_said = len(self.store.problems)

    # -------------------------------------------------------------- capture
    def capture(self, st: "RunStatus", reason: str) -> str | None:
        """Save a state; returns its id (None when nothing could be begun).

        What needs the live tree is taken now; the rest (the transcript's copy, git, the
        last messages, the write) runs in a thread of its own, one capture after the
        other, so the caller goes on at once: the relay keeps relaying and an emergency
        stops the tree without waiting for a copy. ``wait_captures`` waits for them;
        ``capture_error`` says whether one was saved.
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
            transcript_mode=self.k.transcript,
            redact_patterns=list(self.k.redact),
            read_points=self.read_points,
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

    def when_saved(self, job: Callable[[], None]) -> None:
        """Run ``job`` once every capture begun so far is written: at once when none is
        under way, else in the capture thread after them (a hook given
        ``GUARDRUN_STATE_FILE`` starts once that state exists, without holding up the run)."""
        if self.busy():
            self._in_background(job)
        else:
            job()

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

    def busy(self) -> bool:
        """A capture is being written now."""
        thread = self._capture_thread
        return thread is not None and bool(thread.is_alive())

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
        self, st: "RunStatus", reason: str, state_id: str | None, err: BaseException
    ) -> None:
        text = str(err) or type(err).__name__
        if state_id is not None:
            self._capture_errors[state_id] = text
        self.ui.warn(f"could not save state: {text}")
        self.tell("capture_failed", st, reason=reason, error=text)

    def _finish(self, pending: Any, st: "RunStatus", reason: str, started: float) -> None:
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
            for gone in retention.supersede(self.store, result.id, "exit", sid):
                self.ui.detail(f"removed the previous exit state {gone.name}")
        self.last_state = result.id
        self.last_state_file = str(result.path)
        # Retention (state.keep, state.max_age) once the next child is on its way: it reads
        # every state, time a restart should not wait for.
        self._prune_due = True
        took = time.monotonic() - started
        self.tell(
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
