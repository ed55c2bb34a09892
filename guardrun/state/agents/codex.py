"""OpenAI Codex CLI: rollout discovery, ``codex resume <uuid>``, rollout reading.

Facts relied on, checked against Codex CLI 0.171.0 run offline (tests/codex_cli.py):
- Rollouts are ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<YYYY-MM-DDThh-mm-ss>-<uuid>.jsonl``
  (``CODEX_HOME`` defaults to ``~/.codex``), created at the first prompt, not at start-up. The
  first line is ``{"type": "session_meta", "payload": {"id", "cwd", "thread_source", ...}}``;
  conversation lines are ``{"type": "response_item", "payload": {"type": "message", "role",
  "content": [...]}}``; the first user item is Codex's own ``<environment_context>``.
- By default the TUI starts ``codex app-server --listen unix:// --managed-daemon`` in a session
  of its own. That daemon holds every session's rollout open, outlives the TUI and serves the
  next ``codex`` on the machine, so "the rollout held open by the tree" may be another run's.
  With ``--no-daemon`` the TUI's own process holds its rollout: ``launch_argv`` adds it.
- ``codex resume <unknown id>`` prints "No saved session found with ID ..." and exits 1.
The date directories are in local time, so the local and UTC dates around the start are both
searched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.state.agents.argv import Token, first_positional, has_option, option_value, tokenize
from guardrun.state.agents.argv import without as argv_without
from guardrun.state.agents.base import Message, is_uuid, newest, open_files, proc_argv, same_dir
from guardrun.state.agents.codex_files import (
    codex_home,
    day_dirs,
    has_user_message,
    message_of,
    rollout_meta,
)
from guardrun.state.agents.session import Session, uncertain
from guardrun.state.agents.starts import codex as _command_start
from guardrun.state.transcript import tail_jsonl

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["CodexAgent", "codex_home", "has_user_message", "message_of", "rollout_meta"]

_ROLLOUT = re.compile(r"rollout-[^/\\]*-([0-9a-fA-F-]{36})\.jsonl$")
# Options of `codex` and `codex resume` 0.171.0 that take one value (`codex --help`).
_ONE = {"-c", "--config", "--enable", "--disable", "--remote", "--remote-auth-token-env",
        "-m", "--model", "--local-provider", "-p", "--profile", "-s", "--sandbox",
        "-a", "--ask-for-approval", "-C", "--cd", "--add-dir"}  # fmt: skip
_MANY = {"-i", "--image"}  # `-i, --image <FILE>...`: clap takes every following value
# Dropped on resume: the images belonged to the first prompt; the rest choose a session.
_DROPPED = {"-i", "--image", "--last", "--all", "--include-non-interactive"}
# Subcommands of 0.171.0 (`codex --help`) and of older releases. Only "resume" and "fork"
# (and no subcommand) are interactive conversations; the others are rerun, never resumed.
_SUBCOMMANDS = {"agents", "exec", "e", "review", "login", "logout", "mcp", "plugin",
                "app-server", "remote-control", "completion", "update", "doctor", "sandbox",
                "debug", "apply", "a", "resume", "queue", "archive", "delete",
                "migrate-rollouts", "migrate-nfs-db", "unarchive", "fork", "cloud",
                "exec-server", "features", "help", "mcp-server", "proto", "p", "generate-ts",
                "responses-api-proxy"}  # fmt: skip
_INTERACTIVE = (None, "resume", "fork")
NO_DAEMON = "--no-daemon"


def _tokens(args: Sequence[str]) -> list[Token]:
    return tokenize(args, one=_ONE, many=_MANY)


def is_daemon(pid: int) -> bool:
    # The daemon's argv is `codex app-server --listen unix:// ... --managed-daemon` (and its
    # helper `codex app-server daemon pid-update-loop`); the TUI's never holds "app-server".
    return "app-server" in proc_argv(pid)[1:]


def _own_rollout(meta: dict[str, Any]) -> bool:
    """Not a sub-agent's thread: those carry a non-"user" thread_source or an object source."""
    source = meta.get("thread_source")
    return (source is None or source == "user") and not isinstance(meta.get("source"), dict)


