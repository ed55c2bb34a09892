"""One adapter per agent CLI: detection, session discovery, resume argv, last messages.

``detect(argv)`` picks the adapter from the command's basename (``claude``, ``codex``,
``gemini``, ``aider``; Claude also as its versioned native binary or ``node .../cli.js``);
anything else is ``generic``. The ``agent:`` setting (``--agent``) overrides the choice.

``AgentSettings`` carries the per-agent options (config ``agents.<name>.*``); adapters are
small and stateless, so each ``detect``/``get`` builds its own with the settings given.
"""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from guardrun.errors import UsageError
from guardrun.state.agents.starts import which

if TYPE_CHECKING:
    from guardrun.state.agents.base import Agent, Message
    from guardrun.state.agents.session import UNCERTAIN, Session


def __getattr__(name: str) -> object:
    # Imported when asked for: a run of another command needs neither the adapters' helpers
    # (base) nor Session, whose module imports pathlib.
    if name in ("Session", "UNCERTAIN"):
        from guardrun.state.agents import session

        return getattr(session, name)
    if name in ("Agent", "Message"):
        from guardrun.state.agents import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AGENT_NAMES",
    "UNCERTAIN",
    "Agent",
    "AgentSettings",
    "Message",
    "Session",
    "detect",
    "get",
]

AGENT_NAMES = ("auto", "claude", "codex", "gemini", "aider", "generic")


class AgentSettings(NamedTuple):
    """Per-agent options. A NamedTuple, not a dataclass: importing dataclasses (which
    imports inspect) is a cost of every start-up (docs/benchmarks.md)."""

    # agents.codex.no_daemon: add --no-daemon, so the run's own codex holds its rollout (and
    # its memory) instead of a shared daemon outside the tree that serves every codex.
    codex_no_daemon: bool = True
    # agents.gemini.session_id: start new Gemini sessions with --session-id <new uuid>, so the
    # run's chat is provably the one with that id (Gemini holds no file open to tell).
    gemini_session_id: bool = True


# Each adapter is imported only when it is the one asked for (see ``starts``).
def _claude(s: AgentSettings) -> "Agent":
    from guardrun.state.agents.claude import ClaudeAgent

    return ClaudeAgent()


def _codex(s: AgentSettings) -> "Agent":
    from guardrun.state.agents.codex import CodexAgent

    return CodexAgent(no_daemon=s.codex_no_daemon)


def _gemini(s: AgentSettings) -> "Agent":
    from guardrun.state.agents.gemini import GeminiAgent

    return GeminiAgent(session_id=s.gemini_session_id)


def _aider(s: AgentSettings) -> "Agent":
    from guardrun.state.agents.aider import AiderAgent

    return AiderAgent()


def _generic(s: AgentSettings) -> "Agent":
    from guardrun.state.agents.generic import GenericAgent

    return GenericAgent()


_MAKERS: "dict[str, Callable[[AgentSettings], Agent]]" = {
    "claude": _claude,
    "codex": _codex,
    "gemini": _gemini,
    "aider": _aider,
    "generic": _generic,
}


def get(name: str, settings: AgentSettings | None = None) -> "Agent":
    """The adapter called ``name`` (not "auto")."""
    try:
        make = _MAKERS[name]
    except KeyError:
        choices = ", ".join(AGENT_NAMES)
        raise UsageError(f"--agent: unknown agent {name!r} (choose from {choices})") from None
    return make(settings or AgentSettings())


def detect(
    argv: Sequence[str], override: str = "auto", settings: AgentSettings | None = None
) -> "Agent":
    """The adapter for ``argv``: ``override`` unless it is "auto", else by the command."""
    if override != "auto":
        return get(override, settings)
    return get(which(argv), settings)
