"""Claude Code's command line: where Claude's arguments start, the session it names, and the
argv that resumes a session (option table from `claude --help` of 2.1.197, Commander)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrun.state.agents.argv import Token, first_positional, has_option, tokenize
from guardrun.state.agents.argv import without as argv_without
from guardrun.state.agents.base import is_uuid, split_option
from guardrun.state.agents.starts import claude as command_start

if TYPE_CHECKING:
    from collections.abc import Sequence

# Commander `<value>` options: the next argument is the value whatever it looks like.
_ONE = {"--agent", "--agents", "--append-system-prompt", "--append-system-prompt-file",
        "--debug-file", "--effort", "--fallback-model", "--input-format", "--json-schema",
        "--max-budget-usd", "--max-turns", "--model", "-n", "--name", "--output-format",
        "--permission-mode", "--permission-prompt-tool", "--plugin-dir", "--plugin-url",
        "--remote-control-session-name-prefix", "--session-id", "--setting-sources",
        "--settings", "--system-prompt", "--system-prompt-file"}  # fmt: skip
# `[value]` options: the next argument only when it does not start with "-".
_OPTIONAL = {"-d", "--debug", "--from-pr", "--prompt-suggestions", "--remote-control",
             "-r", "--resume", "-w", "--worktree"}  # fmt: skip
# `<values...>` options: every following argument up to the next option.
_MANY = {"--add-dir", "--allowedTools", "--allowed-tools", "--betas", "--disallowedTools",
         "--disallowed-tools", "--file", "--mcp-config", "--tools"}  # fmt: skip
_SUBCOMMANDS = {"agents", "auth", "auto-mode", "doctor", "gateway", "install", "mcp", "plugin",
                "plugins", "project", "setup-token", "ultrareview", "update", "upgrade",
                "config", "migrate-installer"}  # fmt: skip
# Not an interactive session: print mode, a background agent, version, help.
_ONE_SHOT = {"-p", "--print", "--bg", "--background", "-v", "--version", "-h", "--help"}
# Dropped on resume: every way of choosing a session (resume adds its own).
_SESSION = {"-c", "--continue", "-r", "--resume", "--session-id", "--fork-session", "--from-pr"}


def tokens_of(args: Sequence[str]) -> list[Token]:
    return tokenize(args, one=_ONE, optional=_OPTIONAL, many=_MANY)


def interactive(tokens: Sequence[Token]) -> bool:
    return first_positional(tokens) not in _SUBCOMMANDS and not has_option(tokens, *_ONE_SHOT)


def forks(argv: Sequence[str]) -> bool:
    start = command_start(argv)
    return start is not None and has_option(tokens_of(argv[start:]), "--fork-session")


def argv_session(argv: Sequence[str]) -> str | None:
    """The session id the user named with ``--session-id``/``--resume``/``-r`` (a UUID only).

    With ``--fork-session`` Claude makes a new id, so the named one is not the live session.
    """
    start = command_start(argv)
    if start is None:
        return None
    tokens = tokens_of(argv[start:])
    if has_option(tokens, "--fork-session"):
        return None
    found = None
    for i, token in enumerate(tokens):
        if token.kind != "option" or token.option not in ("--session-id", "--resume", "-r"):
            continue
        _, value = split_option(token.text)
        if value is None and token.option == "-r" and len(token.text) > 2:
            value = token.text[2:]  # -r<id>
        if value is None and i + 1 < len(tokens) and tokens[i + 1].kind == "value":
            value = tokens[i + 1].text
        if is_uuid(value):
            found = value
    return found


def resume_args(argv: Sequence[str], session_id: str, fork_of_nothing: bool) -> list[str] | None:
    """The argv that goes back to ``session_id``: the user's, less every way of choosing a
    session and less the first prompt (positional, or after ``--``), plus ``--resume <id>``.

    ``fork_of_nothing``: the run forked (``--resume S --fork-session``) and its fork has no
    transcript yet, so a prompt in the argv was never sent and is kept.
    `claude --resume <fork id>` would exit 1 ("No conversation found"), and the
    plain argv would fork once more under a new id; 2.1.197 accepts ``--session-id`` beside
    ``--fork-session``, which makes the same fork id again.
    """
    start = command_start(argv)
    if start is None:
        return None
    tokens = tokens_of(argv[start:])
    if not interactive(tokens):
        return None
    if fork_of_nothing:  # nothing of the run is saved yet: its first prompt is not sent again
        rest = argv_without(tokens, {"--session-id"}, drop_positionals=False)
        return [*argv[:start], "--session-id", session_id, *rest]
    rest = argv_without(tokens, _SESSION, drop_positionals=True)
    return [*argv[:start], "--resume", session_id, *rest]


def new_conversation(argv: Sequence[str]) -> list[str]:
    """The user's argv less every way of choosing a session (``--session-id X`` again would be
    "already in use", ``--resume X`` the conversation that could not be resumed)."""
    start = command_start(argv)
    if start is None:
        return list(argv)
    tokens = tokens_of(argv[start:])
    if not interactive(tokens):
        return list(argv)
    return [*argv[:start], *argv_without(tokens, _SESSION, drop_positionals=False)]
