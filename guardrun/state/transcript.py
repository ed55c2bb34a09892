"""Reading the last messages of a JSONL transcript without reading the whole file.

Agent transcripts grow to gigabytes (Claude Code keeps every tool result), so the file is read
backwards in blocks from its end and only as many blocks as the last ``n`` messages need. A
torn last line (the agent was killed mid-write) and invalid UTF-8 are skipped, not fatal; so
are lines that are not JSON objects, unknown line types and lines over ``max_line`` bytes (a
pasted image can make one line hundreds of megabytes). ``max_scan`` bounds the work when the
end of a file holds no messages at all.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO

Message = dict[str, str]
if TYPE_CHECKING:
    Extract = Callable[[dict[str, Any]], list[Message]]

BLOCK = 1 << 16
MAX_SCAN = 64 << 20
MAX_LINE = 16 << 20
MAX_TEXT = 2000
SUMMARY = 160  # characters kept of a tool call's input or a tool result
GROUP = "_group"  # extractor's key: adjacent parts of one message (same role and group) merge


def cap(text: str, limit: int = MAX_TEXT) -> str:
    """A message's text in ``limit`` characters, redacted before it is cut (``clip``)."""
    from guardrun.state.clip import clip  # where used: the adapters load at start-up

    return clip(text.strip(), limit)


def reversed_lines(
    f: BinaryIO, *, block: int = BLOCK, max_scan: int = MAX_SCAN, max_line: int = MAX_LINE
) -> Iterator[bytes]:
    """The lines of ``f``, last first, without their newline; empty lines skipped.

    Reads ``block`` bytes at a time from the end and stops after ``max_scan`` bytes. A line
    longer than ``max_line`` (give or take a block) is dropped whole: skipped, never buffered.
    """
    end = f.seek(0, os.SEEK_END)
    pos = end
    # The end of a line whose start is not read yet, as chunks newest first; kept as a list
    # because prepending to one bytes object would copy it again for every block.
    pending: list[bytes] = []
    pending_len = 0
    skipping = False  # inside an over-long line: discard bytes up to its start
    while pos > 0 and end - pos < max_scan:
        size = min(block, pos)
        pos -= size
        f.seek(pos)
        chunk = f.read(size)
        parts = chunk.split(b"\n")
        # parts[0] continues into an older block; the others are complete lines (newest last).
        first, complete = parts[0], parts[1:]
        if complete:
            if skipping:
                complete.pop()
                skipping = False
            else:
                complete[-1] += b"".join(reversed(pending))
            for line in reversed(complete):
                if line:
                    yield line
            pending, pending_len = [first], len(first)
        elif not skipping:
            pending.append(first)
            pending_len += len(first)
        if pending_len > max_line:
            pending, pending_len, skipping = [], 0, True
    if pos == 0 and pending_len and not skipping:
        yield b"".join(reversed(pending))


def tail_jsonl(
    path: Path,
    extract: Extract,
    n: int = 10,
    *,
    prefilter: bytes | None = None,
    block: int = BLOCK,
    max_scan: int = MAX_SCAN,
    max_line: int = MAX_LINE,
) -> list[Message]:
    """The last ``n`` messages of the JSONL file at ``path``, oldest first.

    ``extract`` turns one JSON object into zero or more messages (it sees the newest line
    first). Lines without ``prefilter`` in their bytes are not even parsed: a cheap way past the
    bulk of non-message lines. A missing or unreadable file gives ``[]``.
    """
    if n <= 0:
        return []
    newest_first: list[dict[str, str]] = []
    try:
        with open(path, "rb") as f:
            lines = reversed_lines(f, block=block, max_scan=max_scan, max_line=max_line)
            for line in lines:
                if prefilter is not None and prefilter not in line:
                    continue
                try:
                    record = json.loads(line.decode("utf-8", "replace"))
                except ValueError:
                    continue  # a torn last line, or garbage
                if not isinstance(record, dict):
                    continue
                for message in reversed(extract(record)):
                    if _merge(newest_first, message):
                        continue
                    newest_first.append(dict(message))
                    # One message past n proves the nth message has no older parts left.
                    if len(newest_first) > n:
                        break
                if len(newest_first) > n:
                    break
    except OSError:
        return []
    result = newest_first[:n]
    result.reverse()
    for message in result:
        message.pop(GROUP, None)
        message["text"] = cap(message.get("text", ""))
    return _by_time(result)


def _by_time(messages: list[Message]) -> list[Message]:
    """Messages in timestamp order when every one has a readable timestamp, else as they are.

    File order is not always time order: Claude Code 2.1.197 was seen writing its reply line
    before the prompt line it answers (about one time in four, offline here).
    """
    keys = []
    for message in messages:
        try:
            stamp = datetime.fromisoformat(message.get("timestamp", "").replace("Z", "+00:00"))
        except ValueError:
            return messages
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        keys.append(stamp)
    order = sorted(range(len(messages)), key=keys.__getitem__)  # stable: ties keep file order
    return [messages[i] for i in order]


def _merge(newest_first: list[dict[str, str]], older: Message) -> bool:
    """Prepend ``older`` to the last collected message when both are parts of one message."""
    if not newest_first:
        return False
    newer = newest_first[-1]
    group = older.get(GROUP)
    if not group or group != newer.get(GROUP) or older.get("role") != newer.get("role"):
        return False
    if len(newer["text"]) < MAX_TEXT:
        newer["text"] = older.get("text", "") + "\n" + newer["text"]
    newer["timestamp"] = older.get("timestamp") or newer.get("timestamp", "")
    return True


def one_line(value: object, limit: int = SUMMARY) -> str:
    """A short single-line rendering of a tool input or result."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            text = repr(value)
    from guardrun.state.clip import clip

    return clip(" ".join(text.split()), limit)


def block_text(block: object) -> str:
    """One content block as text: text in full, tool calls and results summarized."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text") and isinstance(block.get("text"), str):
        return str(block["text"])
    if kind == "tool_use":
        return f"[tool_use {block.get('name', '?')}: {one_line(block.get('input', ''))}]"
    if kind == "tool_result":
        inner = block.get("content")
        shown = content_text(inner) if isinstance(inner, list) else inner
        label = "tool_result error" if block.get("is_error") else "tool_result"
        return f"[{label}: {one_line(shown if shown is not None else '')}]"
    if kind in ("image", "document"):
        return f"[{kind}]"
    return ""  # thinking, redacted_thinking and unknown blocks: not shown


def content_text(content: object) -> str:
    """Text of a message's content: a string, or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for t in (block_text(b) for b in content) if t)
    return ""
