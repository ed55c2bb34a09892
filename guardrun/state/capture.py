"""Build a schema-1 state (docs/state-format.md) from what the supervisor knows.

A capture has two halves. ``begin`` takes what needs the live tree (which session
is the run's, the memory, the top processes): milliseconds, so that an emergency
stops the tree at once after it. ``finish`` takes what files still hold after
the tree is gone, and writes the state: it stats the transcript and leaves
reading it to the agent adapter (which seeks from the end for the last
messages); only ``transcript: copy`` or ``tail`` reads it, to copy it (seconds for a
big transcript, docs/benchmarks.md, which is why the conversation runs
``finish`` in a thread of its own, never in the relay's loop). Each part (git,
agent, transcript) is tried on its own: a failure is recorded in ``errors`` and
the rest is still saved. Only a store that cannot be written raises (StoreError).
Every string of the state goes through the Redactor; the transcript copy is kept
byte for byte (see the docs).
"""

import os
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from guardrun import __version__
from guardrun.platform import TreeSample, physical_memory, process_name
from guardrun.state.agents.base import Agent
from guardrun.state.agents.session import Session
from guardrun.state.clip import clipping_with
from guardrun.state.project import project_facts
from guardrun.state.redact import Redactor
from guardrun.state.store import STATE_SUFFIX, TAIL_LIMIT, Store

if TYPE_CHECKING:
    T = TypeVar("T")

