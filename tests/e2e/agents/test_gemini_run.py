"""End to end: the real Gemini CLI 0.61.0, offline, under guardrun in a PTY.

Offline there is no model reply ("Thinking..." retries for minutes): a typed prompt is
written to the chat at once, and that is what a resume brings back, so these tests check the
conversation by its prompts. The command lines are built with the adapter's ``launch_argv``
(``--session-id <new uuid>``), as the supervisor's first start does once wired.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pexpect
import pytest
from support.agent_clis import GEMINI, GEMINI_MODEL, GEMINI_READY, gemini_env, require
from support.claude import spawn, type_prompt, wait_until
from support.guarded_agent import WAIT, Run, restart, spawned, start, state_of, stays_alive

from guardrun.state.agents import detect
from guardrun.state.agents import gemini as adapter
from guardrun.state.agents.gemini_files import chat_session_id

__all__ = ["spawned"]  # the fixture, imported

pytestmark = [pytest.mark.gemini, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def gemini(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    cwd = tmp_path / "project"
    cwd.mkdir()
    return require("gemini", GEMINI), cwd, gemini_env(tmp_path, cwd)


def chat_with(env: dict[str, str], marker: str) -> Path | None:
    for path in Path(env["GEMINI_CLI_HOME"]).glob(".gemini/tmp/*/chats/session-*.jsonl"):
        if marker in path.read_text(errors="replace"):
            return path
    return None


def converse(run: Run, env: dict[str, str], marker: str) -> str:
    type_prompt(run.screen, f"guardrun test {marker}", timeout=WAIT)
    path = wait_until(lambda: chat_with(env, marker), timeout=WAIT)
    assert path, f"no chat holds {marker}"
    session = chat_session_id(path)
    assert session
    return session


def test_two_gemini_runs_in_one_directory_each_resume_their_own(
    gemini: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """Issue 13, item 3: the newest chat of the directory could be the other run's."""
    bin_, cwd, env = gemini
    agent = detect([str(bin_)])
    markers = [f"first{uuid.uuid4().hex[:8]}", f"second{uuid.uuid4().hex[:8]}"]
    runs, ids = [], []
    # One after the other, each with a prompt before the next starts: a gemini starting here
    # deletes the chats that hold no prompt yet, another run's too (0.61.0; see gemini.py).
    for marker in markers:
        argv = agent.launch_argv([str(bin_), *GEMINI_MODEL])
        runs.append(start(argv, cwd, env, spawned, GEMINI_READY))
        ids.append(converse(runs[-1], env, marker))
    assert ids[0] != ids[1] and [run.args[1] for run in runs] == ids  # the ids named
    for run, session, marker in zip(runs, ids, markers, strict=True):
        mark = len(run.screen.raw)
        new = restart(run, bin_)
        assert new.args == ["--resume", session, *GEMINI_MODEL]
        run.screen.wait_for(marker, timeout=WAIT, start=mark)  # the conversation, reprinted
        assert stays_alive(new, 2.0)
        conv = state_of(env, cwd, run.pid)["conversation"]
        assert (conv["session_id"], conv["session_source"]) == (session, "argv")
        assert any(marker in m["text"] for m in conv["last_messages"])


def test_restart_before_the_first_prompt_leaves_gemini_running(
    gemini: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """Issue 13, item 2: the chat exists from start-up, empty; `--resume` of it exits 42
    (three times, then the breaker ended the run). Now the restart reruns the command."""
    bin_, cwd, env = gemini
    argv = [str(bin_), *GEMINI_MODEL]
    run = start(argv, cwd, env, spawned, GEMINI_READY)
    chats = wait_until(lambda: list(Path(env["GEMINI_CLI_HOME"]).glob(".gemini/tmp/*/chats/*")))
    assert chats, "0.61.0 creates the chat at start-up"
    new = restart(run, bin_)
    # A new conversation, named by a new --session-id (agents.gemini_session_id).
    assert new.args[0] == "--session-id" and new.args[2:] == argv[1:]
    assert run.args[0] == "--session-id" and new.args[1] != run.args[1]
    assert stays_alive(new, 5.0), "gemini ended after the restart"
    state = state_of(env, cwd, run.pid)
    assert state["restart"]["resume_argv"] is None
    assert "no prompt in it yet" in state["conversation"]["session_note"]


def test_the_first_prompt_is_not_sent_again(
    gemini: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """Issue 13, item 5: `gemini -i "…"` restarted with the prompt still in its argv."""
    bin_, cwd, env = gemini
    marker = f"initial{uuid.uuid4().hex[:8]}"
    argv = detect([str(bin_)]).launch_argv([str(bin_), *GEMINI_MODEL, "-i", f"task {marker}"])
    run = start(argv, cwd, env, spawned, GEMINI_READY)
    path = wait_until(lambda: chat_with(env, marker), timeout=WAIT)
    assert path
    new = restart(run, bin_)
    assert new.args == ["--resume", argv[2], *GEMINI_MODEL]
    assert stays_alive(new, 3.0)


def test_resume_of_an_unknown_session_is_refused_with_exit_42(
    gemini: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_, cwd, env = gemini
    child, screen = spawn([str(bin_), *GEMINI_MODEL, "--resume", str(uuid.uuid4())], cwd, env)
    # "No previous sessions found for this project" here (no chat at all); with other chats:
    # "Invalid session identifier" (seen offline). Both exit 42.
    screen.wait_for("Error resuming session", timeout=WAIT)
    child.expect(pexpect.EOF, timeout=WAIT)
    child.close()
    assert child.exitstatus == 42 and detect([str(bin_)]).resume_refused(42)


def test_session_flags_together_are_refused_with_exit_1(
    gemini: tuple[Path, Path, dict[str, str]],
) -> None:
    """Issue 13, item 4: why resume_argv drops --session-id and --session-file."""
    bin_, cwd, env = gemini
    argv = [str(bin_), "--resume", "latest", "--session-id", str(uuid.uuid4())]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=WAIT,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 1 and "mutually exclusive" in done.stderr


def test_help_of_061_matches_the_option_table(gemini: tuple[Path, Path, dict[str, str]]) -> None:
    bin_, cwd, env = gemini
    text = subprocess.run([str(bin_), "--help"], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=WAIT).stdout  # fmt: skip
    options = re.findall(r"^ +((?:-\w, )?--[\w-]+) .*?\[(string|array|boolean)\]", text, re.M)
    assert len(options) > 20
    for names, kind in options:
        for name in names.split(", "):
            if kind == "string":
                assert name in adapter._STRING, name
            elif kind == "array":
                assert name in adapter._ARRAY, name
            else:
                assert name not in adapter._STRING | adapter._ARRAY, name
    commands = set(re.findall(r"^  gemini (\w+)", text, re.M)) - {"query"}
    assert commands and commands <= adapter._SUBCOMMANDS
