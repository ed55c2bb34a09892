"""The option tokenizer the adapters share, and the protocol answers every adapter gives."""

from __future__ import annotations

import pytest

from guardrun.state.agents import AGENT_NAMES, AgentSettings, detect, get
from guardrun.state.agents.argv import (
    first_positional,
    has_option,
    option_value,
    positionals,
    tokenize,
    without,
)

ONE, OPTIONAL, MANY = {"-m", "--model"}, {"-r", "--resume"}, {"--add-dir"}


def kinds(args: list[str]) -> list[tuple[str, str]]:
    return [(t.text, t.kind) for t in tokenize(args, ONE, OPTIONAL, MANY)]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-m", "-x", "p"], [("-m", "option"), ("-x", "value"), ("p", "positional")]),
        (["-r", "-v"], [("-r", "option"), ("-v", "option")]),
        (["-r", "id", "p"], [("-r", "option"), ("id", "value"), ("p", "positional")]),
        (["--add-dir", "a", "b", "-v", "p"],
         [("--add-dir", "option"), ("a", "value"), ("b", "value"), ("-v", "option"),
          ("p", "positional")]),
        (["--model=x", "p"], [("--model=x", "option"), ("p", "positional")]),
        (["-mx", "p"], [("-mx", "option"), ("p", "positional")]),
        (["--", "-m", "x"], [("--", "end"), ("-m", "positional"), ("x", "positional")]),
        (["-"], [("-", "positional")]),
    ],
)  # fmt: skip
def test_tokenize(args: list[str], expected: list[tuple[str, str]]) -> None:
    assert kinds(args) == expected


def test_queries() -> None:
    tokens = tokenize(["-mx", "--resume=abc", "sub", "--", "p"], ONE, OPTIONAL, MANY)
    assert option_value(tokens, "-m") == "x" and option_value(tokens, "--resume") == "abc"
    assert option_value(tokens, "--add-dir") is None
    assert has_option(tokens, "-m") and not has_option(tokens, "--add-dir")
    assert first_positional(tokens) == "sub" and positionals(tokens) == ["sub", "p"]
    assert without(tokens, {"-m"}, drop_positionals=True) == ["--resume=abc"]
    assert without(tokens, set(), drop_positionals=False) == ["-mx", "--resume=abc", "sub",
                                                              "--", "p"]  # fmt: skip
    assert first_positional(tokenize(["--", "sub"])) is None


@pytest.mark.parametrize("name", [n for n in AGENT_NAMES if n != "auto"])
def test_every_adapter_answers_the_protocol(name: str) -> None:
    agent = get(name)
    assert agent.name == name
    assert isinstance(agent.launch_argv(["x"]), list)
    assert agent.resume_refused(0) is False  # a clean exit is never a refusal


def test_settings_reach_the_adapters() -> None:
    off = AgentSettings(codex_no_daemon=False, gemini_session_id=False)
    assert detect(["codex"], settings=off).launch_argv(["codex"]) == ["codex"]
    assert detect(["codex"]).launch_argv(["codex"]) == ["codex", "--no-daemon"]
    assert detect(["gemini"], settings=off).launch_argv(["gemini"]) == ["gemini"]
    assert detect(["aider"]).resume_refused(1) is False
    assert detect(["python"]).launch_argv(["python", "x"]) == ["python", "x"]
