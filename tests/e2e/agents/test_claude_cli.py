"""The Claude Code adapter against sessions the real Claude Code CLI wrote, offline.

Needs the CLI installed by .ci/run (see tests/claude_cli.py). Without it these tests skip,
unless CI is set: then a missing CLI is a failure, not a silent pass.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from support.claude import (
    INSTALL_HINT,
    PROMPT_READY,
    child_env,
    claude_bin,
    prepare_config,
    quit_claude,
    spawn,
    type_prompt,
    wait_for_file,
    wait_until,
)

from guardrun.state.agents import detect
from guardrun.state.agents.claude import encode_cwd

pytestmark = pytest.mark.claude


@pytest.fixture
def claude() -> Path:
    path = claude_bin()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"Claude Code CLI missing in CI; install it with: {INSTALL_HINT}")
        pytest.skip(f"Claude Code CLI not installed ({INSTALL_HINT})")
    return path


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    spawned: list[pexpect.spawn] = []
    yield spawned
    for child in spawned:
        if child.isalive():
            child.terminate(force=True)
        child.close()


def session_id_of(config: Path, pid: int) -> str | None:
    try:
        value = json.loads((config / "sessions" / f"{pid}.json").read_text())["sessionId"]
    except (OSError, ValueError, KeyError):
        return None
    return str(value)


def test_version_needs_no_config(claude: Path) -> None:
    done = subprocess.run(
        [str(claude), "--version"], capture_output=True, text=True, timeout=30,
        env=child_env({"DISABLE_AUTOUPDATER": "1"}),
    )  # fmt: skip
    assert done.returncode == 0 and "(Claude Code)" in done.stdout


def test_find_resume_and_read_real_sessions(
    claude: Path, tmp_path: Path, children: list[pexpect.spawn]
) -> None:
    """One life of a session: start with --session-id, prompt, /clear, prompt, crash, resume.

    The working directory is longer than 200 characters once encoded, so the directory Claude
    picked also checks the hashed form of the encoding.
    """
    cwd = tmp_path / ("project with spaces-" * 11)
    cwd.mkdir()
    env = child_env(prepare_config(tmp_path, cwd))
    config = Path(env["CLAUDE_CONFIG_DIR"])
    first_id = str(uuid.uuid4())
    argv = [str(claude), "--session-id", first_id]
    agent = detect(argv)
    assert agent.name == "claude"

    started = time.time()
    child, screen = spawn(argv, cwd, env)
    children.append(child)
    screen.wait_for(PROMPT_READY)
    assert wait_until(lambda: session_id_of(config, child.pid)) == first_id
    type_prompt(screen, "guardrun marker one")
    (path,) = wait_for_file("projects/*/*.jsonl", config)
    assert path.parent.name == encode_cwd(cwd) and len(path.parent.name) > 200
    # The reply is awaited in the transcript, not on screen: the CLI redraws only the cells
    # that changed, so on-screen text can lack letters already in place (seen: "Plese").
    assert wait_until(lambda: b"Please run /login" in path.read_bytes())

    found = agent.find_session(argv, [child.pid], cwd, started, env)
    assert found is not None and found.source == "sessions file"
    assert (found.session_id, found.transcript, found.cwd) == (first_id, path, cwd)
    # The screen shows the reply a moment before its transcript line is written.
    wait_until(lambda: agent.last_messages(found)[1:])
    assert [(m["role"], m["text"]) for m in agent.last_messages(found)] == [
        ("user", "guardrun marker one"),
        ("assistant", "Not logged in · Please run /login"),
    ]

    # /clear moves the live session to a new id; argv still names the first one.
    type_prompt(screen, "/clear")
    second_id = wait_until(lambda: (session_id_of(config, child.pid) or first_id) != first_id)
    assert second_id, "the sessions file did not follow /clear"
    second_id = session_id_of(config, child.pid)
    type_prompt(screen, "guardrun marker two")
    second = config / "projects" / encode_cwd(cwd) / f"{second_id}.jsonl"
    assert wait_until(lambda: b"marker two" in (second.read_bytes() if second.exists() else b""))
    found = agent.find_session(argv, [child.pid], cwd, started, env)
    assert found is not None and (found.session_id, found.transcript) == (second_id, second)
    texts = [m["text"] for m in agent.last_messages(found)]
    assert "guardrun marker two" in texts and "guardrun marker one" not in texts
    # Without the sessions file the two transcripts of this directory (before and after
    # /clear) could as well be two claudes': neither is taken, and the note says so.
    unsure = agent.find_session(["claude"], [], cwd, started, env)
    assert unsure is not None and (unsure.session_id, unsure.source) == (None, "uncertain")
    assert "2 transcripts" in unsure.note

    # A crash leaves the sessions file behind; the restart resumes the session after /clear.
    resume = agent.resume_argv(argv, found)
    assert resume == [str(claude), "--resume", str(second_id)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    restarted = time.time()
    child, screen = spawn(resume, found.cwd, env)
    children.append(child)
    screen.wait_for("guardrun marker two")  # the resumed conversation is on screen
    screen.wait_for(PROMPT_READY)
    assert wait_until(lambda: session_id_of(config, child.pid)) == second_id
    again = agent.find_session(resume, [child.pid], cwd, restarted, env)
    assert again is not None and (again.session_id, again.source) == (second_id, "sessions file")

    # After a clean exit only the argv (and the transcripts) are left to go by.
    quit_claude(child)
    assert not (config / "sessions" / f"{child.pid}.json").exists()
    last = agent.find_session(resume, [], cwd, restarted, env)
    assert last is not None and (last.session_id, last.source) == (second_id, "argv")
    assert last.transcript == second
