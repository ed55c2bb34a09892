"""Aider: the chat history file, and ``--restore-chat-history`` to resume.

Aider has no session id: it appends the conversation to a Markdown file,
``.aider.chat.history.md`` in the git root (the working directory outside a repository),
unless ``--chat-history-file`` or ``AIDER_CHAT_HISTORY_FILE`` name another. In that file a
``# aider chat started at <time>`` line opens each run, user prompts are ``#### `` lines, aider's
own notices are ``> `` lines and everything else is the assistant's reply.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.state.agents.base import Message, split_option
from guardrun.state.agents.session import Session
from guardrun.state.agents.starts import aider as _command_start
from guardrun.state.transcript import cap

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

HISTORY = ".aider.chat.history.md"
TAIL = 1 << 20  # bytes of the history read for the last messages
_RESTORE = "--restore-chat-history"


def _git_root(cwd: Path) -> Path | None:
    for directory in (cwd, *cwd.parents):
        if os.path.exists(directory / ".git"):
            return directory
    return None


def history_file(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[Path, str]:
    """Where this aider writes its chat history, and how that was decided."""
    args = list(argv[1:])
    for i, arg in enumerate(args):
        name, value = split_option(arg)
        if name == "--chat-history-file":
            if value is None and i + 1 < len(args):
                value = args[i + 1]
            if value:
                return cwd / value, "argv"
    if env.get("AIDER_CHAT_HISTORY_FILE"):
        return cwd / env["AIDER_CHAT_HISTORY_FILE"], "env"
    root = _git_root(cwd)
    return (root or cwd) / HISTORY, ("git root" if root else "cwd")


class AiderAgent:
    name = "aider"

    def matches(self, argv: Sequence[str]) -> bool:
        return _command_start(argv) is not None

    def launch_argv(self, argv: Sequence[str], again: bool = False) -> list[str]:
        return list(argv)

    def resume_refused(self, exit_code: int) -> bool:
        return False  # `--restore-chat-history` never refuses: a missing history is an empty one

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None:
        path, source = history_file(argv, cwd, env)
        if not path.is_file():
            return None
        return Session(self.name, None, path, cwd, source)

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        if _command_start(argv) is None:
            return None
        kept = [a for a in argv if a not in ("--no-restore-chat-history", _RESTORE)]
        return [*kept, _RESTORE]

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        if session.transcript is None or n <= 0:
            return []
        try:
            with open(session.transcript, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - TAIL))
                data = f.read(TAIL)
        except OSError:
            return []
        lines = data.decode("utf-8", "replace").splitlines()
        if len(data) >= TAIL and lines:
            lines = lines[1:]  # the first line is probably cut
        return parse_history(lines)[-n:]


def parse_history(lines: Sequence[str]) -> list[Message]:
    messages: list[Message] = []
    started = ""
    role, parts = "", list[str]()  # the message being collected

    def flush() -> None:
        text = "\n".join(parts).strip()
        if role and text:
            messages.append({"role": role, "text": cap(text), "timestamp": started})

    for line in lines:
        if line.startswith("# aider chat started at "):
            flush()
            role, parts = "", []
            started = line[len("# aider chat started at ") :].strip()
        elif line.startswith("####"):
            if role != "user":
                flush()
                role, parts = "user", []
            parts.append(line[4:].strip())
        elif line.startswith(">"):
            continue  # aider's notices and command output
        elif role == "user" and not line.strip():
            continue
        else:
            if role != "assistant":
                flush()
                role, parts = "assistant", []
            parts.append(line)
    flush()
    return messages
