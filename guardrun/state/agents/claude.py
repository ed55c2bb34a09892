"""Claude Code: session discovery, resume argv and transcript reading (DESIGN §3).

Facts relied on, checked against Claude Code 2.1.197 run offline (tests/claude_cli.py):
- config dir is ``$CLAUDE_CONFIG_DIR`` or ``~/.claude``; transcripts are
  ``<config>/projects/<encoded cwd>/<session uuid>.jsonl``, created at the first prompt.
- ``<config>/sessions/<pid>.json`` exists from start-up, holds ``sessionId``, ``cwd``,
  ``startedAt`` (ms) and ``procStart`` (start time in clock ticks since boot), follows ``/clear``
  (new id) and is removed at a clean exit, but survives SIGKILL: a leftover can name a reused
  pid, hence the ``procStart`` check.
- ``--resume <id>`` continues the same id and appends to the same transcript.

Discovery order differs from the plain reading of DESIGN §3 on purpose: the sessions file comes
before the argv, because after a restart the argv always carries ``--resume <old id>`` and a
``/clear`` since then has moved the live session elsewhere; only the sessions file knows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.state.agents.base import (
    Message,
    head_records,
    home_dir,
    is_uuid,
    newest,
    proc_start_ticks,
    read_json_file,
    same_dir,
)
from guardrun.state.agents.claude_argv import argv_session, forks, new_conversation, resume_args
from guardrun.state.agents.session import Session, uncertain
from guardrun.state.agents.starts import claude as command_start
from guardrun.state.transcript import GROUP, content_text, tail_jsonl

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

MAX_ENCODED = 200  # Claude keeps this many characters of the encoded path, then adds a hash


def config_dir(env: Mapping[str, str]) -> Path:
    named = env.get("CLAUDE_CONFIG_DIR")
    return Path(named) if named else home_dir(env) / ".claude"


def _java_hash(text: str) -> int:
    """Claude's path hash: ``h = (h << 5) - h + code unit``, 32-bit, over UTF-16 code units."""
    h = 0
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (h * 31 + (data[i] | data[i + 1] << 8)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
        if value == 0:
            return out


def encode_cwd(cwd: str | Path) -> str:
    """The project directory name Claude derives from a working directory."""
    text = str(cwd)
    # JavaScript's replace works on UTF-16 code units: a character outside the BMP gives "--".
    encoded = "".join(
        c if c.isascii() and c.isalnum() else ("--" if ord(c) > 0xFFFF else "-") for c in text
    )
    if len(encoded) <= MAX_ENCODED:
        return encoded
    return f"{encoded[:MAX_ENCODED]}-{_base36(abs(_java_hash(text)))}"


def project_dirs(config: Path, cwd: Path) -> list[Path]:
    """Candidate transcript directories for ``cwd``: the encoded name, or for long paths any
    directory with the same 200-character prefix (Claude itself searches the same way)."""
    encoded = encode_cwd(cwd)
    root = config / "projects"
    found = [root / encoded] if (root / encoded).is_dir() else []
    if len(encoded) > MAX_ENCODED:
        prefix = encoded[:MAX_ENCODED] + "-"
        try:
            found += [p for p in root.iterdir() if p.name.startswith(prefix) and p not in found]
        except OSError:
            pass
    return found


def transcript_cwd(path: Path) -> str | None:
    """The ``cwd`` written in the transcript's first lines that carry one."""
    for record in head_records(path):
        cwd = record.get("cwd")
        if isinstance(cwd, str):
            return cwd
    return None


def _belongs(path: Path, cwd: Path) -> bool:
    recorded = transcript_cwd(path)
    # A transcript with no cwd yet (only mode lines) is judged by its directory alone.
    return recorded is None or same_dir(recorded, cwd)


class ClaudeAgent:
    name = "claude"

    def matches(self, argv: Sequence[str]) -> bool:
        return command_start(argv) is not None

    def launch_argv(self, argv: Sequence[str], again: bool = False) -> list[str]:
        # sessions/<pid>.json already names the run's session: nothing to add.
        return new_conversation(argv) if again else list(argv)

    def resume_refused(self, exit_code: int) -> bool:
        return exit_code == 1  # "No conversation found with session ID: ..."

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None:
        config = config_dir(env)
        found = self._from_sessions_files(config, pids, cwd, started_at)
        if found is None:
            found = self._from_argv(config, argv, cwd)
        if found is None:
            found = self._from_newest(config, cwd, started_at)
        return found

    def _from_sessions_files(
        self, config: Path, pids: Sequence[int], cwd: Path, started_at: float
    ) -> Session | None:
        try:  # one listing rather than an open() per process of a large tree
            present = set(os.listdir(config / "sessions"))
        except OSError:
            return None
        for pid in pids:
            if f"{int(pid)}.json" not in present:
                continue
            data = read_json_file(config / "sessions" / f"{int(pid)}.json")
            if not isinstance(data, dict) or not is_uuid(data.get("sessionId")):
                continue
            if not _current(data, pid, started_at):
                continue
            session_id = str(data["sessionId"])
            recorded = data.get("cwd")
            where = Path(recorded) if isinstance(recorded, str) and recorded else cwd
            transcript = self._transcript(config, session_id, where)
            note = f"sessions/{int(pid)}.json of the run's claude (pid {int(pid)})"
            return Session(self.name, session_id, transcript, where, "sessions file", note)
        return None

    def _from_argv(self, config: Path, argv: Sequence[str], cwd: Path) -> Session | None:
        session_id = argv_session(argv)
        if session_id is None:
            return None
        transcript = self._transcript(config, session_id, cwd)
        return Session(self.name, session_id, transcript, cwd, "argv", "named by the run's argv")

    def _from_newest(self, config: Path, cwd: Path, started_at: float) -> Session | None:
        found = [
            path
            for directory in project_dirs(config, cwd)
            for path in newest(directory.glob("*.jsonl"), started_at)
            if is_uuid(path.stem) and _belongs(path, cwd)
        ]
        if len(found) == 1:
            note = "the only transcript of this directory written since the run started"
            return Session(self.name, found[0].stem, found[0], cwd, "newest transcript", note)
        if found:
            # Two sessions in one directory (another claude, or this one after /clear) and
            # no sessions file to tell them apart: resuming either could be the wrong one.
            names = ", ".join(sorted(p.name for p in found))
            note = f"{len(found)} transcripts of this directory written since the run started"
            return uncertain(self.name, cwd, f"{note} ({names}) and no sessions file")
        return None

    def _transcript(self, config: Path, session_id: str, cwd: Path) -> Path | None:
        """The transcript of ``session_id``: in the directory of ``cwd``, else in any project."""
        for directory in project_dirs(config, cwd):
            path = directory / f"{session_id}.jsonl"
            if path.is_file():
                return path
        # The session may have started in another directory (claude --resume from elsewhere).
        for path in (config / "projects").glob(f"*/{session_id}.jsonl"):
            return path
        return None

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        if session is None or not is_uuid(session.session_id):
            return None
        session_id = str(session.session_id)
        if session.transcript is None or not session.transcript.is_file():
            # A session with no transcript yet (restarted before the first prompt):
            # `claude --resume <id>` exits 1 with "No conversation found with session ID".
            # A fork is made again under the same id; anything else starts afresh.
            if forks(argv) and session.source == "sessions file":
                return resume_args(argv, session_id, fork_of_nothing=True)
            return None
        return resume_args(argv, session_id, fork_of_nothing=False)

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        if session.transcript is None:
            return []
        return tail_jsonl(session.transcript, message_of, n, prefilter=b'"message"')


def _current(data: dict[str, Any], pid: int, started_at: float) -> bool:
    """Whether a sessions file was written by the process now running as ``pid``."""
    ticks = proc_start_ticks(pid)
    recorded = data.get("procStart")
    if ticks is not None and isinstance(recorded, str) and recorded.isdigit():
        return recorded == ticks
    started = data.get("startedAt")
    if isinstance(started, (int, float)):
        return started / 1000 >= started_at - 5.0
    return True


def message_of(record: dict[str, Any]) -> list[Message]:
    """A Claude transcript line as a message, or nothing for every other kind of line."""
    kind = record.get("type")
    message = record.get("message")
    if kind not in ("user", "assistant") or not isinstance(message, dict):
        return []
    if record.get("isMeta") or record.get("isSidechain"):
        return []  # injected caveats and subagent turns are not the conversation
    role = message.get("role") if message.get("role") in ("user", "assistant") else kind
    text = content_text(message.get("content"))
    if not text.strip():
        return []
    timestamp = record.get("timestamp")
    out = {"role": str(role), "text": text, "timestamp": str(timestamp) if timestamp else ""}
    # An assistant reply is written one content block per line, all with the same message id.
    if isinstance(message.get("id"), str):
        out[GROUP] = message["id"]
    return [out]
