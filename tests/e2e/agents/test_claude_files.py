"""The Claude Code adapter against files laid out as Claude Code 2.1.197 lays them out.

The shapes here (sessions/<pid>.json, transcript lines, directory names) were copied from what
the real CLI wrote offline; tests/test_claude_cli.py checks the same code against the CLI itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrun.state.agents import detect
from guardrun.state.agents.base import proc_start_ticks
from guardrun.state.agents.claude import ClaudeAgent, argv_session, config_dir, encode_cwd
from guardrun.state.agents.session import UNCERTAIN, Session

A = "7c245fee-0088-4371-b38e-6b895bd68604"
B = "9b0f1050-4029-4d2f-8dec-af1ed6713534"
C = "5ed41566-0cd3-4c0a-a140-b715b91b225f"
claude = ClaudeAgent()


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def transcript(config: Path, cwd: Path, session_id: str, prompt: str = "hello") -> Path:
    directory = config / "projects" / encode_cwd(cwd)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{session_id}.jsonl"
    lines = [
        {"type": "mode", "mode": "normal", "sessionId": session_id},
        {"parentUuid": None, "isSidechain": False, "type": "user", "cwd": str(cwd),
         "sessionId": session_id, "version": "2.1.197", "timestamp": "2026-11-21T10:22:52.030Z",
         "message": {"role": "user", "content": prompt}},
        {"type": "assistant", "cwd": str(cwd), "sessionId": session_id,
         "timestamp": "2026-11-21T10:22:52.076Z", "isApiErrorMessage": True,
         "message": {"id": "6b4fda44", "role": "assistant", "model": "<synthetic>",
                     "content": [{"type": "text", "text": "Not logged in · Please run /login"}]}},
        {"type": "system", "subtype": "turn_duration", "cwd": str(cwd), "sessionId": session_id},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def sessions_file(config: Path, pid: int, session_id: str, cwd: Path, **over: object) -> None:
    data: dict[str, object] = {
        "pid": pid, "sessionId": session_id, "cwd": str(cwd), "startedAt": int(time.time() * 1000),
        "procStart": proc_start_ticks(pid), "version": "2.1.197", "kind": "interactive",
    }  # fmt: skip
    data.update(over)
    (config / "sessions").mkdir(parents=True, exist_ok=True)
    (config / "sessions" / f"{pid}.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("/tmp/cx/run1/proj", "-tmp-cx-run1-proj"),  # seen on disk
        ("/home/u/my project.v2/é", "-home-u-my-project-v2--"),
        ("/a/🎉", "-a---"),  # outside the BMP: two UTF-16 units, two dashes
    ],
)
def test_encode_cwd(path: str, encoded: str) -> None:
    assert encode_cwd(path) == encoded


def test_encode_long_cwd_appends_the_same_hash_as_claude() -> None:
    """Expected values computed by node with the function from the 2.1.197 bundle."""
    assert encode_cwd("/" + "x" * 250) == "-" + "x" * 199 + "-v734pd"
    assert encode_cwd("/" + "é" * 230) == "-" * 200 + "-k8vsjz"
    assert encode_cwd("/" + "🎉" * 120 + "abc") == "-" * 200 + "-bl4eyj"


@pytest.mark.parametrize(
    "argv",
    [
        ["claude"], ["/usr/local/bin/claude", "-c"], ["C:\\bin\\claude.exe"],
        ["/home/u/.local/share/claude/versions/2.1.224"],
        ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"],
        ["node", "--max-old-space-size=8192", "/x/claude-code/cli.js", "-r"],
        ["npx", "@anthropic-ai/claude-code"],
    ],
)  # fmt: skip
def test_detects_claude(argv: list[str]) -> None:
    assert detect(argv).name == "claude"


@pytest.mark.parametrize(
    "argv", [["claude-foo"], ["python", "claude"], ["node", "server.js"], ["2.1.224"], []]
)
def test_does_not_detect_claude(argv: list[str]) -> None:
    assert detect(argv).name == "generic" if argv else not claude.matches(argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["claude"], ["claude", "--resume", C]),
        # the first prompt was sent once: never again (issue 13, item 5)
        (["claude", "-c", "--model", "opus", "fix it"],
         ["claude", "--resume", C, "--model", "opus"]),
        (["claude", "fix the tests"], ["claude", "--resume", C]),
        (["claude", "-n", "fix", "--", "-c"], ["claude", "--resume", C, "-n", "fix"]),
        (["claude", "-r"], ["claude", "--resume", C]),
        (["claude", "-r", "search words", "--verbose"], ["claude", "--resume", C, "--verbose"]),
        (["claude", f"--resume={A}", "--fork-session", "--session-id", B, "x"],
         ["claude", "--resume", C]),
        (["claude", f"--session-id={B}", "--continue"], ["claude", "--resume", C]),
        # a list option takes the words after it (Commander <dirs...>): not a prompt
        (["claude", f"-r{A}", "--add-dir", "a", "b"],
         ["claude", "--resume", C, "--add-dir", "a", "b"]),
        (["claude", "--model", "opus", "--debug", "api", "go"],
         ["claude", "--resume", C, "--model", "opus", "--debug", "api"]),
        (["claude", "--from-pr", "12", "--effort", "high"],
         ["claude", "--resume", C, "--effort", "high"]),
        (["node", "/x/claude-code/cli.js", "-c"], ["node", "/x/claude-code/cli.js", "--resume", C]),
        # not an interactive session: rerun as it was, never resumed
        (["claude", "--resume", A, "-p", "go on"], None),
        (["claude", "mcp", "list"], None),
        (["claude", "doctor"], None),
        (["claude", "--bg", "task"], None),
    ],
)  # fmt: skip
def test_resume_argv(argv: list[str], expected: list[str] | None, tmp_path: Path) -> None:
    transcript = tmp_path / f"{C}.jsonl"
    transcript.write_text("{}\n")
    session = Session("claude", C, transcript, Path("/"), "test")
    assert claude.resume_argv(argv, session) == expected


def test_resume_argv_without_a_session_is_none(tmp_path: Path) -> None:
    assert claude.resume_argv(["claude", "-c"], None) is None
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("{}\n")
    bad = Session("claude", "../../etc/passwd", transcript, Path("/"), "test")
    assert claude.resume_argv(["claude"], bad) is None


def test_no_resume_of_a_session_without_a_transcript(tmp_path: Path) -> None:
    """Restarted before the first prompt: the real CLI 2.1.197 answers `--resume <id>` of a
    session that has no transcript with "No conversation found" and exit 1, so the
    original argv is rerun instead (the caller falls back when this is None)."""
    assert claude.resume_argv(["claude"], Session("claude", C, None, Path("/"), "t")) is None
    missing = Session("claude", C, tmp_path / "gone.jsonl", Path("/"), "t")
    assert claude.resume_argv(["claude", "--model", "opus"], missing) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["claude", "--session-id", A], A), (["claude", f"--session-id={A}"], A),
        (["claude", "--resume", A], A), (["claude", "-r", A], A), (["claude", f"-r{A}"], A),
        (["claude", "-r", "some words"], None), (["claude", "--resume", "../../x"], None),
        (["claude", "--resume", A, "--fork-session"], None), (["claude", "--", "-r", A], None),
        (["claude", "-c"], None),
    ],
)  # fmt: skip
def test_argv_session(argv: list[str], expected: str | None) -> None:
    assert argv_session(argv) == expected


def test_config_dir() -> None:
    assert config_dir({"CLAUDE_CONFIG_DIR": "/c", "HOME": "/h"}) == Path("/c")
    assert config_dir({"HOME": "/h"}) == Path("/h/.claude")


def test_sessions_file_wins_over_argv(tmp_path: Path, child: subprocess.Popen[bytes]) -> None:
    """After /clear the sessions file names the new session while argv still names the old."""
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    cwd.mkdir()
    transcript(config, cwd, A)
    new = transcript(config, cwd, B)
    sessions_file(config, child.pid, B, cwd)
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    argv = ["claude", "--resume", A]
    found = claude.find_session(argv, [os.getpid(), child.pid], cwd, time.time() - 5, env)
    assert found == Session(
        "claude", B, new, cwd, "sessions file", f"sessions/{child.pid}.json of the run's claude "
        f"(pid {child.pid})"
    )  # fmt: skip


@pytest.mark.parametrize("ours_written", ["after the start", "before the start"])
def test_sessions_file_wins_over_a_newer_transcript_of_another_session(
    tmp_path: Path, child: subprocess.Popen[bytes], ours_written: str
) -> None:
    """Another claude in the same directory wrote its transcript last: the run's own
    sessions/<pid>.json still names the run's session, told apart by its id. The run's
    transcript was either also written since the start (both look new) or not yet since
    (it resumed an old one: the other's is then the only new transcript)."""
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    cwd.mkdir()
    started = time.time() - 60
    ours = transcript(config, cwd, A)
    other = transcript(config, cwd, B)  # the other session, in the same project dir
    ours_at = started + 10 if ours_written == "after the start" else started - 3600
    os.utime(ours, (ours_at, ours_at))
    os.utime(other, (started + 30, started + 30))  # newer than ours, and since the start
    assert other.parent == ours.parent and other.stat().st_mtime > ours.stat().st_mtime
    sessions_file(config, child.pid, A, cwd)
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    found = claude.find_session(["claude"], [child.pid], cwd, started, env)
    assert found is not None
    assert (found.session_id, found.transcript, found.source) == (A, ours, "sessions file")
    assert claude.resume_argv(["claude"], found) == ["claude", "--resume", A]


def test_stale_sessions_file_of_a_reused_pid_is_ignored(
    tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    """A SIGKILLed Claude leaves its sessions file; a later process with the same pid differs in
    start time (procStart), so the file is not taken for its own."""
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    cwd.mkdir()
    sessions_file(config, child.pid, A, cwd, procStart="1")
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    assert claude.find_session(["claude"], [child.pid], cwd, time.time(), env) is None
    found = claude.find_session(["claude", "--session-id", B], [child.pid], cwd, time.time(), env)
    # no transcript before a prompt
    assert found == Session("claude", B, None, cwd, "argv", "named by the run's argv")


def test_newest_transcript_after_start_with_matching_cwd(tmp_path: Path) -> None:
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    cwd.mkdir()
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    old = transcript(config, cwd, A)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    started = time.time()
    assert claude.find_session(["claude"], [], cwd, started, env) is None  # older than the child
    other = transcript(config, cwd, B)
    # A transcript in the right directory but written for another cwd (a name collision):
    lines = other.read_text().replace(str(cwd), "/some/where-else")
    other.write_text(lines)
    assert claude.find_session(["claude"], [], cwd, started, env) is None
    mine = transcript(config, cwd, C)
    found = claude.find_session(["claude"], [], cwd, started, env)
    assert found is not None and found[:5] == ("claude", C, mine, cwd, "newest transcript")


def test_two_new_transcripts_without_a_sessions_file_are_uncertain(tmp_path: Path) -> None:
    """Two sessions in one directory and no sessions file to say which is this run's: no
    session rather than perhaps the other one (the note says why)."""
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    cwd.mkdir()
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    started = time.time()
    transcript(config, cwd, A)
    transcript(config, cwd, B)
    found = claude.find_session(["claude"], [], cwd, started, env)
    assert found is not None and (found.session_id, found.transcript) == (None, None)
    assert found.source == UNCERTAIN and "2 transcripts" in found.note
    assert claude.resume_argv(["claude"], found) is None


def test_fork_restarted_before_its_first_prompt_makes_the_same_fork(
    tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    """`--resume S --fork-session`: the sessions file names the fork F before F has a
    transcript. `--resume F` would exit 1 and the plain argv would fork again under a new id;
    --session-id F beside --fork-session (accepted by 2.1.197) makes fork F again."""
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    cwd.mkdir()
    transcript(config, cwd, A)
    sessions_file(config, child.pid, B, cwd)  # the fork's id, no transcript yet
    env = {"CLAUDE_CONFIG_DIR": str(config)}
    argv = ["claude", "--resume", A, "--fork-session", "--model", "opus"]
    found = claude.find_session(argv, [child.pid], cwd, time.time() - 5, env)
    assert found is not None and (found.session_id, found.transcript) == (B, None)
    assert claude.resume_argv(argv, found) == [
        "claude", "--session-id", B, "--resume", A, "--fork-session", "--model", "opus"
    ]  # fmt: skip
    # Once the fork has its transcript it is resumed like any session, without forking.
    forked = transcript(config, cwd, B)
    found = claude.find_session(argv, [child.pid], cwd, time.time() - 5, env)
    assert found is not None and found.transcript == forked
    assert claude.resume_argv(argv, found) == ["claude", "--resume", B, "--model", "opus"]


def test_resume_refused_is_exit_1() -> None:
    assert claude.resume_refused(1) and not claude.resume_refused(0)
    assert claude.launch_argv(["claude", "x"]) == ["claude", "x"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["claude", "--session-id", A, "--model", "opus"], ["claude", "--model", "opus"]),
     (["claude", "-c", "fix it"], ["claude", "fix it"]),
     (["claude", "--resume", A, "--fork-session"], ["claude"]),
     (["claude", "-p", "--session-id", A], ["claude", "-p", "--session-id", A])],
)  # fmt: skip
def test_a_new_conversation_again_names_no_session(argv: list[str], expected: list[str]) -> None:
    """`claude --session-id X` rerun once X exists is refused ("already in use")."""
    assert claude.launch_argv(argv) == argv
    assert claude.launch_argv(argv, again=True) == expected


def test_long_cwd_found_by_prefix(tmp_path: Path) -> None:
    """Past 200 characters Claude's directory name carries a hash; a directory with the same
    200-character prefix and another hash is still found and checked by its cwd lines."""
    config, cwd = tmp_path / "cfg", tmp_path / ("d" * 240)
    cwd.mkdir()
    path = transcript(config, cwd, A)
    moved = path.parent.with_name(encode_cwd(cwd)[:200] + "-otherhash")
    path.parent.rename(moved)
    found = claude.find_session(
        ["claude"], [], cwd, time.time() - 5, {"CLAUDE_CONFIG_DIR": str(config)}
    )
    assert found is not None and found.transcript == moved / f"{A}.jsonl"


def test_last_messages(tmp_path: Path) -> None:
    config, cwd = tmp_path / "cfg", tmp_path / "proj"
    path = transcript(config, cwd, A, prompt="hello guardrun")
    got = claude.last_messages(Session("claude", A, path, cwd, "test"))
    assert got == [
        {"role": "user", "text": "hello guardrun", "timestamp": "2026-11-21T10:22:52.030Z"},
        {"role": "assistant", "text": "Not logged in · Please run /login",
         "timestamp": "2026-11-21T10:22:52.076Z"},
    ]  # fmt: skip
    assert claude.last_messages(Session("claude", A, None, cwd, "test")) == []
