"""Google Gemini CLI: chat discovery, ``gemini --resume <uuid>``, chat reading.

Facts relied on, checked against Gemini CLI 0.61.0 run offline (tests/gemini_cli.py); the chat
files themselves are described in gemini_files.py:
- The chat is created at start-up (about 4 s after spawn here), before any prompt, so "the
  newest chat" can be an empty one, or another run's in the same directory. Gemini holds no
  chat file open and writes no pid file: the chat's own metadata is the only evidence.
- ``--session-id <uuid>`` starts a new session under that id (chat ``session-<ts>-<id8>``), so
  ``launch_argv`` names the session itself and the run's chat is the one with that id.
- ``/clear`` starts another chat with a new id; the old one stays.
- ``--resume`` of a chat with no prompt of the user's: "Error resuming session: Invalid session
  identifier", exit 42. ``--resume``, ``--session-id`` and ``--session-file`` together: "mutually
  exclusive", exit 1. SIGTERM exits 0 and deletes a chat with no prompt; SIGKILL leaves it.
- The CLI re-execs itself as ``node --max-old-space-size=N .../gemini ...`` (same argv after).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.state.agents.argv import (
    Token,
    first_positional,
    has_option,
    option_value,
    tokenize,
)
from guardrun.state.agents.argv import without as argv_without
from guardrun.state.agents.base import MTIME_SLACK, Message, is_uuid, newest
from guardrun.state.agents.gemini_files import (
    Reader,
    belongs,
    chat_dirs,
    chat_session_id,
    chats,
    has_user_message,
    legacy_messages,
    start_time,
)
from guardrun.state.agents.session import Session, uncertain
from guardrun.state.agents.starts import gemini as _command_start
from guardrun.state.transcript import tail_jsonl

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["GeminiAgent", "chat_dirs", "has_user_message"]

# yargs options of 0.61.0 (`gemini --help`): a string option takes the next argument unless it
# starts with "-" (so "optional" here); an array option takes every argument up to the next flag.
_STRING = {"-m", "--model", "-p", "--prompt", "-i", "--prompt-interactive", "-w", "--worktree",
           "--approval-mode", "-r", "--resume", "--session-file", "--session-id",
           "--delete-session", "-o", "--output-format"}  # fmt: skip
_ARRAY = {"--policy", "--admin-policy", "--allowed-mcp-server-names", "--allowed-tools",
          "-e", "--extensions", "--include-directories"}  # fmt: skip
_SUBCOMMANDS = {"mcp", "extensions", "extension", "skills", "skill", "hooks", "hook", "gemma"}
# Runs that are not an interactive conversation: headless, listing, ACP, version, help.
_ONE_SHOT = {"-p", "--prompt", "--list-sessions", "--delete-session", "-l", "--list-extensions",
             "--acp", "--experimental-acp", "-v", "--version", "-h", "--help"}  # fmt: skip
_SESSION = {"-r", "--resume", "--session-id", "--session-file"}  # mutually exclusive
# Dropped on resume: the session choice, and the first prompt (-i and the positional query).
_DROPPED = {*_SESSION, "-i", "--prompt-interactive"}
# Seen with 0.61.0: a gemini starting in a directory deletes the chats there that hold no
# prompt yet, another live run's included; that run's first prompt then recreates the file
# with no metadata line, and `--resume` of it exits 42 ("Invalid session identifier").
_HEADLESS = ("the chat lost its metadata line (another gemini started in this directory "
             "before its first prompt): Gemini cannot resume it")  # fmt: skip
# The run's own chat is created within this long of its start (about 4 s here, more with slow
# MCP servers); a second chat started that early could be another run's just as well.
STARTUP = 20.0


def _tokens(args: Sequence[str]) -> list[Token]:
    tokens = tokenize(args, optional=_STRING, many=_ARRAY)
    # yargs reads "true"/"false" after a boolean flag as its value, not as the query.
    for i, token in enumerate(tokens):
        if token.kind == "positional" and token.text in ("true", "false") and i > 0:
            before = tokens[i - 1]
            if before.kind == "option" and before.option not in _STRING | _ARRAY:
                tokens[i] = Token(token.text, "value", before.option)
    return tokens


def _interactive(tokens: Sequence[Token]) -> bool:
    return first_positional(tokens) not in _SUBCOMMANDS and not has_option(tokens, *_ONE_SHOT)


def _argv_session(tokens: Sequence[Token]) -> str | None:
    """The session the argv names: ``--resume <uuid>`` or ``--session-id <uuid>``."""
    value = option_value(tokens, "-r", "--resume", "--session-id")
    return value if is_uuid(value) else None


class GeminiAgent:
    name = "gemini"

    def __init__(self, session_id: bool = True) -> None:
        self.session_id = session_id  # config agents.gemini.session_id

    def matches(self, argv: Sequence[str]) -> bool:
        return _command_start(argv) is not None

    def launch_argv(self, argv: Sequence[str], again: bool = False) -> list[str]:
        start = _command_start(argv)
        if start is None:
            return list(argv)
        tokens = _tokens(argv[start:])
        if not _interactive(tokens):
            return list(argv)
        if again and has_option(tokens, *_SESSION):
            # The session the user named exists now ("Session ID ... already exists", exit
            # 42) or could not be resumed: a new conversation names none of it.
            argv = [*argv[:start], *argv_without(tokens, _SESSION, drop_positionals=False)]
        elif has_option(tokens, *_SESSION):
            return list(argv)
        if not self.session_id:
            return list(argv)
        return [*argv[:start], "--session-id", str(uuid.uuid4()), *argv[start:]]

    def resume_refused(self, exit_code: int) -> bool:
        return exit_code == 42  # FatalInputError: "Invalid session identifier", "No previous..."

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None:
        start = _command_start(argv)
        tokens = _tokens(argv[start:] if start is not None else [])
        dirs = chat_dirs(env, cwd)
        named = _argv_session(tokens)
        if named is not None:
            for directory in dirs:
                for path in directory.glob(f"session-*-{named[:8]}.json*"):
                    if chat_session_id(path) == named and belongs(path, cwd):
                        return self._session(named, path, cwd, "argv", "named by the run's argv")
                    if chat_session_id(path) is None:
                        return Session(self.name, named, path, cwd, "argv", _HEADLESS)
            return None  # not written yet (start-up), or gone: nothing to resume
        written = [p for d in dirs for p in newest(chats(d), started_at) if belongs(p, cwd)]
        if len(written) == 1:
            found = written[0]
            note = "the only chat of this directory written since the run started"
            return self._session(chat_session_id(found), found, cwd, "newest chat", note)
        if not written:
            return None
        if has_option(tokens, "-r", "--resume"):
            return uncertain(self.name, cwd, _several(written, "the run resumed one by index"))
        return self._first_started(written, cwd, started_at)

    def _first_started(self, written: list[Path], cwd: Path, started_at: float) -> Session:
        """A new run's chat is the first one started after it, provided no other chat started
        within the start-up window (that one could be another run's start-up chat)."""
        since = sorted(
            (when, path)
            for path in written
            if (when := start_time(path)) is not None and when >= started_at - MTIME_SLACK
        )
        early = [path for when, path in since if when <= started_at + STARTUP]
        if len(early) == 1:
            note = "the chat this run created at start-up (another chat started later)"
            return self._session(chat_session_id(early[0]), early[0], cwd, "first chat", note)
        return uncertain(self.name, cwd, _several(written, "no one of them provably this run's"))

    def _session(
        self, session_id: str | None, path: Path, cwd: Path, source: str, note: str
    ) -> Session:
        if not has_user_message(path):
            note += "; no prompt in it yet, so a restart starts a new conversation"
        return Session(self.name, session_id, path, cwd, source, note)

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        start = _command_start(argv)
        if start is None or session is None or not is_uuid(session.session_id):
            return None
        path = session.transcript
        if path is None or chat_session_id(path) != session.session_id:
            return None  # no chat, or one without its metadata line: Gemini cannot find it
        if not has_user_message(path):
            return None  # Gemini would refuse it: exit 42
        tokens = _tokens(argv[start:])
        if not _interactive(tokens):
            return None  # -p, --list-sessions, mcp, ...: rerun, not resumed
        rest = argv_without(tokens, _DROPPED, drop_positionals=True)
        return [*argv[:start], "--resume", str(session.session_id), *rest]

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        path = session.transcript
        if path is None:
            return []
        if path.suffix == ".json":
            return legacy_messages(path, n)
        return tail_jsonl(path, Reader().message_of, n)


def _several(paths: list[Path], why: str) -> str:
    names = ", ".join(sorted(p.name for p in paths))
    return f"{len(paths)} chats of this directory written since the run started ({names}): {why}"
