"""End to end: the real Claude Code CLI 2.1.197 under guardrun, the argv cases of issue 13.

Offline every prompt is answered at once by "Not logged in · Please run /login" (see
tests/claude_cli.py), which is enough: the transcript exists and holds the prompt.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pexpect
import pytest
from support.claude import (
    PROMPT_READY,
    spawn,
    type_prompt,
    wait_for_file,
    wait_until,
)
from support.guarded_agent import WAIT, restart, spawned, start, state_of, stays_alive

__all__ = ["spawned"]  # the fixture, imported

pytestmark = [pytest.mark.claude, pytest.mark.slow, pytest.mark.timeout(180)]


def session_of(env: dict[str, str], pid: int) -> str | None:
    path = Path(env["CLAUDE_CONFIG_DIR"]) / "sessions" / f"{pid}.json"
    try:
        return str(json.loads(path.read_text())["sessionId"])
    except (OSError, ValueError, KeyError):
        return None


def test_the_first_prompt_is_not_sent_again(
    claude: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """Issue 13, item 5: `claude "fix the tests"` restarted with the prompt in its argv."""
    bin_, cwd, env = claude
    marker = f"task{uuid.uuid4().hex[:8]}"
    run = start([str(bin_), f"guardrun test {marker}"], cwd, env, spawned, "Please run /login")
    session = wait_until(lambda: session_of(env, run.pid), timeout=WAIT)
    assert session and wait_for_file(f"projects/*/{session}.jsonl", Path(env["CLAUDE_CONFIG_DIR"]))
    new = restart(run, bin_)
    assert new.args == ["--resume", session]
    assert stays_alive(new, 2.0)
    assert state_of(env, cwd, run.pid)["conversation"]["session_id"] == session


def test_a_fork_restarted_before_its_first_prompt_is_the_same_fork(
    claude: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """Issue 13, item 8: `--resume S --fork-session` restarted before its first prompt forked
    once more (a new id); now it makes the same fork id F again, and F then holds the turn."""
    bin_, cwd, env = claude
    child, screen = spawn([str(bin_)], cwd, env)
    screen.wait_for(PROMPT_READY, timeout=WAIT)
    type_prompt(screen, "the original session", timeout=WAIT)
    original = wait_until(lambda: session_of(env, child.pid), timeout=WAIT)
    assert original
    (path,) = wait_for_file(f"projects/*/{original}.jsonl", Path(env["CLAUDE_CONFIG_DIR"]))
    # The whole turn, prompt and reply (either can be written first), before the kill.
    assert wait_until(lambda: "the original session" in path.read_text()
                      and "Please run /login" in path.read_text(), timeout=WAIT)  # fmt: skip
    os.killpg(child.pid, signal.SIGKILL)
    child.close()

    argv = [str(bin_), "--resume", original, "--fork-session"]
    run = start(argv, cwd, env, spawned, PROMPT_READY)
    fork = wait_until(lambda: session_of(env, run.pid), timeout=WAIT)
    assert fork and fork != original
    new = restart(run, bin_)
    assert new.args == ["--session-id", fork, "--resume", original, "--fork-session"]
    assert wait_until(lambda: session_of(env, new.pid), timeout=WAIT) == fork
    marker = f"fork{uuid.uuid4().hex[:8]}"
    type_prompt(run.screen, f"guardrun test {marker}", timeout=WAIT)
    (forked,) = wait_for_file(f"projects/*/{fork}.jsonl", Path(env["CLAUDE_CONFIG_DIR"]))
    assert wait_until(lambda: marker in forked.read_text(), timeout=WAIT)
