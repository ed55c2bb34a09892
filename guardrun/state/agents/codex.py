"""OpenAI Codex CLI: rollout discovery, ``codex resume <uuid>``, rollout reading.

Rollouts are ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<YYYY-MM-DDThh-mm-ss>-<uuid>.jsonl``
(``CODEX_HOME`` defaults to ``~/.codex``). The first line is
``{"type": "session_meta", "payload": {"id": <uuid>, "cwd": ..., ...}}``; conversation lines
are ``{"type": "response_item", "payload": {"type": "message", "role": ..., "content": [...]}}``
plus ``function_call``/``function_call_output`` items. The date directories are in local time,
so both the local and the UTC dates around the child's start are searched.

Codex keeps its rollout open while it runs, so on Linux the file held open by the child's tree
is the exact answer; the newest rollout for the same cwd is the fallback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from guardrun.state.agents.base import (
    Message,
    Session,
    basename,
    head_records,
    home_dir,
    is_uuid,
    newest,
    open_files,
    same_dir,
    split_option,
)
from guardrun.state.transcript import block_text, one_line, tail_jsonl

_ROLLOUT = re.compile(r"rollout-[^/\\]*-([0-9a-fA-F-]{36})\.jsonl$")
# Options of the interactive CLI that take a value (codex-rs tui/src/cli.rs); -i/--image is
# dropped on resume since the images belonged to the first prompt.
_VALUED = {"-c", "--config", "--enable", "--disable", "-m", "--model", "--local-provider",
           "-p", "--profile", "-s", "--sandbox", "-a", "--ask-for-approval", "-C", "--cd",
           "--add-dir", "-i", "--image"}  # fmt: skip
_DROPPED = {"-i", "--image", "--last", "--all"}  # --last/--all: the resume subcommand's own
_BOILERPLATE = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions")


def codex_home(env: Mapping[str, str]) -> Path:
    named = env.get("CODEX_HOME")
    return Path(named) if named else home_dir(env) / ".codex"


def _command_start(argv: Sequence[str]) -> int | None:
    if not argv:
        return None
    if basename(argv[0]) == "codex":
        return 1
    if basename(argv[0]) in ("node", "nodejs", "bun") and len(argv) > 1:
        if basename(argv[1]) in ("codex", "codex.js"):
            return 2
    return None


def _split(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(options with their values, positional arguments)."""
    options: list[str] = []
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional.extend(args[i + 1 :])
            break
        name, value = split_option(arg)
        if arg.startswith("-") and arg != "-":
            taken = [arg]
            if name in _VALUED and value is None and i + 1 < len(args):
                taken.append(args[i + 1])
                i += 1
            if name not in _DROPPED:
                options.extend(taken)
        else:
            positional.append(arg)
        i += 1
    return options, positional


def _day_dirs(root: Path, started_at: float) -> list[Path]:
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


def _session_of(path: Path, cwd: Path, source: str) -> Session:
    meta = rollout_meta(path)
    match = _ROLLOUT.search(path.name)
    session_id = meta.get("id") if is_uuid(meta.get("id")) else None
    if session_id is None and match and is_uuid(match.group(1)):
        session_id = match.group(1)
    where = meta.get("cwd")
    return Session(
        "codex", session_id, path, Path(where) if isinstance(where, str) else cwd, source
    )


class CodexAgent:
    name = "codex"

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
        sessions = codex_home(env) / "sessions"
        for path in newest(open_files(pids, _ROLLOUT), 0.0):
            return _session_of(path, cwd, "open file")
        named = self._argv_session(argv)
        if named is not None:
            for path in sessions.glob(f"*/*/*/rollout-*-{named}.jsonl"):
                return _session_of(path, cwd, "argv")
        for day in _day_dirs(sessions, started_at):
            for path in newest(day.glob("rollout-*.jsonl"), started_at):
                where = rollout_meta(path).get("cwd")
                if isinstance(where, str) and same_dir(where, cwd):
                    return _session_of(path, cwd, "newest rollout")
        if named is not None:
            return Session(self.name, named, None, cwd, "argv")
        return None

    def _argv_session(self, argv: Sequence[str]) -> str | None:
        start = _command_start(argv)
        if start is None:
            return None
        _, positional = _split(argv[start:])
        if len(positional) >= 2 and positional[0] == "resume" and is_uuid(positional[1]):
            return positional[1]
        return None

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        start = _command_start(argv)
        if start is None or session is None or not is_uuid(session.session_id):
            return None
        options, positional = _split(argv[start:])
        # Only the interactive CLI resumes (plain, with a prompt, or already "resume"); other
        # subcommands (exec, mcp, login, ...) are not conversations to go back to.
        if positional and positional[0] in _SUBCOMMANDS and positional[0] != "resume":
            return None
        return [*argv[:start], *options, "resume", str(session.session_id)]

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        if session.transcript is None:
            return []
        return tail_jsonl(session.transcript, message_of, n, prefilter=b"response_item")


_SUBCOMMANDS = {"exec", "e", "login", "logout", "mcp", "mcp-server", "app-server", "completion",
                "sandbox", "debug", "apply", "a", "resume", "fork", "cloud", "features", "help",
                "proto", "p", "generate-ts", "responses-api-proxy"}  # fmt: skip


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
        if not text.strip() or text.lstrip().startswith(_BOILERPLATE):
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
