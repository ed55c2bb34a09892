"""End to end: the real Claude Code CLI under guardrun, restarted into the same conversation.

guardrun runs in a PTY (pexpect) with the real CLI as its child, offline (see tests/claude_cli.py
for what CLI 2.1.197 does then). A restart is asked for with SIGUSR1 (``--cooldown 100ms``), and
the test checks what a user would: the new ``claude`` is guardrun's child running
``--resume <the same session id>``, the conversation is back on screen, and the saved state
names the session. Needs the CLI installed by .ci/run: without it these tests skip, unless CI is
set, then a missing CLI is a failure.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pexpect
import pytest
from support.claude import (
    INSTALL_HINT,
    PROMPT_READY,
    Screen,
    child_env,
    claude_bin,
    prepare_config,
    quit_claude,
    spawn,
    squash,
    type_prompt,
    wait_for_file,
    wait_until,
)
from support.guarded_agent import agents_of, cmdline

pytestmark = [pytest.mark.claude, pytest.mark.slow]

WAIT = 30.0  # the machine is shared and loaded: generous, but every wait is on an event


class Project(NamedTuple):
    claude: Path
    cwd: Path
    env: dict[str, str]
    config: Path  # CLAUDE_CONFIG_DIR
    state_dir: Path  # $XDG_STATE_HOME/guardrun


@pytest.fixture
def project(tmp_path: Path) -> Project:
    claude = claude_bin()
    if claude is None:
        if os.environ.get("CI"):
            pytest.fail(f"Claude Code CLI missing in CI; install it with: {INSTALL_HINT}")
        pytest.skip(f"Claude Code CLI not installed ({INSTALL_HINT})")
    cwd = tmp_path / "project"
    cwd.mkdir()
    env = child_env(prepare_config(tmp_path, cwd))
    state_dir = Path(os.environ["XDG_STATE_HOME"]) / "guardrun"
    return Project(claude, cwd, env, Path(env["CLAUDE_CONFIG_DIR"]), state_dir)


@pytest.fixture
def spawned(reaper: list[int]) -> Iterator[list[pexpect.spawn]]:
    """guardrun runs to close after the test; their claude children go to ``reaper``."""
    runs: list[pexpect.spawn] = []
    yield runs
    for run in runs:
        if run.isalive():
            reaper.extend(agents_of(run.pid))
            run.terminate(force=True)
        run.close()


def claude_child(p: Project, guard_pid: int, other_than: int = 0) -> tuple[int, list[str]]:
    """The pid and argv of guardrun's ``claude`` child (not ``other_than``), once it has exec'd."""

    def find() -> tuple[int, list[str]] | None:
        for pid in agents_of(guard_pid):
            argv = cmdline(pid)
            if pid != other_than and argv[:1] == [str(p.claude)]:
                return pid, argv
        return None

    found = wait_until(find, timeout=WAIT)
    assert found, f"no claude child of guardrun {guard_pid}: {agents_of(guard_pid)}"
    return found  # type: ignore[no-any-return]


def session_id_of(p: Project, pid: int) -> str | None:
    try:
        value = json.loads((p.config / "sessions" / f"{pid}.json").read_text())["sessionId"]
    except (OSError, ValueError, KeyError):
        return None
    return str(value)


def transcript_has(path: Path, *texts: str) -> bool:
    try:
        data = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return all(t in data for t in texts)


def offset_after(screen: Screen, text: str, start: int) -> int:
    """Raw offset just past ``text`` (printed as is, not drawn with cursor moves) after ``start``.

    Screen.wait_for returns the end of everything read so far, which may already hold what the
    next process drew; this offset does not.
    """
    screen.wait_for(text, timeout=WAIT, start=start)
    at = screen.raw.find(text, start)
    assert at >= 0, f"{text!r} is on screen only with escapes inside it"
    return at + len(text)


def guardrun_cli(p: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guardrun", *args],
        cwd=p.cwd, env=p.env, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip


def start_guarded(p: Project, spawned: list[pexpect.spawn]) -> tuple[pexpect.spawn, Screen]:
    argv = [sys.executable, "-m", "guardrun", "--no-config", "--cooldown", "100ms", "--"]
    guard, screen = spawn([*argv, str(p.claude)], p.cwd, p.env)
    spawned.append(guard)
    screen.wait_for(PROMPT_READY, timeout=WAIT)
    return guard, screen


def converse(p: Project, screen: Screen, pid: int, marker: str) -> tuple[str, Path]:
    """Type a prompt holding ``marker``; wait until its turn is in the transcript.

    Returns the session id and transcript. The reply can be written before the prompt, so both
    are waited for: the state captured next then holds the whole turn.
    """
    type_prompt(screen, f"guardrun test {marker}", timeout=WAIT)
    session = wait_until(lambda: session_id_of(p, pid), timeout=WAIT)
    assert session, f"no sessions/{pid}.json"
    (transcript,) = wait_for_file(f"projects/*/{session}.jsonl", p.config, timeout=WAIT)
    done = wait_until(lambda: transcript_has(transcript, marker, "Please run /login"), WAIT)
    assert done, f"the turn never reached {transcript}"
    return session, transcript


def restart(
    p: Project, guard: pexpect.spawn, screen: Screen, old_pid: int, session: str
) -> tuple[int, int]:
    """SIGUSR1 to guardrun; returns the new claude's pid and where its output starts."""
    mark = len(screen.raw)
    os.kill(guard.pid, signal.SIGUSR1)
    new_pid, argv = claude_child(p, guard.pid, other_than=old_pid)
    assert argv == [str(p.claude), "--resume", session]
    # guardrun says so between the runs; what follows is the new process's screen.
    start = offset_after(screen, f"resuming claude session {session}", mark)
    return new_pid, start


