"""The Gemini CLI adapter against chats laid out as gemini-cli writes them.

The chats here have the shape Gemini CLI 0.61.0 wrote offline (see gemini_files.py):
tmp/<sha256 of the project root | registry slug>/chats/session-*.jsonl (older releases: one
.json object per chat). The real CLI runs in tests/test_e2e_agents.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from guardrun.state.agents import detect
from guardrun.state.agents.base import is_uuid
from guardrun.state.agents.gemini import GeminiAgent
from guardrun.state.agents.gemini_files import CONTEXT, chat_dirs, gemini_dir, has_user_message
from guardrun.state.agents.session import UNCERTAIN, Session

A = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
B = "0f9e8d7c-6b5a-4321-8fed-cba987654321"
C = "7333a1f3-583e-41d6-9891-cb08e5c01e57"
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


def project_of(tmp_path: Path, cwd: Path) -> Path:
    return tmp_path / ".gemini" / "tmp" / hashlib.sha256(str(cwd).encode()).hexdigest()


def chat_061(
    project_dir: Path, session_id: str, cwd: Path, started: float, prompts: list[str]
) -> Path:
    """A chat as Gemini CLI 0.61.0 writes it: metadata with the project's hash and start
    time, the $set with its own <session_context> item, then one line per prompt."""
    stamp = datetime.fromtimestamp(started, timezone.utc)
    chats = project_dir / "chats"
    chats.mkdir(parents=True, exist_ok=True)
    path = chats / f"session-{stamp.strftime('%Y-%m-%dT%H-%M')}-{session_id[:8]}.jsonl"
    iso = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    meta = {"sessionId": session_id, "projectHash": hashlib.sha256(str(cwd).encode()).hexdigest(),
            "startTime": iso, "lastUpdated": iso, "kind": "main"}  # fmt: skip
    context = {"$set": {"messages": [msg("d049", "user", [{"text": CONTEXT + "\nlinux"}])]}}
    lines = [meta, context] + [msg(f"p{i}", "user", [{"text": t}]) for i, t in enumerate(prompts)]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    os.utime(path, (started, started))
    return path


def test_a_new_run_takes_the_chat_it_created_at_start_up(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    cwd = tmp_path / "proj"
    project = project_of(tmp_path, cwd)
    started = time.time() - 60
    old = chat_061(project, B, cwd, started - 3600, ["older"])
    assert gemini.find_session(["gemini"], [], cwd, started, env) is None
    path = chat_061(project, A, cwd, started + 4, ["hi"])
    found = gemini.find_session(["gemini"], [], cwd, started, env)
    assert found is not None and found[:5] == ("gemini", A, path, cwd, "newest chat")
    # A second run in this directory, started later: its chat is not this run's.
    later = chat_061(project, C, cwd, started + 40, ["other run"])
    found = gemini.find_session(["gemini"], [], cwd, started, env)
    assert found is not None and found[:5] == ("gemini", A, path, cwd, "first chat")
    # and the later run takes its own
    found = gemini.find_session(["gemini"], [], cwd, started + 36, env)
    assert found is not None and found.transcript == later
    # An older chat written again since (another live session) is not this run's either.
    os.utime(old)
    found = gemini.find_session(["gemini"], [], cwd, started, env)
    assert found is not None and found.session_id == A


def test_two_runs_starting_together_are_uncertain(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    cwd = tmp_path / "proj"
    project = project_of(tmp_path, cwd)
    started = time.time() - 30
    chat_061(project, A, cwd, started + 3, ["mine or theirs"])
    chat_061(project, B, cwd, started + 5, ["theirs or mine"])
    found = gemini.find_session(["gemini"], [], cwd, started, env)
    assert found is not None and found.source == UNCERTAIN and found.session_id is None
    assert "2 chats" in found.note and gemini.resume_argv(["gemini"], found) is None


def test_the_argv_names_the_session(tmp_path: Path) -> None:
    """--session-id (added by launch_argv) or --resume <uuid>: the chat with that id, however
    many other chats this directory has."""
    env = {"HOME": str(tmp_path)}
    cwd = tmp_path / "proj"
    project = project_of(tmp_path, cwd)
    started = time.time() - 30
    mine = chat_061(project, A, cwd, started + 3, ["mine"])
    chat_061(project, B, cwd, started + 4, ["theirs"])
    for argv in (["gemini", "--session-id", A], ["gemini", "-r", A], ["gemini", f"--resume={A}"]):
        found = gemini.find_session(argv, [], cwd, started, env)
        assert found == Session("gemini", A, mine, cwd, "argv", "named by the run's argv")
    # Named but not written yet (before start-up ends): nothing to resume, and no guessing.
    assert gemini.find_session(["gemini", "--session-id", C], [], cwd, started, env) is None
    # A chat of that id whose own metadata names another project is not this run's.
    assert gemini.find_session(["gemini", "-r", A], [], tmp_path / "x", started, env) is None


def test_only_a_chat_with_a_prompt_is_resumed(tmp_path: Path) -> None:
    """0.61.0 creates the chat at start-up with only its <session_context> item, and Esc on
    the first prompt sets the messages back to that item: `--resume` of either exits 42."""
    cwd = tmp_path / "proj"
    project = project_of(tmp_path, cwd)
    empty = chat_061(project, A, cwd, time.time(), [])
    assert not has_user_message(empty)
    assert gemini.resume_argv(["gemini"], Session("gemini", A, empty, cwd, "t")) is None
    found = gemini.find_session(["gemini"], [], cwd, time.time() - 5, {"HOME": str(tmp_path)})
    assert found is not None and "no prompt in it yet" in found.note
    with empty.open("a") as f:
        f.write(json.dumps(msg("u1", "user", [{"text": "first markerG5"}])) + "\n")
    assert has_user_message(empty)
    with empty.open("a") as f:  # what Esc wrote, seen offline
        f.write(json.dumps(msg("i1", "info", "Request cancelled.")) + "\n")
        f.write(json.dumps({"$set": {"messages": [msg("d049", "user", CONTEXT)]}}) + "\n")
    assert not has_user_message(empty)
    with empty.open("a") as f:
        f.write(json.dumps(msg("u2", "user", "again")) + "\n")
        f.write(json.dumps(msg("g2", "gemini", "answer")) + "\n")
        f.write(json.dumps({"$rewindTo": "u2"}) + "\n")
    assert not has_user_message(empty)  # rewound to before the prompt


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gemini"], ["gemini", "--resume", A]),
        (["gemini", "-r", "--yolo"], ["gemini", "--resume", A, "--yolo"]),
        (["gemini", "--resume", "latest", "-m", "x"], ["gemini", "--resume", A, "-m", "x"]),
        (["gemini", f"--resume={B}"], ["gemini", "--resume", A]),
        # the first prompt is not sent again (issue 13, item 5)
        (["gemini", "fix the tests"], ["gemini", "--resume", A]),
        (["gemini", "-m", "gemini-2.5-flash", "-i", "fix it"],
         ["gemini", "--resume", A, "-m", "gemini-2.5-flash"]),
        (["gemini", "--prompt-interactive=fix it", "--yolo", "true", "go"],
         ["gemini", "--resume", A, "--yolo", "true"]),
        # --session-id and --session-file exclude --resume (exit 1): dropped (item 4)
        (["gemini", "--session-id", B, "-m", "x"], ["gemini", "--resume", A, "-m", "x"]),
        (["gemini", "--session-file", "s.json"], ["gemini", "--resume", A]),
        # an array option takes the words after it, as yargs does: not a prompt
        (["gemini", "--include-directories", "a", "b", "-y"],
         ["gemini", "--resume", A, "--include-directories", "a", "b", "-y"]),
        (["gemini", "--", "-x"], ["gemini", "--resume", A]),
        # not interactive: rerun, not resumed
        (["gemini", "-p", "one shot"], None), (["gemini", "mcp", "list"], None),
        (["gemini", "--list-sessions"], None), (["gemini", "extensions", "list"], None),
    ],
)  # fmt: skip
def test_resume_argv(argv: list[str], expected: list[str] | None, tmp_path: Path) -> None:
    path = chat_061(tmp_path, A, tmp_path, time.time(), ["a prompt"])
    assert gemini.resume_argv(argv, Session("gemini", A, path, Path("/"), "t")) == expected
    assert gemini.resume_argv(argv, None) is None


@pytest.mark.parametrize(
    ("argv", "names_one"),
    [
        (["gemini"], True), (["gemini", "-m", "x", "fix it"], True), (["gemini", "-i", "go"], True),
        (["gemini", "-r", "latest"], False), (["gemini", "--session-id", A], False),
        (["gemini", "--session-file", "f"], False), (["gemini", "-p", "x"], False),
        (["gemini", "mcp"], False), (["gemini", "--list-sessions"], False), (["codex"], False),
    ],
)  # fmt: skip
def test_launch_argv_names_new_sessions(argv: list[str], names_one: bool) -> None:
    got = gemini.launch_argv(argv)
    if not names_one:
        assert got == argv
        return
    assert got[:2] == [argv[0], "--session-id"] and got[3:] == argv[1:]
    assert is_uuid(got[2]) and gemini.launch_argv(argv)[2] != got[2]  # a new one each time
    assert GeminiAgent(session_id=False).launch_argv(argv) == argv


def test_resume_refused_is_exit_42() -> None:
    assert gemini.resume_refused(42) and not gemini.resume_refused(1)


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


def test_last_messages_of_a_061_chat(tmp_path: Path) -> None:
    """0.61.0 writes content as Gemini Parts ({"text": ...}, no "type") and opens with its own
    <session_context> item, which is not the user's."""
    path = chat_061(tmp_path, A, tmp_path, time.time(), ["hello gemini markerG2"])
    with path.open("a") as f:
        f.write(json.dumps(msg("g1", "gemini", [{"text": "an answer"}])) + "\n")
    got = gemini.last_messages(Session("gemini", A, path, tmp_path, "t"))
    assert [(m["role"], m["text"]) for m in got] == [
        ("user", "hello gemini markerG2"),
        ("assistant", "an answer"),
    ]


