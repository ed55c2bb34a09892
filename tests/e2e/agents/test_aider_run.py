"""End to end: the real Aider 0.86.2, offline, under guardrun in a PTY.

Offline there is no model reply; a prompt still goes into .aider.chat.history.md, which is
what ``--restore-chat-history`` brings back. Aider has no session id: two aiders in one
directory share that one file (documented in docs/agents.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pexpect
import pytest
from support.agent_clis import AIDER, AIDER_ARGS, aider_env, require
from support.claude import wait_until
from support.guarded_agent import WAIT, restart, spawned, start, state_of, stays_alive

__all__ = ["spawned"]  # the fixture, imported

pytestmark = [pytest.mark.aider, pytest.mark.slow, pytest.mark.timeout(180)]


def test_restart_restores_the_chat_history(tmp_path: Path, spawned: list[pexpect.spawn]) -> None:
    bin_ = require("aider", AIDER)
    cwd = tmp_path / "project"
    cwd.mkdir()
    env = aider_env(tmp_path)
    run = start([str(bin_), *AIDER_ARGS], cwd, env, spawned, "Repo-map")
    marker = f"aider{uuid.uuid4().hex[:8]}"
    run.screen.drain(1.0)
    run.guard.send(f"guardrun test {marker}\r")
    history = cwd / ".aider.chat.history.md"
    assert wait_until(lambda: history.is_file() and marker in history.read_text(), WAIT)
    new = restart(run, bin_)
    assert new.args == [*AIDER_ARGS, "--restore-chat-history"]
    assert stays_alive(new, 2.0)
    conv = state_of(env, cwd, run.pid)["conversation"]
    assert conv["agent"] == "aider" and conv["transcript"]["path"] == str(history)
    assert any(marker in m["text"] for m in conv["last_messages"] if m["role"] == "user")