def latest_state(p: Project, reason: str | None = None) -> dict[str, Any]:
    """The newest state (of ``reason``, when given)."""
    ref = "latest"
    if reason is not None:
        listed = guardrun_cli(p, "state", "list", "--json")
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        ref = next(r["id"] for r in rows if r["reason"] == reason)  # newest first
    shown = guardrun_cli(p, "state", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    state: dict[str, Any] = json.loads(shown.stdout)
    return state


def events(p: Project) -> list[dict[str, Any]]:
    (log,) = p.state_dir.glob("projects/*/runs/*.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_sigusr1_restarts_claude_into_the_same_conversation(
    project: Project, spawned: list[pexpect.spawn]
) -> None:
    p = project
    marker = f"marker{uuid.uuid4().hex[:10]}"
    guard, screen = start_guarded(p, spawned)
    old_pid, _ = claude_child(p, guard.pid)
    session, transcript = converse(p, screen, old_pid, marker)

    new_pid, start = restart(p, guard, screen, old_pid, session)
    screen.wait_for(marker, timeout=WAIT, start=start)  # the old conversation, reprinted
    screen.wait_for(PROMPT_READY, timeout=WAIT, start=start)
    assert wait_until(lambda: session_id_of(p, new_pid), timeout=WAIT) == session
    assert old_pid not in agents_of(guard.pid)

    quit_claude(guard, timeout=WAIT)
    assert (guard.exitstatus, guard.signalstatus) == (0, None)
    exits = [e for e in events(p) if e["event"] == "child_exited"]
    assert [(e["child_pid"], e["exit_code"]) for e in exits] == [(new_pid, 0)]
    # Claude removes its sessions file only at a clean exit (SIGKILL leaves it behind).
    assert not (p.config / "sessions" / f"{new_pid}.json").exists()

    # The quit saved a state too, so `state resume latest` returns to this conversation.
    left = latest_state(p)
    assert (left["reason"], left["process"]["pid"]) == ("exit", new_pid)
    assert left["conversation"]["session_id"] == session
    state = latest_state(p, "signal")
    conv = state["conversation"]
    assert (conv["agent"], conv["session_id"]) == ("claude", session)
    assert conv["transcript"]["path"] == str(transcript)
    assert any(marker in m["text"] for m in conv["last_messages"] if m["role"] == "user")
    assert state["process"]["pid"] == old_pid
    assert state["restart"]["resume_argv"] == [str(p.claude), "--resume", session]
    listed = guardrun_cli(p, "state", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["id"], r["session_id"]) for r in rows] == [
        (left["id"], session),
        (state["id"], session),
    ]


