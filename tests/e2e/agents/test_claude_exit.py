"""End to end with the real Claude Code CLI 2.1.197: a state at a normal quit (issue 13),
so that ``guardrun state resume latest`` returns to the conversation just left, and one
such state per conversation however often it is left.

Offline every prompt is answered "Not logged in · Please run /login": enough, since the
transcript exists and holds the prompt.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pexpect
import pytest
from support.claude import (
    PROMPT_READY,
    wait_for_file,
)
from support.guarded_agent import (
    WAIT,
    Run,
    spawned,
    start,
    states,
)

__all__ = ["spawned"]  # the fixture, imported

pytestmark = [pytest.mark.claude, pytest.mark.slow, pytest.mark.timeout(240)]


def transcript(env: dict[str, str]) -> Path:
    found = wait_for_file("projects/*/*.jsonl", Path(env["CLAUDE_CONFIG_DIR"]), timeout=WAIT)
    return found[0]


def quit(run: Run) -> int:
    """Quit as a user does: Ctrl-C, and once Claude says "Press Ctrl-C again to exit",
    Ctrl-C again (a first Ctrl-C while a prompt is in flight only interrupts it)."""
    for _ in range(5):
        start_at = len(run.screen.raw)
        run.guard.sendcontrol("c")
        try:
            run.screen.wait_for("again to exit", timeout=5, start=start_at)
            break
        except AssertionError:
            continue
    run.guard.sendcontrol("c")
    run.guard.expect(pexpect.EOF, timeout=WAIT)
    run.guard.close()
    return int(run.guard.exitstatus if run.guard.exitstatus is not None else -1)


def exit_states(env: dict[str, str], cwd: Path, session: str) -> list[dict[str, object]]:
    return [
        s for s in states(env, cwd)
        if s["reason"] == "exit" and s["conversation"]["session_id"] == session  # type: ignore[index]
    ]  # fmt: skip


def test_a_quit_saves_an_exit_state_once_per_conversation(
    claude: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    bin_, cwd, env = claude
    run = start([str(bin_), f"hello {uuid.uuid4().hex[:6]}"], cwd, env, spawned, "/login")
    session = transcript(env).stem
    assert quit(run) == 0
    first = exit_states(env, cwd, session)
    assert len(first) == 1  # `guardrun state resume latest` goes back to it
    # Back into it and out again: still one exit state for this conversation, the newer.
    again = start([str(bin_), "--resume", session], cwd, env, spawned, PROMPT_READY)
    assert quit(again) == 0
    second = exit_states(env, cwd, session)
    assert len(second) == 1 and second[0]["id"] != first[0]["id"]
