"""One adapter per agent CLI: detection, session discovery, resume argv, last messages.

``detect(argv)`` picks the adapter from the command's basename (``claude``, ``codex``,
``gemini``, ``aider``; Claude also as its versioned native binary or ``node .../cli.js``);
anything else is ``generic``. The ``agent:`` setting (``--agent``) overrides the choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from guardrun.errors import UsageError
from guardrun.state.agents.aider import AiderAgent
from guardrun.state.agents.base import Agent, Message, Session
from guardrun.state.agents.claude import ClaudeAgent
from guardrun.state.agents.codex import CodexAgent
from guardrun.state.agents.gemini import GeminiAgent
from guardrun.state.agents.generic import GenericAgent

__all__ = ["AGENT_NAMES", "Agent", "Message", "Session", "detect", "get"]

AGENT_NAMES = ("auto", "claude", "codex", "gemini", "aider", "generic")

_AGENTS: dict[str, Agent] = {
    "claude": ClaudeAgent(),
    "codex": CodexAgent(),
    "gemini": GeminiAgent(),
    "aider": AiderAgent(),
    "generic": GenericAgent(),
}


def get(name: str) -> Agent:
    """The adapter called ``name`` (not "auto")."""
    try:
        return _AGENTS[name]
    except KeyError:
        choices = ", ".join(AGENT_NAMES)
        raise UsageError(f"--agent: unknown agent {name!r} (choose from {choices})") from None


def detect(argv: Sequence[str], override: str = "auto") -> Agent:
    """The adapter for ``argv``: ``override`` unless it is "auto", else by the command."""
    if override != "auto":
        return get(override)
    for name in ("claude", "codex", "gemini", "aider"):
        if _AGENTS[name].matches(argv):
            return _AGENTS[name]
    return _AGENTS["generic"]