def test_restart_follows_the_session_clear_started(
    project: Project, spawned: list[pexpect.spawn]
) -> None:
    """/clear moves the live session to a new id while the argv names none: guardrun must
    resume the new one (from sessions/<pid>.json), not the one the transcript started with."""
    p = project
    first_marker = f"first{uuid.uuid4().hex[:10]}"
    second_marker = f"second{uuid.uuid4().hex[:10]}"
    guard, screen = start_guarded(p, spawned)
    pid, _ = claude_child(p, guard.pid)
    first, _ = converse(p, screen, pid, first_marker)

    type_prompt(screen, "/clear", timeout=WAIT)
    moved = wait_until(lambda: session_id_of(p, pid) not in (None, first), timeout=WAIT)
    assert moved, "sessions file did not follow /clear"
    second, transcript = converse(p, screen, pid, second_marker)
    assert second != first

    new_pid, start = restart(p, guard, screen, pid, second)
    screen.wait_for(second_marker, timeout=WAIT, start=start)
    screen.wait_for(PROMPT_READY, timeout=WAIT, start=start)
    assert first_marker not in squash(screen.raw[start:])
    assert wait_until(lambda: session_id_of(p, new_pid), timeout=WAIT) == second

    conv = latest_state(p)["conversation"]
    assert (conv["session_id"], conv["transcript"]["path"]) == (second, str(transcript))
    texts = [m["text"] for m in conv["last_messages"]]
    assert any(second_marker in t for t in texts) and not any(first_marker in t for t in texts)
    quit_claude(guard, timeout=WAIT)
    assert (guard.exitstatus, guard.signalstatus) == (0, None)


def test_state_resume_after_guardrun_was_stopped(
    project: Project, spawned: list[pexpect.spawn]
) -> None:
    """guardrun stopped by SIGTERM saves state; `state resume --print` shows the way back and
    `state resume` takes it: claude --resume <id> in the project directory."""
    p = project
    marker = f"marker{uuid.uuid4().hex[:10]}"
    guard, screen = start_guarded(p, spawned)
    pid, _ = claude_child(p, guard.pid)
    session, _ = converse(p, screen, pid, marker)
    guard.kill(signal.SIGTERM)
    guard.expect(pexpect.EOF, timeout=WAIT)
    guard.close()

    printed = guardrun_cli(p, "state", "resume", "--print")
    assert printed.returncode == 0, printed.stderr
    command = printed.stdout.strip()
    assert command.startswith(f"cd {shlex.quote(str(p.cwd))} && ")
    assert command.endswith(f"--resume {session}")

    resume, screen = spawn([sys.executable, "-m", "guardrun", "state", "resume"], p.cwd, p.env)
    spawned.append(resume)
    screen.wait_for(marker, timeout=WAIT)
    screen.wait_for(PROMPT_READY, timeout=WAIT)
    assert cmdline(resume.pid) == [str(p.claude), "--resume", session]  # exec'd, no wrapper
    assert Path(os.readlink(f"/proc/{resume.pid}/cwd")) == p.cwd.resolve()
    quit_claude(resume, timeout=WAIT)
    assert (resume.exitstatus, resume.signalstatus) == (0, None)


