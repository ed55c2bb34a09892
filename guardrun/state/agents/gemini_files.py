"""Reading Gemini CLI chats: where they are, their metadata line, their messages.

Chats live in ``<home>/.gemini/tmp/<project>/chats/session-<YYYY-MM-DDThh-mm>-<id8>.jsonl``
(``<home>`` is ``$GEMINI_CLI_HOME`` or ``~``). ``<project>`` is the sha256 hex of the project
root path in older releases and, since the project registry, a short slug recorded in
``<home>/.gemini/projects.json`` (``{"projects": {<path>: <slug>}}``); both are searched.
Older releases wrote one ``.json`` object per chat (``sessionId``, ``messages``). 0.61.0 writes
JSONL (seen offline): a metadata line (``sessionId``, ``projectHash`` = sha256 of the project
path, ``startTime``), then ``{"$set": {"messages": [...]}}`` holding Gemini's own
``<session_context>`` user item, one line per message (``id``, ``type`` ``user``/``gemini``/
``info``/..., ``content``), a message rewritten in full when it changes, ``{"$set": ...}``
updates and ``{"$rewindTo": <id>}`` rewinds. Cancelling a prompt with Esc writes a new
``$set.messages`` with only the context item: the prompt is gone from the chat.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.state.agents.base import (
    Message,
    head_records,
    home_dir,
    read_json_file,
    safe_name,
    scan_records,
)
from guardrun.state.transcript import cap, content_text, one_line

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"([0-9a-fA-F-]{36})"')
_ROLES = {"user": "user", "gemini": "assistant"}
CONTEXT = "<session_context>"  # Gemini's own first "user" item: the environment, not a prompt
MAX_LEGACY = 32 << 20  # a legacy .json chat is parsed whole; beyond this it is not read


def gemini_dir(env: Mapping[str, str]) -> Path:
    named = env.get("GEMINI_CLI_HOME")
    return (Path(named) if named else home_dir(env)) / ".gemini"


def project_hash(root: str | Path) -> str:
    return hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()


def chat_dirs(env: Mapping[str, str], cwd: Path) -> list[Path]:
    base = gemini_dir(env)
    names = [project_hash(cwd)]
    registry = read_json_file(base / "projects.json")
    if isinstance(registry, dict) and isinstance(registry.get("projects"), dict):
        slug = registry["projects"].get(str(cwd))
        if safe_name(slug):
            names.insert(0, str(slug))
    return [base / "tmp" / name / "chats" for name in names if (base / "tmp" / name).is_dir()]


def chats(directory: Path) -> list[Path]:
    return [*directory.glob("session-*.jsonl"), *directory.glob("session-*.json")]


def chat_session_id(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    match = _SESSION_ID.search(head)
    return match.group(1).decode("ascii") if match else None


def chat_meta(path: Path) -> dict[str, Any]:
    """The metadata line of a JSONL chat (``sessionId``, ``projectHash``, ``startTime``)."""
    for record in head_records(path, max_lines=1):
        return record
    return {}


def belongs(path: Path, cwd: Path) -> bool:
    """Whether the chat's own ``projectHash`` names ``cwd`` (a chat without one is judged by
    its directory alone: legacy chats lived in a directory named by that hash)."""
    recorded = chat_meta(path).get("projectHash")
    if not isinstance(recorded, str):
        return True
    return recorded in (project_hash(cwd), project_hash(cwd.resolve()))


def start_time(path: Path) -> float | None:
    """The chat's ``startTime`` as epoch seconds."""
    value = chat_meta(path).get("startTime")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parts_text(content: object) -> str:
    """Text of a Gemini message's content: a string, or a list of Gemini ``Part`` objects
    (``{"text": ...}`` with no ``type``, as 0.61.0 writes them) or typed content blocks."""
    if not isinstance(content, list):
        return content_text(content)
    texts = []
    for part in content:
        if isinstance(part, dict) and "type" not in part and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            texts.append(content_text([part]))
    return "\n".join(t for t in texts if t)


def _real_prompt(record: dict[str, Any]) -> bool:
    text = parts_text(record.get("content"))
    return record.get("type") == "user" and bool(text.strip()) and not text.startswith(CONTEXT)


def has_user_message(path: Path) -> bool:
    """Whether the chat, as Gemini would load it, holds a prompt the user typed. Only then
    does ``gemini --resume <id>`` accept it (else exit 42, "Invalid session identifier")."""
    if path.suffix == ".json":
        data = read_json_file(path, limit=MAX_LEGACY)
        records = data.get("messages") if isinstance(data, dict) else None
        return any(isinstance(r, dict) and _real_prompt(r) for r in records or [])
    messages: dict[str, bool] = {}  # message id -> a real prompt; in file order
    for record in scan_records(path, (b"{",)):
        update = record.get("$set")
        if isinstance(update, dict) and isinstance(update.get("messages"), list):
            listed = [m for m in update["messages"] if isinstance(m, dict)]
            messages = {str(m.get("id")): _real_prompt(m) for m in listed}
        elif isinstance(record.get("$rewindTo"), str):
            ids = list(messages)
            if record["$rewindTo"] in messages:  # drops that message and all after it
                del ids[ids.index(record["$rewindTo"]) :]
            messages = {i: messages[i] for i in ids}
        elif isinstance(record.get("id"), str) and "type" in record:
            messages[record["id"]] = _real_prompt(record)
    return any(messages.values())


def _message(record: dict[str, Any]) -> list[Message]:
    role = _ROLES.get(str(record.get("type")))
    if role is None:
        return []  # info, error, warning lines are the CLI's, not the conversation
    text = parts_text(record.get("content"))
    if text.startswith(CONTEXT):
        return []
    for call in record.get("toolCalls") or []:
        if isinstance(call, dict):
            text += f"\n[tool_use {call.get('name', '?')}: {one_line(call.get('args', ''))}]"
    if not text.strip():
        return []
    return [{"role": role, "text": text, "timestamp": str(record.get("timestamp") or "")}]


class Reader:
    """Reads JSONL chat lines newest first: keeps the newest copy of each message id, leaves
    out messages that a later ``$rewindTo`` removed, and stops at a ``$set.messages`` (which
    replaced everything before it)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.rewind_to: str | None = None
        self.done = False

    def message_of(self, record: dict[str, Any]) -> list[Message]:
        if self.done:
            return []
        update = record.get("$set")
        if isinstance(update, dict) and isinstance(update.get("messages"), list):
            out: list[Message] = []
            for item in reversed(update["messages"]):
                if isinstance(item, dict):
                    out[:0] = self.message_of(item)
            self.done = True
            return out
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


def legacy_messages(path: Path, n: int) -> list[Message]:
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
