"""The Codex CLI adapter against rollouts laid out as Codex writes them.

Rollouts here have the shape Codex CLI 0.171.0 wrote offline (a session_meta first line with
``cwd`` and ``thread_source``, Codex's own ``<environment_context>`` user item, then the
prompt); the real CLI runs in tests/test_e2e_agents.py. Processes holding a rollout open are
real children (the daemon one with Codex's daemon argv), read through /proc like Codex's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from guardrun.state.agents import detect
from guardrun.state.agents.codex import CodexAgent, codex_home, has_user_message
from guardrun.state.agents.session import UNCERTAIN, Session

A = "019bd6d8-b99b-7eb1-847c-87c3da10673a"
B = "5973b6c0-94b8-487b-a530-2aeb6098ae0e"
C = "01a23322-9728-72c0-bb6e-025bf79b4885"
codex = CodexAgent()


def rollout(
    home: Path, session_id: str, cwd: Path, when: float | None = None, prompt: bool = True
) -> Path:
    when = time.time() if when is None else when
    stamp = datetime.fromtimestamp(when)
    directory = home / "sessions" / stamp.strftime("%Y/%m/%d")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"rollout-{stamp.strftime('%Y-%m-%dT%H-%M-%S')}-{session_id}.jsonl"
    ts = "2026-01-19T15:21:26.203Z"
    lines = [
        {"timestamp": ts, "type": "session_meta",
         "payload": {"id": session_id, "session_id": session_id, "timestamp": ts,
                     "cwd": str(cwd), "originator": "codex-tui", "cli_version": "0.171.0",
                     "source": "cli", "thread_source": "user"}},
        {"timestamp": ts, "type": "response_item",
         "payload": {"type": "message", "role": "developer",
                     "content": [{"type": "input_text", "text": "You are Codex"}]}},
        {"timestamp": ts, "type": "response_item",
         "payload": {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "<environment_context>x"}]}},
    ]  # fmt: skip
    if prompt:
        lines += [
            {"timestamp": ts, "type": "response_item",
             "payload": {"type": "message", "role": "user",
                         "content": [{"type": "input_text", "text": "list the files"}]}},
            {"timestamp": ts, "type": "response_item",
             "payload": {"type": "reasoning", "summary": [], "encrypted_content": "zzz"}},
            {"timestamp": ts, "type": "response_item",
             "payload": {"type": "function_call", "name": "shell",
                         "arguments": "{\"command\":[\"ls\"]}", "call_id": "c1"}},
            {"timestamp": ts, "type": "response_item",
             "payload": {"type": "function_call_output", "call_id": "c1",
                         "output": {"content": "a.txt\nb.txt", "success": True}}},
            {"timestamp": ts, "type": "event_msg",
             "payload": {"type": "agent_message", "message": "There are two files."}},
            {"timestamp": ts, "type": "response_item",
             "payload": {"type": "message", "role": "assistant",
                         "content": [{"type": "output_text", "text": "There are two files."}]}},
        ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    os.utime(path, (when, when))
    return path


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.communicate()


def hold_open(procs: list[subprocess.Popen[bytes]], *paths: Path, daemon: bool = False) -> int:
    """A real process holding ``paths`` open, as Codex does; ``daemon`` gives it the argv of
    Codex's shared daemon (`... app-server --listen unix:// --managed-daemon`)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/<pid>/fd")
    code = (f"import time; fs = [open(p, 'a') for p in {[str(p) for p in paths]!r}]; "
            "print('ok', flush=True); time.sleep(60)")  # fmt: skip
    extra = ["app-server", "--listen", "unix://", "--managed-daemon"] if daemon else []
    proc = subprocess.Popen([sys.executable, "-c", code, *extra], stdout=subprocess.PIPE)
    procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"
    return proc.pid


@pytest.mark.parametrize("argv", [["codex"], ["/usr/bin/codex", "resume"], ["node", "codex.js"]])
def test_detects_codex(argv: list[str]) -> None:
    assert detect(argv).name == "codex"


def test_codex_home() -> None:
    assert codex_home({"CODEX_HOME": "/c", "HOME": "/h"}) == Path("/c")
    assert codex_home({"HOME": "/h"}) == Path("/h/.codex")


