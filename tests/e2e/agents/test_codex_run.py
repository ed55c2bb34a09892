"""End to end: the real Codex CLI 0.171.0, offline, under guardrun in a PTY.

Offline there is no model reply: a typed prompt reaches the rollout (that is what is
resumed) and the reply never comes, so these tests check the conversation by its prompts.
See tests/agent_clis.py for what the CLI does offline. guardrun is given ``--no-daemon``
here as the Codex adapter's ``launch_argv`` adds it (the supervisor's first start applies it
once wired; the test passes it itself to test the same command line).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pexpect
import pytest
from support.agent_clis import CODEX, CODEX_READY, codex_env, require
from support.claude import spawn, type_prompt, wait_until
from support.guarded_agent import WAIT, Run, restart, spawned, start, state_of, stays_alive, tree_of

from guardrun.state.agents import detect
from guardrun.state.agents.codex import rollout_meta

__all__ = ["spawned"]  # the fixture, imported

pytestmark = [pytest.mark.codex, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def codex(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    cwd = tmp_path / "project"
    cwd.mkdir()
    return require("codex", CODEX), cwd, codex_env(tmp_path)


def rollout_with(env: dict[str, str], marker: str) -> Path | None:
    for path in Path(env["CODEX_HOME"]).glob("sessions/*/*/*/rollout-*.jsonl"):
        if marker in path.read_text(errors="replace"):
            return path
    return None


def converse(run: Run, env: dict[str, str], marker: str) -> str:
    """Type a prompt; wait until it is in a rollout; return that session's id."""
    type_prompt(run.screen, f"guardrun test {marker}", timeout=WAIT)
    path = wait_until(lambda: rollout_with(env, marker), timeout=WAIT)
    assert path, f"no rollout holds {marker}"
    return str(rollout_meta(path)["id"])


def test_two_codex_runs_in_one_directory_each_resume_their_own(
    codex: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """Issue 13, item 1: with the shared daemon the second run was restarted into the
    first's conversation. With --no-daemon each run's codex holds its own rollout."""
    bin_, cwd, env = codex
    argv = detect([str(bin_)]).launch_argv([str(bin_)])
    assert argv == [str(bin_), "--no-daemon"]
    first = start(argv, cwd, env, spawned, CODEX_READY)
    second = start(argv, cwd, env, spawned, CODEX_READY)
    markers = [f"first{uuid.uuid4().hex[:8]}", f"second{uuid.uuid4().hex[:8]}"]
    ids = [converse(run, env, m) for run, m in zip((first, second), markers, strict=True)]
    assert ids[0] != ids[1]
    for run, session, marker in zip((first, second), ids, markers, strict=True):
        mark = len(run.screen.raw)
        new = restart(run, bin_)
        assert new.args == ["--no-daemon", "resume", session]
        run.screen.wait_for(marker, timeout=WAIT, start=mark)  # the conversation, reprinted
        conv = state_of(env, cwd, run.pid)["conversation"]
        assert (conv["session_id"], conv["session_source"]) == (session, "open file")
        assert any(marker in m["text"] for m in conv["last_messages"])


def test_restart_before_the_first_prompt_keeps_a_running_codex(
    codex: tuple[Path, Path, dict[str, str]], spawned: list[pexpect.spawn]
) -> None:
    """No rollout exists before the first prompt: the restart reruns the command, initial
    prompt included (it was never sent), and Codex keeps running in a new conversation."""
    bin_, cwd, env = codex
    argv = [str(bin_), "--no-daemon", "-c", "model_reasoning_effort=low"]
    run = start(argv, cwd, env, spawned, CODEX_READY)
    assert not list(Path(env["CODEX_HOME"]).glob("sessions/*/*/*/rollout-*.jsonl"))
    new = restart(run, bin_)
    assert new.args == argv[1:]
    assert stays_alive(new, 3.0), "codex ended after the restart"
    state = state_of(env, cwd, run.pid)
    assert state["conversation"]["session_id"] is None
    assert state["restart"]["resume_argv"] is None


def test_the_daemon_holds_the_rollout_and_is_not_taken_for_the_run(
    codex: tuple[Path, Path, dict[str, str]],
) -> None:
    """Without --no-daemon (0.171 default) the rollout is open in the daemon only, not in
    the TUI: the adapter does not count the daemon's files as the run's own."""
    bin_, cwd, env = codex
    child, screen = spawn([str(bin_)], cwd, env)
    daemons: list[int] = []
    try:
        screen.wait_for(CODEX_READY, timeout=WAIT)
        marker = f"daemon{uuid.uuid4().hex[:8]}"
        type_prompt(screen, f"guardrun test {marker}", timeout=WAIT)
        path = wait_until(lambda: rollout_with(env, marker), timeout=WAIT)
        assert path
        tree = tree_of(child.pid)
        holders = [p for p in tree if _holds(p, path)]
        daemons = [p for p in tree if "app-server" in _argv(p)]
        assert holders and set(holders) <= set(daemons), (holders, daemons)
        found = detect([str(bin_)]).find_session([str(bin_)], tree, cwd, time.time() - 60, env)
        assert found is not None and found.source == "newest rollout"
        assert "daemon" in found.note
    finally:
        daemons += [p for p in tree_of(child.pid) if "app-server" in _argv(p)]
        child.terminate(force=True)
        child.close()
        for pid in set(daemons):  # started by this test; it ignores SIGTERM after a prompt
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_resume_of_an_unknown_session_is_refused_with_exit_1(
    codex: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_, cwd, env = codex
    child, screen = spawn([str(bin_), "--no-daemon", "resume", str(uuid.uuid4())], cwd, env)
    screen.wait_for("No saved session found", timeout=WAIT)
    child.expect(pexpect.EOF, timeout=WAIT)
    child.close()
    assert child.exitstatus == 1 and detect([str(bin_)]).resume_refused(child.exitstatus)


def _holds(pid: int, path: Path) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            pass
    return False


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def test_help_of_0171_matches_the_option_table(codex: tuple[Path, Path, dict[str, str]]) -> None:
    """Every subcommand and every value-taking option `codex --help` lists is in the
    adapter's tables, so a new one cannot be resumed as if it were a prompt."""
    from guardrun.state.agents import codex as adapter

    bin_, _, env = codex
    text = subprocess.run([str(bin_), "--help"], capture_output=True, text=True, env=env,
                          timeout=WAIT).stdout  # fmt: skip
    commands = text.split("Commands:")[1].split("Arguments:")[0]
    # "  name   description": two spaces; wrapped description lines are indented deeper
    names = {ln.split()[0] for ln in commands.splitlines() if ln[:2] == "  " and ln[2:3] != " "}
    assert names and names <= adapter._SUBCOMMANDS
    valued = set()
    for line in text.splitlines():
        words = line.replace(",", " ").split()
        if words and words[0].startswith("-") and any(w.startswith("<") for w in words):
            valued |= {w for w in words if w.startswith("-")}
    assert valued and valued <= adapter._ONE | adapter._MANY, json.dumps(sorted(valued))
    assert {"--remote", "--remote-auth-token-env", "-i"} <= valued