@pytest.mark.claude
@pytest.mark.slow
def test_memory_restart_before_the_first_prompt_reruns_the_plain_command(
    project: Project, spawned: list[pexpect.spawn]
) -> None:
    """At emergency before any prompt there is no conversation to resume: the real CLI
    would exit 1 on `--resume <id>` ("No conversation found"), so the argv is rerun."""
    p = project
    argv = [sys.executable, "-m", "guardrun", "--no-config", "--cooldown", "100ms",
            "--warning", "20MB", "--critical", "30MB", "--emergency", "40MB",
            "--max-restarts", "1", "--", str(p.claude)]  # fmt: skip
    guard, screen = spawn(argv, p.cwd, p.env)
    spawned.append(guard)

    def restarts() -> list[dict[str, Any]]:
        if not list(p.state_dir.glob("projects/*/runs/*.jsonl")):
            return []  # the run log appears when guardrun has started
        return [e for e in events(p) if e["event"] == "restarted"]

    restarted = wait_until(restarts, timeout=WAIT)
    assert restarted and restarted[0]["argv"] == [str(p.claude)]
    new_pid, new_argv = claude_child(p, guard.pid)
    assert new_pid == restarted[0]["child_pid"] and new_argv == [str(p.claude)]
    screen.wait_for(PROMPT_READY, timeout=WAIT, start=0)
    time.sleep(1.0)  # the CLI would have exited at once on a bad --resume
    assert new_pid in agents_of(guard.pid)
    assert not [e for e in events(p) if e["event"] == "child_exited"]


def test_ctrl_z_suspends_claude_to_the_shell_and_fg_brings_it_back(
    project: Project, spawned: list[pexpect.spawn]
) -> None:
    """In an interactive bash, as a user: Ctrl-Z on ``guardrun -- claude`` gives the shell's
    ``Stopped`` and its prompt, ``fg`` brings Claude back and a typed prompt reaches its
    transcript; the same after a SIGUSR1 restart (the restarted agent has the same
    arrangement: its group is not orphaned)."""
    from support.guarded_agent import children_of

    p = project
    env = {**p.env, "PS1": "PROMPT$ ", "PROMPT_COMMAND": "", "HOME": str(p.cwd.parent)}
    shell, screen = spawn(["bash", "--norc", "--noprofile", "-i"], p.cwd, env)
    spawned.append(shell)
    screen.wait_for("PROMPT$", timeout=WAIT)
    run = [sys.executable, "-m", "guardrun", "--no-config", "--cooldown", "100ms", "--"]
    shell.sendline(shlex.join([*run, str(p.claude)]))
    screen.wait_for(PROMPT_READY, timeout=WAIT)

    def guardrun_pid() -> int | None:
        return next((c for c in children_of(shell.pid) if "guardrun" in cmdline(c)), None)

    guard = wait_until(guardrun_pid, timeout=WAIT)
    assert guard, "no guardrun under the shell"
    pid, _ = claude_child(p, guard)
    for turn in ("first", "after-restart"):
        mark = len(screen.raw)
        shell.sendcontrol("z")
        screen.wait_for("Stopped", timeout=WAIT, start=mark)
        screen.wait_for("PROMPT$", timeout=WAIT, start=mark)
        assert pid in agents_of(guard)  # suspended, not ended
        mark = len(screen.raw)
        shell.sendline("fg")
        screen.wait_for(PROMPT_READY, timeout=WAIT, start=mark)  # redrawn in raw mode again
        marker = f"{turn}{uuid.uuid4().hex[:8]}"
        _, transcript = converse(p, screen, pid, marker)  # typed after fg, in the transcript
        assert transcript_has(transcript, marker)
        if turn == "first":
            old = pid
            mark = len(screen.raw)
            os.kill(guard, signal.SIGUSR1)
            pid, argv = claude_child(p, guard, other_than=old)
            assert argv[1:2] == ["--resume"]
            screen.wait_for(PROMPT_READY, timeout=WAIT, start=mark)
    quit_claude(shell)
