"""Google Gemini CLI: chat discovery, ``gemini --resume <uuid>``, chat reading.

Chats live in ``<home>/.gemini/tmp/<project>/chats/session-<YYYY-MM-DDThh-mm>-<id8>.jsonl``
(``<home>`` is ``$GEMINI_CLI_HOME`` or ``~``). ``<project>`` is the sha256 hex of the project
root path in older releases and, since the project registry, a short slug recorded in
``<home>/.gemini/projects.json`` (``{"projects": {<path>: <slug>}}``); both are searched.
Older releases wrote one ``.json`` object per chat (``sessionId``, ``messages``); newer ones
write JSONL: a metadata line (``sessionId``, ``projectHash``), then one line per message
(``id``, ``type`` ``user``/``gemini``/..., ``content``), a message rewritten in full when it
changes, ``{"$set": ...}`` metadata updates and ``{"$rewindTo": <id>}`` rewinds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from guardrun.state.agents.base import (
    Message,
    Session,
    basename,
    home_dir,
    is_uuid,
    newest,
    read_json_file,
    safe_name,
    split_option,
)
from guardrun.state.transcript import cap, content_text, one_line, tail_jsonl

_SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"([0-9a-fA-F-]{36})"')
_ROLES = {"user": "user", "gemini": "assistant"}
MAX_LEGACY = 32 << 20  # a legacy .json chat is parsed whole; beyond this it is not read


def gemini_dir(env: Mapping[str, str]) -> Path:
    named = env.get("GEMINI_CLI_HOME")
    return (Path(named) if named else home_dir(env)) / ".gemini"


def project_hash(root: str | Path) -> str:
    import hashlib  # only here: ~3 ms of start-up otherwise

    return hashlib.sha256(str(root).encode("utf-8")).hexdigest()


def chat_dirs(env: Mapping[str, str], cwd: Path) -> list[Path]:
    base = gemini_dir(env)
    names = [project_hash(cwd)]
    registry = read_json_file(base / "projects.json")
    if isinstance(registry, dict) and isinstance(registry.get("projects"), dict):
        slug = registry["projects"].get(str(cwd))
        if safe_name(slug):
            names.insert(0, str(slug))
    return [base / "tmp" / name / "chats" for name in names if (base / "tmp" / name).is_dir()]


def chat_session_id(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    match = _SESSION_ID.search(head)
    return match.group(1).decode("ascii") if match else None


def _command_start(argv: Sequence[str]) -> int | None:
    if argv and basename(argv[0]) == "gemini":
        return 1
    return None


def _chats(directory: Path) -> list[Path]:
    return [*directory.glob("session-*.jsonl"), *directory.glob("session-*.json")]


class GeminiAgent:
    name = "gemini"

    def matches(self, argv: Sequence[str]) -> bool:
        return _command_start(argv) is not None

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None:
        dirs = chat_dirs(env, cwd)
        named = _argv_session(argv)
        if named is not None:
            for directory in dirs:
                for path in newest(directory.glob(f"session-*-{named[:8]}.json*"), 0.0):
                    if chat_session_id(path) == named:
                        return Session(self.name, named, path, cwd, "argv")
        for directory in dirs:
            for path in newest(_chats(directory), started_at):
                session_id = chat_session_id(path)
                if session_id is not None:
                    return Session(self.name, session_id, path, cwd, "newest chat")
        if named is not None:
            return Session(self.name, named, None, cwd, "argv")
        return None

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        start = _command_start(argv)
        if start is None or session is None or not is_uuid(session.session_id):
            return None
        rest: list[str] = []
        args = list(argv[start:])
        i = 0
        while i < len(args):
            name, value = split_option(args[i])
            i += 1
            if name in ("-r", "--resume"):
                # The value is optional (alone it means "latest"): a following non-flag is it.
                if value is None and i < len(args) and not args[i].startswith("-"):
                    i += 1
                continue
            rest.append(args[i - 1])
        return [*argv[:start], "--resume", str(session.session_id), *rest]

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        path = session.transcript
        if path is None:
            return []
        if path.suffix == ".json":
            return _legacy_messages(path, n)
        return tail_jsonl(path, _Reader().message_of, n)


def _argv_session(argv: Sequence[str]) -> str | None:
    start = _command_start(argv)
    args = list(argv[start:]) if start is not None else []
    for i, arg in enumerate(args):
        name, value = split_option(arg)
        if name in ("-r", "--resume"):
            if value is None and i + 1 < len(args):
                value = args[i + 1]
            if is_uuid(value):
                return value
    return None


def _message(record: dict[str, Any]) -> list[Message]:
    role = _ROLES.get(str(record.get("type")))
    if role is None:
        return []  # info, error, warning lines are the CLI's, not the conversation
    text = content_text(record.get("content"))
    for call in record.get("toolCalls") or []:
        if isinstance(call, dict):
            text += f"\n[tool_use {call.get('name', '?')}: {one_line(call.get('args', ''))}]"
    if not text.strip():
        return []
    return [{"role": role, "text": text, "timestamp": str(record.get("timestamp") or "")}]


class _Reader:
    """Reads JSONL chat lines newest first: keeps the newest copy of each message id and
    leaves out messages that a later ``$rewindTo`` removed."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.rewind_to: str | None = None

    def message_of(self, record: dict[str, Any]) -> list[Message]:
        target = record.get("$rewindTo")
        if isinstance(target, str):
            if self.rewind_to is None:
                self.rewind_to = target
            return []
        ident = record.get("id")
        if not isinstance(ident, str):
            return []
        if self.rewind_to is not None:
            if ident == self.rewind_to:
                self.rewind_to = None  # the rewind removed this message and all after it
            return []
        if ident in self.seen:
            return []
        self.seen.add(ident)
        return _message(record)


def _legacy_messages(path: Path, n: int) -> list[Message]:
    data = read_json_file(path, limit=MAX_LEGACY)
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        return []
    out: list[Message] = []
    for record in reversed(data["messages"]):
        if isinstance(record, dict):
            out[:0] = _message(record)
        if len(out) >= n:
            break
    return [{**m, "text": cap(m["text"])} for m in out[-n:]]
