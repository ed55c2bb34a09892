"""Reading Codex rollouts: where they are, their metadata line, their messages."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.state.agents.base import Message, head_records, home_dir, scan_records
from guardrun.state.transcript import block_text, one_line

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# Codex's own user-role items: the environment and instructions it sends before a prompt.
BOILERPLATE = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions")


def codex_home(env: Mapping[str, str]) -> Path:
    named = env.get("CODEX_HOME")
    return Path(named) if named else home_dir(env) / ".codex"


def day_dirs(root: Path, started_at: float) -> list[Path]:
    """The existing ``YYYY/MM/DD`` directories from a day before ``started_at`` to tomorrow."""
    days: set[str] = set()
    moment = started_at - 86400
    end = time.time() + 86400
    while moment <= end:
        for tz in (None, timezone.utc):
            days.add(datetime.fromtimestamp(moment, tz).strftime("%Y/%m/%d"))
        moment += 43200  # every half day catches each date in both time zones
    return [root / d for d in sorted(days) if (root / d).is_dir()]


def rollout_meta(path: Path) -> dict[str, Any]:
    for record in head_records(path, max_lines=5):
        if record.get("type") == "session_meta" and isinstance(record.get("payload"), dict):
            payload: dict[str, Any] = record["payload"]
            return payload
    return {}


def has_user_message(path: Path) -> bool:
    """Whether the rollout holds a prompt the user typed (not only Codex's own context):
    without one there is nothing for ``codex resume`` to bring back."""
    for record in scan_records(path, (b'"user"',)):
        for message in message_of(record):
            if message["role"] == "user" and not message["text"].startswith("[tool_result"):
                return True
    return False


def message_of(record: dict[str, Any]) -> list[Message]:
    """A rollout line as a message: user/assistant text, tool calls and results in brief."""
    if record.get("type") != "response_item" or not isinstance(record.get("payload"), dict):
        return []
    item: dict[str, Any] = record["payload"]
    stamp = str(record.get("timestamp") or "")
    kind = item.get("type")
    if kind == "message" and item.get("role") in ("user", "assistant"):
        content = item.get("content")
        blocks = content if isinstance(content, list) else [content]
        text = "\n".join(t for t in (block_text(b) for b in blocks) if t)
        if not text.strip() or text.lstrip().startswith(BOILERPLATE):
            return []
        return [{"role": str(item["role"]), "text": text, "timestamp": stamp}]
    if kind in ("function_call", "custom_tool_call", "local_shell_call"):
        args = item.get("arguments", item.get("input", item.get("action", "")))
        name = item.get("name", kind)
        return [{"role": "assistant", "text": f"[tool_use {name}: {one_line(args)}]",
                 "timestamp": stamp}]  # fmt: skip
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output", "")
        if isinstance(output, dict):
            output = output.get("content", output)
        return [{"role": "user", "text": f"[tool_result: {one_line(output)}]", "timestamp": stamp}]
    return []