def test_the_only_new_rollout_for_this_cwd(tmp_path: Path) -> None:
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    cwd.mkdir()
    env = {"CODEX_HOME": str(home)}
    started = time.time()
    rollout(home, B, cwd, when=started - 7200)  # an earlier run
    rollout(home, B.replace("5", "6"), tmp_path / "elsewhere")  # another project, now
    assert codex.find_session(["codex"], [], cwd, started, env) is None
    path = rollout(home, A, cwd)
    found = codex.find_session(["codex"], [], cwd, started, env)
    assert found is not None and found[:5] == ("codex", A, path, cwd, "newest rollout")
    # A second one in the same directory: either could be this run's, so neither is taken.
    rollout(home, C, cwd)
    found = codex.find_session(["codex"], [], cwd, started, env)
    assert found is not None and found.source == UNCERTAIN and found.session_id is None
    assert "2 rollouts" in found.note and codex.resume_argv(["codex"], found) is None


def test_rollout_held_open_by_the_tree_wins(
    tmp_path: Path, holders: list[subprocess.Popen[bytes]]
) -> None:
    """With --no-daemon the run's own codex holds its rollout open: that one is the answer,
    even when a newer rollout for the same cwd exists (a second codex in the same project)."""
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    cwd.mkdir()
    held = rollout(home, A, cwd)
    rollout(home, B, cwd, when=time.time() + 5)
    pid = hold_open(holders, held)
    env = {"CODEX_HOME": str(home)}
    found = codex.find_session(["codex"], [pid], cwd, time.time() - 5, env)
    assert found == Session("codex", A, held, cwd, "open file", "held open by the run's codex")


def test_a_daemon_holding_every_rollout_is_no_evidence(
    tmp_path: Path, holders: list[subprocess.Popen[bytes]]
) -> None:
    """Codex's shared daemon (0.171) holds every session's rollout open, another run's and
    another project's too: the rollout of this run is then told by cwd and time alone, and
    two candidates are uncertain, never "the newest open one"."""
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    cwd.mkdir()
    env = {"CODEX_HOME": str(home)}
    started = time.time()
    other_project = rollout(home, B, tmp_path / "elsewhere")
    mine = rollout(home, A, cwd, when=started - 1)
    pid = hold_open(holders, mine, other_project, daemon=True)
    found = codex.find_session(["codex"], [pid], cwd, started, env)
    assert found is not None and found[:5] == ("codex", A, mine, cwd, "newest rollout")
    assert "daemon" in found.note
    neighbour = rollout(home, C, cwd)  # a second codex in this directory, same daemon
    os.utime(neighbour)
    found = codex.find_session(["codex"], [pid], cwd, started, env)
    assert found is not None and found.source == UNCERTAIN and "--no-daemon" in found.note


def test_a_held_rollout_of_another_directory_is_not_taken(
    tmp_path: Path, holders: list[subprocess.Popen[bytes]]
) -> None:
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    cwd.mkdir()
    held = rollout(home, A, tmp_path / "elsewhere")
    pid = hold_open(holders, held)
    found = codex.find_session(["codex"], [pid], cwd, time.time() - 5, {"CODEX_HOME": str(home)})
    assert found is not None and found.source == UNCERTAIN and "not for" in found.note
    # -C/--cd names the directory Codex works in: its rollout records that one.
    argv = ["codex", "-C", str(tmp_path / "elsewhere")]
    found = codex.find_session(argv, [pid], cwd, time.time() - 5, {"CODEX_HOME": str(home)})
    assert found is not None and found.session_id == A


def test_argv_names_the_session(tmp_path: Path) -> None:
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    env = {"CODEX_HOME": str(home)}
    path = rollout(home, A, cwd, when=time.time() - 86400 * 30)
    found = codex.find_session(["codex", "-m", "o3", "resume", A], [], cwd, time.time(), env)
    assert found == Session("codex", A, path, cwd, "argv", "named by the run's argv")
    # No rollout for the id: nothing `codex resume` could open ("No saved session found").
    assert codex.find_session(["codex", "resume", B], [], cwd, time.time(), env) is None
    assert codex.find_session(["codex", "resume", "../x"], [], cwd, time.time(), env) is None
    # A rollout of that id for another directory is not this run's.
    assert codex.find_session(["codex", "resume", A], [], tmp_path, time.time(), env) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["codex"], ["codex", "--no-daemon", "resume", A]),
        (["codex", "--no-daemon", "-m", "o3", "fix the bug", "--full-auto"],
         ["codex", "--no-daemon", "-m", "o3", "--full-auto", "resume", A]),
        (["codex", "resume", "--last"], ["codex", "--no-daemon", "resume", A]),
        (["codex", "-c", "model=x", "resume", B, "go on"],
         ["codex", "--no-daemon", "-c", "model=x", "resume", A]),
        (["codex", "-i", "shot.png", "two.png", "describe"], ["codex", "--no-daemon", "resume", A]),
        # --remote and --remote-auth-token-env take a value (0.171); no daemon question there
        (["codex", "--remote", "unix:///s"], ["codex", "--remote", "unix:///s", "resume", A]),
        (["codex", "--remote-auth-token-env", "TOK", "--remote", "ws://h:1", "hi"],
         ["codex", "--remote-auth-token-env", "TOK", "--remote", "ws://h:1", "resume", A]),
        (["codex", "fork", B], ["codex", "--no-daemon", "resume", A]),
        (["node", "/x/codex.js", "--model=o3"],
         ["node", "/x/codex.js", "--no-daemon", "--model=o3", "resume", A]),
        # not interactive sessions (0.171 `codex --help`): rerun, never resumed
        (["codex", "exec", "do it"], None), (["codex", "review"], None),
        (["codex", "agents"], None), (["codex", "queue", "--thread", A, "--message", "x"], None),
        (["codex", "archive", A], None), (["codex", "delete", A], None),
        (["codex", "plugin", "list"], None), (["codex", "-m", "o3", "mcp", "list"], None),
    ],
)  # fmt: skip
def test_resume_argv(argv: list[str], expected: list[str] | None, tmp_path: Path) -> None:
    path = rollout(tmp_path, A, tmp_path)
    assert codex.resume_argv(argv, Session("codex", A, path, Path("/"), "t")) == expected
    assert codex.resume_argv(argv, None) is None