def test_a_chat_that_lost_its_metadata_line_is_not_resumed(tmp_path: Path) -> None:
    """Seen with 0.61.0: a second gemini starting in the directory deleted this run's chat
    before its first prompt, and the prompt then recreated the file without the metadata
    line; `gemini --resume <id>` of it exits 42. The session is named, and not resumed."""
    env = {"HOME": str(tmp_path)}
    cwd = tmp_path / "proj"
    chats = project_of(tmp_path, cwd) / "chats"
    chats.mkdir(parents=True)
    path = chats / f"session-2026-12-01T20-02-{A[:8]}.jsonl"
    path.write_text(json.dumps(msg("u1", "user", [{"text": "prompt A"}])) + "\n")
    found = gemini.find_session(["gemini", "--session-id", A], [], cwd, time.time() - 5, env)
    assert found is not None and (found.session_id, found.transcript) == (A, path)
    assert "metadata line" in found.note
    assert gemini.resume_argv(["gemini", "--session-id", A], found) is None


@pytest.mark.parametrize(
    "argv",
    [["gemini", "--session-id", A], ["gemini", "-m", "x", "--resume", A],
     ["gemini", "-r", "latest"], ["gemini", "--session-file", "f", "-i", "go"]],
)  # fmt: skip
def test_a_new_conversation_again_drops_the_session_the_user_named(argv: list[str]) -> None:
    """Seen in CI: the user's `--session-id X` started the first chat; rerun as it was, after
    a refused resume, Gemini says "Session ID X already exists" (exit 42) every time."""
    assert gemini.launch_argv(argv) == argv  # the first start: the user's own choice
    again = gemini.launch_argv(argv, again=True)
    assert again[1] == "--session-id" and is_uuid(again[2]) and again[2] != A
    rest = again[3:]
    assert not {"--resume", "-r", "--session-file"} & set(rest) and A not in rest
    assert GeminiAgent(session_id=False).launch_argv(argv, again=True)[1:2] != ["--session-id"]
    assert gemini.launch_argv(["gemini", "-p", "x"], again=True) == ["gemini", "-p", "x"]
