"""The Gemini CLI adapter against chats laid out as gemini-cli writes them.

No Gemini binary runs here (it needs a network login); the layout follows the public
gemini-cli sources: tmp/<sha256 of the project root | registry slug>/chats/session-*.jsonl
(older releases: one .json object per chat).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from guardrun.state.agents import detect
from guardrun.state.agents.base import Session
from guardrun.state.agents.gemini import GeminiAgent, chat_dirs, gemini_dir

A = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
B = "0f9e8d7c-6b5a-4321-8fed-cba987654321"
gemini = GeminiAgent()


def chat(project_dir: Path, session_id: str, records: list[dict[str, object]]) -> Path:
    chats = project_dir / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    path = chats / f"session-2026-01-19T15-21-{session_id[:8]}.jsonl"
    meta = {"sessionId": session_id, "projectHash": "h", "startTime": "2026-01-19T15:21:00Z"}
    path.write_text("".join(json.dumps(x) + "\n" for x in [meta, *records]))
    return path


def msg(ident: str, kind: str, content: object, **extra: object) -> dict[str, object]:
    return {"id": ident, "timestamp": f"t{ident}", "type": kind, "content": content, **extra}


def test_detect_and_home() -> None:
    assert detect(["/opt/bin/gemini", "-r"]).name == "gemini"
    assert gemini_dir({"GEMINI_CLI_HOME": "/g", "HOME": "/h"}) == Path("/g/.gemini")
    assert gemini_dir({"HOME": "/h"}) == Path("/h/.gemini")


def test_hash_dir_and_registry_slug(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    cwd = tmp_path / "proj"
    hashed = tmp_path / ".gemini" / "tmp" / hashlib.sha256(str(cwd).encode()).hexdigest()
    slugged = tmp_path / ".gemini" / "tmp" / "proj"
    hashed.mkdir(parents=True)
    slugged.mkdir(parents=True)
    registry = {"projects": {str(cwd): "proj", "/other": "../../etc"}}
    (tmp_path / ".gemini" / "projects.json").write_text(json.dumps(registry))
    assert chat_dirs(env, cwd) == [slugged / "chats", hashed / "chats"]
    # A slug that is not a plain name never becomes a path.
    assert chat_dirs(env, Path("/other")) == []


def test_find_newest_chat_and_argv(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    cwd = tmp_path / "proj"
    project = tmp_path / ".gemini" / "tmp" / hashlib.sha256(str(cwd).encode()).hexdigest()
    old = chat(project, B, [])
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    started = time.time()
    assert gemini.find_session(["gemini"], [], cwd, started, env) is None
    path = chat(project, A, [msg("1", "user", "hi")])
    assert gemini.find_session(["gemini"], [], cwd, started, env) == Session(
        "gemini", A, path, cwd, "newest chat"
    )
    found = gemini.find_session(["gemini", "--resume", B], [], cwd, started, env)
    assert found == Session("gemini", B, old, cwd, "argv")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gemini"], ["gemini", "--resume", A]),
        (["gemini", "-r", "--yolo"], ["gemini", "--resume", A, "--yolo"]),
        (["gemini", "--resume", "latest", "-m", "x"], ["gemini", "--resume", A, "-m", "x"]),
        (["gemini", f"--resume={B}"], ["gemini", "--resume", A]),
    ],
)
def test_resume_argv(argv: list[str], expected: list[str]) -> None:
    assert gemini.resume_argv(argv, Session("gemini", A, None, Path("/"), "t")) == expected
    assert gemini.resume_argv(argv, None) is None


def test_last_messages_dedupe_and_rewind(tmp_path: Path) -> None:
    records = [
        msg("1", "user", "first question"),
        msg("2", "gemini", "first answer"),
        msg("3", "user", [{"text": "a question to be rewound"}]),
        msg("4", "gemini", "an answer to be rewound"),
        {"$rewindTo": "3"},
        msg("5", "user", "second question"),
        msg("6", "gemini", "partial"),
        {"$set": {"lastUpdated": "x"}},
        msg("6", "gemini", "second answer", toolCalls=[{"name": "ls", "args": {"dir": "."}}]),
        msg("7", "info", "Update available"),
    ]
    path = chat(tmp_path, A, records)
    got = gemini.last_messages(Session("gemini", A, path, tmp_path, "t"))
    assert [(m["role"], m["text"]) for m in got] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
        ("assistant", 'second answer\n[tool_use ls: {"dir":"."}]'),
    ]
    assert got[0]["timestamp"] == "t1"


def test_last_messages_legacy_json(tmp_path: Path) -> None:
    path = tmp_path / f"session-2025-01-01T00-00-{A[:8]}.json"
    data = {"sessionId": A, "projectHash": "h", "messages": [
        msg("1", "user", "q"), msg("2", "gemini", "a"), msg("3", "error", "boom")]}  # fmt: skip
    path.write_text(json.dumps(data))
    session = Session("gemini", A, path, tmp_path, "t")
    assert [m["text"] for m in gemini.last_messages(session)] == ["q", "a"]
    assert [m["text"] for m in gemini.last_messages(session, 1)] == ["a"]
