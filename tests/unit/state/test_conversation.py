"""The asker from RunStatus snapshots alone (no Supervisor, no child process): the argv
that launches or resumes the agent, a refused resume told from a crash, and the state a
rise to warning saves once per child. Built as a run builds it (``runner.observers``):
what it tells goes to the teller's event log."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from guardrun.config.load import load_config
from guardrun.observe.observer import Observer
from guardrun.platform.types import ProcSample, TreeSample
from guardrun.runner import observers
from guardrun.state.agents import Session
from guardrun.state.conversation import Conversation
from guardrun.supervisor.levels import Thresholds
from guardrun.supervisor.status import RunStatus
from guardrun.ui import Reporter

MB = 1_000_000


def status(level: str = "normal", rss: int = 120 * MB, **kw: object) -> RunStatus:
    sample = TreeSample(time.monotonic(), (ProcSample(4242, 1, rss),))
    fields: dict[str, object] = dict(
        name="claude", metric="rss", mode="normal", level=level, restarts=0,
        child_pid=4242, child_argv=["claude"], child_started_wall=time.time() - 5,
        sample=sample, history=[(time.time(), rss)],
        thresholds=Thresholds(100 * MB, 200 * MB, 300 * MB), breaker={"state": "closed"},
    )  # fmt: skip
    fields.update(kw)
    return RunStatus(**fields)  # type: ignore[arg-type]


def pair(tmp_path: Path, argv: list[str]) -> tuple[Observer, Conversation]:
    cfg = load_config(cwd=tmp_path, env={}, flags={}, no_config=True)
    return observers(cfg, argv, tmp_path, tmp_path / "state", Reporter(stream=io.StringIO()))


def events(obs: Observer) -> list[dict[str, object]]:
    assert obs.events.path is not None
    assert obs.writer.drain()  # the writes run in the writer's thread (observe/writer.py)
    return [json.loads(line) for line in Path(obs.events.path).read_text().splitlines()]


def test_a_refused_resume_is_recognised_only_after_a_resume(tmp_path: Path) -> None:
    """Claude answers an unknown session with exit 1 at once: after guardrun started it to
    resume, that means "start anew", not a crash; the same exit otherwise is a crash."""
    _, conv = pair(tmp_path, ["claude"])
    assert not conv.resume_refused(1, 0.8)  # the user's own start: a crash
    session = Session("claude", "0b7f6f3e-5d7e-4c5e-9d36-7f0f3a1c2b4d", None, tmp_path, "argv")
    transcript = tmp_path / "t.jsonl"
    transcript.write_text('{"type": "user", "message": {"role": "user", "content": "hi"}}\\n')
    conv.session = session._replace(transcript=transcript)
    assert conv.session_id == session.session_id
    argv = conv.restart_argv(status(child_argv=["claude"]))
    assert argv == ["claude", "--resume", session.session_id] and conv.resuming
    assert conv.resume_refused(1, 0.8)
    assert not conv.resume_refused(1, 30.0)  # it ran: a crash like any other
    assert not conv.resume_refused(2, 0.8)  # not Claude's "no conversation found"
    assert conv.launch_argv() == ["claude"] and not conv.resuming
    assert not conv.resume_refused(1, 0.8)


def test_only_the_first_start_keeps_the_session_the_user_named(tmp_path: Path) -> None:
    argv = ["claude", "--session-id", "0b6f1b7e-6c1f-4f7e-9a43-0d3c2b1a0f9e"]
    _, conv = pair(tmp_path, argv)
    assert conv.launch_argv() == argv
    assert conv.launch_argv() == ["claude"]  # a new conversation: that id is in use now


def test_warning_captures_a_state_once_per_child(tmp_path: Path) -> None:
    obs, conv = pair(tmp_path, ["claude"])
    st = status(level="warning")
    conv.level_changed(st, "normal", "warning")
    conv.level_changed(status(), "warning", "normal")
    conv.level_changed(st, "normal", "warning")
    conv.level_changed(status(level="critical"), "warning", "critical")  # not a warning
    conv.wait_captures()  # the copy and the write run in a thread of their own
    captured = [e for e in events(obs) if e["event"] == "state_captured"]
    assert len(captured) == 1 and captured[0]["reason"] == "warning"  # told by the teller
    conv.started()  # a new child: the next warning captures again
    conv.level_changed(st, "normal", "warning")
    conv.wait_captures()
    assert len([e for e in events(obs) if e["event"] == "state_captured"]) == 2
    assert conv.last_state_file is not None and Path(conv.last_state_file).exists()


def test_hooks_wait_for_the_state_being_written(tmp_path: Path) -> None:
    """``when_saved``: at once with no capture under way; after it (in its thread) while
    one is, so a hook's GUARDRUN_STATE_FILE names the state just begun."""
    _, conv = pair(tmp_path, ["claude"])
    seen: list[str | None] = []
    conv.when_saved(lambda: seen.append(conv.last_state_file))
    assert seen == [None]  # no capture: at once
    state_id = conv.capture(status(), "manual")
    conv.when_saved(lambda: seen.append(conv.last_state_file))
    conv.wait_captures()
    assert state_id is not None and conv.capture_error(state_id) is None
    assert seen[1] is not None and state_id in seen[1]


def test_only_codex_with_its_daemon_spares_members(tmp_path: Path) -> None:
    _, conv = pair(tmp_path, ["claude"])
    assert conv.spared([1, 2, 3]) == set()
    assert conv.saves_at_exit()
    _, generic = pair(tmp_path, ["sleep", "1"])
    assert not generic.saves_at_exit()
