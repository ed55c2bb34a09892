"""Aider and generic adapters, and agent detection with its override."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from guardrun.errors import UsageError
from guardrun.state.agents import AGENT_NAMES, detect
from guardrun.state.agents.aider import AiderAgent, parse_history
from guardrun.state.agents.session import Session

aider = AiderAgent()

HISTORY = """
# aider chat started at 2025-06-14 10:00:00

> Aider v0.80.0
> Main model: sonnet

#### add a test for the parser
#### and run it

I'll add the test.

tests/test_parser.py
```python
def test_it(): ...
```

> Applied edit to tests/test_parser.py

# aider chat started at 2025-06-15 09:00:00

#### /run pytest

All green.
"""


def test_parse_history() -> None:
    got = parse_history(HISTORY.splitlines())
    assert [(m["role"], m["timestamp"]) for m in got] == [
        ("user", "2025-06-14 10:00:00"),
        ("assistant", "2025-06-14 10:00:00"),
        ("user", "2025-06-15 09:00:00"),
        ("assistant", "2025-06-15 09:00:00"),
    ]
    assert got[0]["text"] == "add a test for the parser\nand run it"
    assert got[1]["text"].startswith("I'll add the test.") and "def test_it" in got[1]["text"]
    assert "Applied edit" not in got[1]["text"]


def test_history_in_git_root(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    sub = tmp_path / "src"
    sub.mkdir()
    env: dict[str, str] = {}
    assert aider.find_session(["aider"], [], sub, time.time(), env) is None
    (tmp_path / ".aider.chat.history.md").write_text(HISTORY)
    found = aider.find_session(["aider"], [], sub, time.time(), env)
    assert found == Session("aider", None, tmp_path / ".aider.chat.history.md", sub, "git root")
    assert [m["text"] for m in aider.last_messages(found, 1)] == ["All green."]
    (sub / "h.md").write_text("#### hi\n")
    found = aider.find_session(["aider", "--chat-history-file", "h.md"], [], sub, 0, env)
    assert found is not None and found.transcript == sub / "h.md" and found.source == "argv"
    env = {"AIDER_CHAT_HISTORY_FILE": "h.md"}
    found = aider.find_session(["aider"], [], sub, 0, env)
    assert found is not None and found.transcript == sub / "h.md" and found.source == "env"


def test_aider_resume_argv_needs_no_session() -> None:
    assert aider.resume_argv(["aider", "--model", "x"], None) == [
        "aider", "--model", "x", "--restore-chat-history",
    ]  # fmt: skip
    argv = ["aider", "--no-restore-chat-history", "--restore-chat-history"]
    assert aider.resume_argv(argv, None) == ["aider", "--restore-chat-history"]


def test_generic() -> None:
    agent = detect(["python", "-m", "http.server"])
    assert agent.name == "generic"
    assert agent.find_session(["python"], [1], Path("/"), 0.0, {}) is None
    assert agent.resume_argv(["python", "x.py"], None) == ["python", "x.py"]
    assert agent.last_messages(Session("generic", None, None, Path("/"), "t")) == []


def test_override_and_unknown_agent() -> None:
    assert detect(["my-wrapper.sh"], "claude").name == "claude"
    assert detect(["claude"], "generic").name == "generic"
    assert detect(["aider"]).name == "aider"
    assert [detect(["x"], name).name for name in AGENT_NAMES[1:]] == list(AGENT_NAMES[1:])
    with pytest.raises(UsageError, match="--agent"):
        detect(["claude"], "cursor")