def test_resume_argv_with_the_daemon_allowed(tmp_path: Path) -> None:
    path = rollout(tmp_path, A, tmp_path)
    shared = CodexAgent(no_daemon=False)
    assert shared.resume_argv(["codex"], Session("codex", A, path, Path("/"), "t")) == [
        "codex", "resume", A
    ]  # fmt: skip
    assert shared.launch_argv(["codex", "hi"]) == ["codex", "hi"]


def test_nothing_to_resume_before_the_first_prompt(tmp_path: Path) -> None:
    """No rollout yet, or one holding only Codex's own context: `codex resume` would bring
    back nothing, so the restart reruns the command (with its prompt, never sent)."""
    assert codex.resume_argv(["codex"], Session("codex", A, None, Path("/"), "t")) is None
    bare = rollout(tmp_path, A, tmp_path, prompt=False)
    session = Session("codex", A, bare, Path("/"), "t")
    assert not has_user_message(bare) and codex.resume_argv(["codex", "go"], session) is None
    assert codex.launch_argv(["codex", "go"]) == ["codex", "--no-daemon", "go"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["codex"], ["codex", "--no-daemon"]),
        (["codex", "-m", "o3", "fix it"], ["codex", "--no-daemon", "-m", "o3", "fix it"]),
        (["codex", "resume", A], ["codex", "--no-daemon", "resume", A]),
        (["codex", "--no-daemon"], ["codex", "--no-daemon"]),
        (["codex", "--remote", "ws://h:1"], ["codex", "--remote", "ws://h:1"]),
        (["codex", "exec", "x"], ["codex", "exec", "x"]),
        (["codex", "login", "--with-api-key"], ["codex", "login", "--with-api-key"]),
        (["aider"], ["aider"]),
    ],
)  # fmt: skip
def test_launch_argv(argv: list[str], expected: list[str]) -> None:
    assert codex.launch_argv(argv) == expected


def test_a_new_conversation_again_leaves_out_the_resumed_session() -> None:
    assert codex.launch_argv(["codex", "resume", A], again=True) == ["codex", "--no-daemon"]
    assert codex.launch_argv(["codex", "-m", "o3", "fork", A], again=True) == [
        "codex", "--no-daemon", "-m", "o3"
    ]  # fmt: skip
    assert codex.launch_argv(["codex", "go"], again=True) == ["codex", "--no-daemon", "go"]
    assert codex.launch_argv(["codex", "exec", "x"], again=True) == ["codex", "exec", "x"]


def test_resume_refused_is_exit_1() -> None:
    assert codex.resume_refused(1) and not codex.resume_refused(0)
    assert not codex.resume_refused(130)


def test_last_messages(tmp_path: Path) -> None:
    path = rollout(tmp_path, A, tmp_path)
    got = codex.last_messages(Session("codex", A, path, tmp_path, "t"))
    assert [(m["role"], m["text"]) for m in got] == [
        ("user", "list the files"),
        ("assistant", '[tool_use shell: {"command":["ls"]}]'),
        ("user", "[tool_result: a.txt b.txt]"),
        ("assistant", "There are two files."),
    ]
    assert got[0]["timestamp"] == "2026-01-19T15:21:26.203Z"
