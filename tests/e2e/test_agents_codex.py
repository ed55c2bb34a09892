"""The Codex CLI adapter against rollouts laid out as Codex writes them.

No Codex binary runs here (it needs a network login); the rollout shape follows the public
codex-rs sources: a session_meta first line, then response_item lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from guardrun.state.agents import detect
from guardrun.state.agents.base import Session
from guardrun.state.agents.codex import CodexAgent, codex_home

A = "019bd6d8-b99b-7eb1-847c-87c3da10673a"
B = "5973b6c0-94b8-487b-a530-2aeb6098ae0e"
codex = CodexAgent()


def rollout(home: Path, session_id: str, cwd: Path, when: float | None = None) -> Path:
    when = time.time() if when is None else when
    stamp = datetime.fromtimestamp(when)
    directory = home / "sessions" / stamp.strftime("%Y/%m/%d")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"rollout-{stamp.strftime('%Y-%m-%dT%H-%M-%S')}-{session_id}.jsonl"
    ts = "2026-01-19T15:21:26.203Z"
    lines = [
        {"timestamp": ts, "type": "session_meta",
         "payload": {"id": session_id, "timestamp": ts, "cwd": str(cwd),
                     "originator": "codex_cli_rs", "cli_version": "0.88.0", "source": "cli"}},
        {"timestamp": ts, "type": "response_item",
         "payload": {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "<environment_context>x"}]}},
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


@pytest.mark.parametrize("argv", [["codex"], ["/usr/bin/codex", "resume"], ["node", "codex.js"]])
def test_detects_codex(argv: list[str]) -> None:
    assert detect(argv).name == "codex"


def test_codex_home() -> None:
    assert codex_home({"CODEX_HOME": "/c", "HOME": "/h"}) == Path("/c")
    assert codex_home({"HOME": "/h"}) == Path("/h/.codex")


def test_newest_rollout_for_this_cwd(tmp_path: Path) -> None:
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    cwd.mkdir()
    env = {"CODEX_HOME": str(home)}
    started = time.time()
    rollout(home, B, cwd, when=started - 7200)  # an earlier run
    rollout(home, B.replace("5", "6"), tmp_path / "elsewhere")  # another project, now
    assert codex.find_session(["codex"], [], cwd, started, env) is None
    path = rollout(home, A, cwd)
    found = codex.find_session(["codex"], [], cwd, started, env)
    assert found == Session("codex", A, path, cwd, "newest rollout")


def test_rollout_held_open_by_the_tree_wins(tmp_path: Path) -> None:
    """Codex keeps its rollout open; a real process holding one open is found through /proc,
    even when a newer rollout for the same cwd exists (a second codex in the same project)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/<pid>/fd")
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    cwd.mkdir()
    held = rollout(home, A, cwd)
    rollout(home, B, cwd, when=time.time() + 5)
    code = f"import time; f = open({str(held)!r}, 'a'); print('ok', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ok\n"
        env = {"CODEX_HOME": str(home)}
        found = codex.find_session(["codex"], [proc.pid], cwd, time.time() - 5, env)
        assert found == Session("codex", A, held, cwd, "open file")
        found = codex.find_session(["codex"], [], cwd, time.time() - 5, env)
        assert found is not None and found.session_id == B
    finally:
        proc.kill()
        proc.communicate()


def test_argv_names_the_session(tmp_path: Path) -> None:
    home, cwd = tmp_path / "codex", tmp_path / "proj"
    env = {"CODEX_HOME": str(home)}
    path = rollout(home, A, cwd, when=time.time() - 86400 * 30)
    found = codex.find_session(["codex", "-m", "o3", "resume", A], [], cwd, time.time(), env)
    assert found == Session("codex", A, path, cwd, "argv")
    found = codex.find_session(["codex", "resume", B], [], cwd, time.time(), env)
    assert found == Session("codex", B, None, cwd, "argv")
    assert codex.find_session(["codex", "resume", "../x"], [], cwd, time.time(), env) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["codex"], ["codex", "resume", A]),
        (["codex", "-m", "o3", "fix the bug", "--full-auto"],
         ["codex", "-m", "o3", "--full-auto", "resume", A]),
        (["codex", "resume", "--last"], ["codex", "resume", A]),
        (["codex", "-c", "model=x", "resume", B], ["codex", "-c", "model=x", "resume", A]),
        (["codex", "-i", "shot.png", "describe"], ["codex", "resume", A]),
        (["codex", "exec", "do it"], None),
        (["node", "/x/codex.js", "--model=o3"], ["node", "/x/codex.js", "--model=o3", "resume", A]),
    ],
)  # fmt: skip
def test_resume_argv(argv: list[str], expected: list[str] | None) -> None:
    assert codex.resume_argv(argv, Session("codex", A, None, Path("/"), "t")) == expected
    assert codex.resume_argv(argv, None) is None


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