class CodexAgent:
    name = "codex"

    def __init__(self, no_daemon: bool = True) -> None:
        self.no_daemon = no_daemon  # config agents.codex.no_daemon

    def matches(self, argv: Sequence[str]) -> bool:
        return _command_start(argv) is not None

    def launch_argv(self, argv: Sequence[str], again: bool = False) -> list[str]:
        start = _command_start(argv)
        if start is None:
            return list(argv)
        if again and first_positional(_tokens(argv[start:])) in ("resume", "fork"):
            # `codex resume X` again would go back to the session that could not be resumed.
            options = argv_without(_tokens(argv[start:]), _DROPPED, drop_positionals=True)
            argv = [*argv[:start], *options]
        if not self._wants_no_daemon(argv[start:]):
            return list(argv)
        return [*argv[:start], NO_DAEMON, *argv[start:]]

    def _wants_no_daemon(self, args: Sequence[str]) -> bool:
        tokens = _tokens(args)
        sub = first_positional(tokens)
        interactive = sub in _INTERACTIVE or sub not in _SUBCOMMANDS  # a prompt, not a command
        # --remote connects to a server the user chose: the daemon question is not ours.
        return self.no_daemon and interactive and not has_option(tokens, NO_DAEMON, "--remote")

    def resume_refused(self, exit_code: int) -> bool:
        return exit_code == 1  # "No saved session found with ID ..."

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None:
        start = _command_start(argv)
        args = list(argv[start:]) if start is not None else []
        where = _expected_cwd(args, cwd)
        own: list[Path] = []
        daemon_held = False
        for pid in pids:
            held = open_files([pid], _ROLLOUT)
            if held and is_daemon(pid):
                daemon_held = True  # it holds every session's rollout: not evidence
            else:
                own += [p for p in held if p not in own]
        mine = [p for p in own if _own_rollout(rollout_meta(p))]
        if mine:
            return self._from_own(mine, where)
        named = _argv_session(args)
        home = codex_home(env) / "sessions"
        if named is not None:
            for path in home.glob(f"*/*/*/rollout-*-{named}.jsonl"):
                if _cwd_matches(path, where):
                    return _session_of(path, where, "argv", "named by the run's argv")
        days = day_dirs(home, started_at)
        recent = [p for d in days for p in newest(d.glob("rollout-*.jsonl"), started_at)]
        fits = [p for p in recent if _cwd_matches(p, where) and _own_rollout(rollout_meta(p))]
        if len(fits) == 1:
            held_by = "held by a shared Codex daemon; " if daemon_held else ""
            note = f"{held_by}the only rollout for {where} written since the run started"
            return _session_of(fits[0], where, "newest rollout", note)
        if fits:
            ids = ", ".join(sorted(p.name for p in fits))
            return uncertain(
                self.name, where, f"{len(fits)} rollouts for {where} written since the run "
                f"started ({ids}) and none held open by the run itself (is a shared Codex "
                f"daemon serving it? {NO_DAEMON} avoids that)",
            )  # fmt: skip
        return None

    def _from_own(self, held: list[Path], where: Path) -> Session:
        fits = [p for p in held if _cwd_matches(p, where)]
        if len(fits) == 1:
            return _session_of(fits[0], where, "open file", "held open by the run's codex")
        names = ", ".join(p.name for p in held)
        if not fits:
            return uncertain(self.name, where, f"the run holds {names}, not for {where}")
        return uncertain(self.name, where, f"the run holds several rollouts: {names}")

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        start = _command_start(argv)
        if start is None or session is None or not is_uuid(session.session_id):
            return None
        if session.transcript is None or not has_user_message(session.transcript):
            # No rollout yet, or one with no prompt in it: nothing a resume would bring back.
            return None
        tokens = _tokens(argv[start:])
        sub = first_positional(tokens)
        if sub in _SUBCOMMANDS and sub not in _INTERACTIVE:
            return None  # exec, review, mcp, ...: not a conversation to go back to
        options = argv_without(tokens, _DROPPED, drop_positionals=True)
        if self._wants_no_daemon(argv[start:]) and NO_DAEMON not in options:
            options.insert(0, NO_DAEMON)
        return [*argv[:start], *options, "resume", str(session.session_id)]

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        if session.transcript is None:
            return []
        return tail_jsonl(session.transcript, message_of, n, prefilter=b"response_item")


def _expected_cwd(args: Sequence[str], cwd: Path) -> Path:
    """The directory the session runs in: ``-C/--cd DIR`` (relative to cwd), else cwd."""
    named = option_value(_tokens(args), "-C", "--cd")
    return cwd / named if named else cwd


def _cwd_matches(path: Path, where: Path) -> bool:
    recorded = rollout_meta(path).get("cwd")
    return isinstance(recorded, str) and same_dir(recorded, where)


def _argv_session(args: Sequence[str]) -> str | None:
    tokens = _tokens(args)
    words = [t.text for t in tokens if t.kind == "positional"]
    if len(words) >= 2 and words[0] == "resume" and is_uuid(words[1]):
        return words[1]
    return None


def _session_of(path: Path, where: Path, source: str, note: str) -> Session:
    meta = rollout_meta(path)
    match = _ROLLOUT.search(path.name)
    session_id = meta.get("id") if is_uuid(meta.get("id")) else None
    if session_id is None and match and is_uuid(match.group(1)):
        session_id = match.group(1)
    if not has_user_message(path):
        note += "; no user message in it yet, so a restart starts a new conversation"
    return Session("codex", session_id, path, where, source, note)