SCHEMA = 1
TAIL_MODE_LIMIT = 8 * 1024 * 1024  # ``transcript: tail`` keeps this much of the end
TRANSCRIPT_MODES = ("copy", "tail", "none")
_HISTORY_MAX = 120
_ENV_NAMES = frozenset(
    {"PATH", "SHELL", "TERM", "TERM_PROGRAM", "COLORTERM", "LANG", "LANGUAGE", "PWD", "HOME"}
    | {"USER", "LOGNAME", "TMPDIR", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV", "CONDA_PREFIX"}
    | {"NODE_OPTIONS", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "DISABLE_AUTOUPDATER"}
    | {"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"}
)
_ENV_PREFIXES = ("LC_", "GEMINI_", "CLAUDE_CODE_", "GUARDRUN_")
# Allow-listed prefixes could still admit GEMINI_API_KEY and the like: names that
# say they hold a credential are left out whatever the list says.
_ENV_DENY = re.compile(r"KEY|TOKEN|SECRET|PASS|AUTH|CRED|COOKIE|PRIVATE", re.IGNORECASE)


class _Background:
    """Run one collector in a thread (git spawns processes; the rest goes on meanwhile)."""

    def __init__(self, fn: Callable[[], dict[str, Any]]) -> None:
        self._fn = fn
        self._value: dict[str, Any] | None = None
        self._error: Exception | None = None
        import threading

        self._thread = threading.Thread(target=self._run, name="guardrun-git", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except Exception as err:  # reported by result()
            self._error = err

    def result(self, errors: list[str], name: str) -> dict[str, Any] | None:
        self._thread.join()
        if self._error is not None:
            errors.append(f"{name}: {type(self._error).__name__}: {self._error}")
        return self._value


class CaptureContext(NamedTuple):
    """What the supervisor knows at the moment of capture."""

    store: Store
    reason: str  # one of guardrun.state.store.REASONS
    argv: Sequence[str]
    cwd: Path
    run_id: str | None = None
    version: str = __version__
    pid: int | None = None
    started_at: float | None = None  # epoch seconds when the child started
    uptime: float | None = None  # seconds; derived from started_at when None
    exit_status: int | None = None  # as Popen.returncode: -N when ended by signal N
    env: Mapping[str, str] = {}  # the child's environment (read only: a shared default)
    sample: TreeSample | None = None  # the last sample of the tree
    history: Sequence[tuple[float, int]] = ()  # (time.time(), bytes), oldest first
    metric: str = "footprint"
    level: str = "normal"
    thresholds: Mapping[str, int] = {}  # level name -> bytes
    trend: Mapping[str, float | None] = {}  # RunStatus.trend(): growth rate and ETAs
    attempt: int = 0  # restart attempt this capture precedes (0: none yet)
    breaker: Mapping[str, Any] | None = None  # the restart breaker's snapshot
    agent: Agent | None = None
    session: Session | None = None  # when already known; else the agent is asked
    transcript_mode: str = "copy"  # copy | tail | none
    redact_patterns: Sequence[str] = ()
    # The run's sample points at or after a wall time (the teller's history file, up to its
    # last flush): given by the caller, which knows where the history is.
    read_points: Callable[[float | None], Sequence[dict[str, Any]]] | None = None
    messages: int = 10
    top: int = 10
    git_timeout: float = 2.0


class CaptureResult(NamedTuple):
    id: str
    path: Path
    state: dict[str, Any]
    session: Session | None
    errors: list[str]


class Pending(NamedTuple):
    """What ``begin`` gathered while the tree was there; ``finish`` completes it."""

    ctx: CaptureContext
    id: str
    path: Path  # where the state will be, once ``finish`` has written it
    state: dict[str, Any]
    session: Session | None
    errors: list[str]
    redactor: Redactor
    git: _Background


def capture(ctx: CaptureContext) -> CaptureResult:
    """Save a state for ``ctx``; StoreError only when the store cannot be written."""
    return finish(begin(ctx))


def begin(ctx: CaptureContext) -> Pending:
    """The part of a capture that needs the live tree, and only that: the id, which
    session is the run's (the agent's files name the live pid: Claude's sessions file is
    gone after its exit, Codex's rollout is known by the fd its process holds), the
    memory and its top processes, the command. A few milliseconds, whatever the size of
    the transcript: the tree can be stopped right after (``finish`` reads only files
    that stay on disk)."""
    now = time.time()
    state_id = ctx.store.new_id(ctx.reason, now)
    errors: list[str] = []
    redactor = _part(errors, "redact", lambda: Redactor(ctx.redact_patterns), None)
    if redactor is None:  # a bad extra pattern must not leave the built-in ones off
        redactor = Redactor()
    git = _Background(lambda: project_facts(ctx.cwd, ctx.git_timeout))  # git runs meanwhile
    state: dict[str, Any] = {
        "schema": SCHEMA,
        "id": state_id,
        "created_at": _iso(now),
        "reason": ctx.reason,
        "guardrun": {"version": ctx.version, "run_id": ctx.run_id},
        "host": _part(errors, "host", _host, None),
        "memory": _part(errors, "memory", lambda: _memory(ctx), None),
        "process": _process(ctx, now),
    }
    session = _session(ctx, errors)
    resume = None
    if ctx.agent is not None:  # without a session an adapter may still know (generic: rerun)
        agent = ctx.agent
        resume = _part(errors, "resume", lambda: agent.resume_argv(list(ctx.argv), session), None)
    state["restart"] = {
        "attempt": ctx.attempt,
        "resume_argv": resume,
        "breaker": dict(ctx.breaker) if ctx.breaker is not None else None,
    }
    path = ctx.store.states_dir / (state_id + STATE_SUFFIX)
    return Pending(ctx, state_id, path, state, session, errors, redactor, git)


def finish(p: Pending) -> CaptureResult:
    """The rest, from files only: the transcript's copy (seconds for hundreds of MB), the
    last messages, git's facts; then the state is redacted and written, the copy first."""
    ctx, state, errors, redactor = p.ctx, p.state, p.errors, p.redactor
    state["conversation"] = _conversation(ctx, p.id, errors, redactor, p.session)
    if isinstance(state["memory"], dict):  # the steps the tree grew during (state.steps)
        state["memory"]["attribution"] = _part(errors, "attribution", lambda: _attribution(
            ctx, p.session.transcript if p.session else None), None)  # fmt: skip
    project = p.git.result(errors, "git")
    git_error = project.pop("git_error", None) if project else None
    if git_error:
        errors.append(str(git_error))
    state["project"] = project
    state["errors"] = errors
    clean = _part(errors, "redact", lambda: redactor.redact_obj(state), None)
    if not isinstance(clean, dict):  # never write unredacted: keep only what cannot leak
        clean = {k: state[k] for k in ("schema", "created_at", "reason")}
        clean["errors"] = [e.split(":")[0] + ": failed" for e in errors]
    clean["id"] = p.id  # generated here from digits, a reason word and hex
    path = ctx.store.write_state(clean)
    return CaptureResult(p.id, path, clean, p.session, errors)


def _session(ctx: CaptureContext, errors: list[str]) -> Session | None:
    agent, session = ctx.agent, ctx.session
    if session is None and agent is not None:
        pids = ctx.sample.pids if ctx.sample else [p for p in (ctx.pid,) if p]
        session = _part(
            errors,
            "session",
            lambda: agent.find_session(
                list(ctx.argv), pids, ctx.cwd, ctx.started_at or 0.0, dict(ctx.env)
            ),
            None,
        )
    return session


def _conversation(
    ctx: CaptureContext,
    state_id: str,
    errors: list[str],
    redactor: Redactor,
    session: Session | None,
) -> dict[str, Any]:
    agent = ctx.agent
    conv: dict[str, Any] = {
        "agent": getattr(agent, "name", None),
        "session_id": None,
        "session_source": None,
        "session_note": None,
        "transcript": None,
        "last_messages": [],
    }
    if session is None:
        return conv
    conv["session_id"], conv["session_source"] = session.session_id, session.source
    conv["session_note"] = session.note or None  # why it is the run's, or why none is taken
    if session.transcript is not None:
        conv["transcript"] = _part(
            errors, "transcript", lambda: _transcript(ctx, state_id, session), None
        )
    if agent is not None:
        none: list[dict[str, str]] = []
        with clipping_with(redactor):  # messages are cut at 2000 characters: redacted first
            conv["last_messages"] = _part(
                errors, "messages", lambda: agent.last_messages(session, ctx.messages), none
            )
    return conv


def _transcript(ctx: CaptureContext, state_id: str, session: "Session") -> dict[str, Any]:
    path = Path(session.transcript or "")
    st = os.stat(path)
    info: dict[str, Any] = {
        "path": str(path),
        "bytes": st.st_size,
        "modified_at": _iso(st.st_mtime),
        "sha256": None,
        "copy": None,
    }
    if ctx.transcript_mode in ("copy", "tail"):
        limit = TAIL_LIMIT if ctx.transcript_mode == "copy" else TAIL_MODE_LIMIT
        info["copy"] = ctx.store.write_transcript(state_id, path, tail_limit=limit)
        info["sha256"] = info["copy"]["sha256"]
    return info


def _memory(ctx: CaptureContext) -> dict[str, Any]:
    sample = ctx.sample
    # The samples are stamped with wall time (supervisor.memory); saved as seconds before
    # this capture (negative), as docs/state-format.md says.
    now = time.time()
    top = []
    for p in sample.top(ctx.top) if sample else []:
        top.append(
            {
                "pid": p.pid,
                "ppid": p.ppid,
                "name": _proc_name(p.pid),
                "rss": p.rss,
                "swap": p.swap,
                "pss": p.pss,
                "uss": p.uss,
            }
        )
    return {
        "metric": ctx.metric,
        "tree_bytes": sample.total(ctx.metric) if sample else None,
        "rss_bytes": sample.rss if sample else None,
        "swapped_bytes": sample.swapped if sample else None,
        "source": ("processes" if sample.cgroup is None else f"cgroup {sample.cgroup.source}")
        if sample
        else None,
        "level": ctx.level,
        "thresholds": dict(ctx.thresholds),
        "trend": dict(ctx.trend) or None,
        "processes": len(sample.procs) if sample else None,
        "top": top,
        "history": [[round(t - now, 3), b] for t, b in list(ctx.history)[-_HISTORY_MAX:]],
    }


def _process(ctx: CaptureContext, now: float) -> dict[str, Any]:
    uptime = ctx.uptime
    if uptime is None and ctx.started_at is not None:
        uptime = max(0.0, now - ctx.started_at)
    return {
        "argv": list(ctx.argv),
        "cwd": str(ctx.cwd),
        "pid": ctx.pid,
        "started_at": _iso(ctx.started_at) if ctx.started_at is not None else None,
        "uptime": round(uptime, 3) if uptime is not None else None,
        "exit": _exit(ctx.exit_status),
        "env": allowed_env(ctx.env),
    }


def allowed_env(env: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed variables (values are redacted with the rest of the state)."""
    return {
        k: v
        for k, v in sorted(env.items())
        if (k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)) and not _ENV_DENY.search(k)
    }


def _exit(status: int | None) -> dict[str, Any] | None:
    if status is None:
        return None
    if status >= 0:
        return {"code": status, "signal": None}
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"SIG{-status}"
    return {"code": None, "signal": name}


def _host() -> dict[str, Any]:
    # os.uname() answers what socket and platform would (importing both is a cost of
    # the first capture, which sits on the restart path); platform where there is none.
    if hasattr(os, "uname"):
        u = os.uname()
        node, system, release, machine = u.nodename, u.sysname, u.release, u.machine
    else:  # pragma: no cover - Windows
        import platform

        node, system, release, machine = (
            platform.node(),
            platform.system(),
            platform.release(),
            platform.machine(),
        )
    return {
        "hostname": node,
        "os": system,
        "release": release,
        "machine": machine,
        "cpus": os.cpu_count(),
        "memory_total": physical_memory(),
    }


def _proc_name(pid: int) -> str | None:
    return process_name(pid)  # gone, or not permitted: None, the name is a nicety


def _iso(epoch: float) -> str:
    """``2026-12-01T20:37:05.945+00:00``, as datetime's isoformat(timespec="milliseconds")
    in UTC, without importing datetime on the restart path."""
    whole = int(epoch)  # as datetime.fromtimestamp: the fraction rounded to µs
    micro = round((epoch - whole) * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{stamp}.{micro // 1000:03d}+00:00"


def _part(errors: list[str], name: str, fn: "Callable[[], T]", default: "T") -> "T":
    """Run one collector; any failure (including a bug in it) becomes an error line."""
    try:
        return fn()
    except Exception as err:  # one broken part must not lose the state
        errors.append(f"{name}: {type(err).__name__}: {err}")
        return default


def _attribution(ctx: CaptureContext, transcript: Path | None) -> dict[str, Any] | None:
    """``memory.attribution``: the current child's samples (from its start) against its
    session's transcript; None when there is nothing to line up. In the capture's thread,
    never in the sampling loop."""
    from guardrun.state.attribution import attribute
    from guardrun.state.steps import AGENTS_WITH_STEPS, parse

    agent = getattr(ctx.agent, "name", "")
    if agent not in AGENTS_WITH_STEPS or ctx.read_points is None or transcript is None:
        return None
    points = list(ctx.read_points(ctx.started_at))
    if len(points) < 2:
        return None
    att = attribute(points, parse(transcript, agent, since=ctx.started_at).steps)
    return att.as_dict() if att else None
