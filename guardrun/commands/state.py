"""``guardrun state list|show|resume|prune|path``: inspect and use saved states.

rich is imported only when a table is drawn: ``guardrun state path`` and the
JSON outputs should not pay its import time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.errors import CommandNotExecutable, CommandNotFound, StateNotFound, UsageError
from guardrun.escape import json_bytes, shell_word, visible
from guardrun.state import retention
from guardrun.state.clip import clip
from guardrun.state.project import project_root
from guardrun.state.store import Entry, Store, check_ref
from guardrun.units import format_bytes, format_duration, parse_duration

if TYPE_CHECKING:
    from typing import Any

DEFAULT_KEEP = 50
DEFAULT_MAX_AGE = "7d"


def add_state_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``state`` and its subcommands to the CLI's subparsers."""
    state: argparse.ArgumentParser = subparsers.add_parser(
        "state", help="inspect, resume and prune saved states"
    )
    sub = state.add_subparsers(dest="state_command", metavar="COMMAND", required=True)
    p = sub.add_parser("list", help="saved states of this project")
    p.add_argument("--all", action="store_true", help="every project")
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p = sub.add_parser("show", help="one saved state")
    p.add_argument("id", metavar="ID|latest")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="the state as JSON")
    fmt.add_argument("--raw", action="store_true", help="the decompressed file as it is")
    p = sub.add_parser("resume", help="run the saved resume command in the saved directory")
    p.add_argument("id", metavar="ID|latest", nargs="?", default="latest")
    p.add_argument("--print", action="store_true", help="print the command instead")
    p = sub.add_parser("prune", help="remove old states (keeps the newest of each session)")
    p.add_argument("--keep", type=int, default=None, metavar="N", help=f"default {DEFAULT_KEEP}")
    p.add_argument("--older-than", default=None, metavar="D", help=f"default {DEFAULT_MAX_AGE}")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed")
    p = sub.add_parser("path", help="where states (or one state) are kept")
    p.add_argument("id", metavar="ID|latest", nargs="?", default=None)
    return state


def run_state(
    args: argparse.Namespace,
    state_dir: Path,
    cwd: Path,
    keep: int = DEFAULT_KEEP,
    max_age: str | float = DEFAULT_MAX_AGE,
) -> int:
    """Run one ``state`` subcommand; ``keep``/``max_age`` are the config's defaults."""
    ref: str | None = getattr(args, "id", None)
    if ref is not None:
        check_ref(ref)  # before anything becomes a path
    store = Store(state_dir, project_root(cwd))
    try:
        return _run(store, args, ref, keep, max_age)
    finally:
        for problem in store.problems:  # skipped, never fatal: on stderr, after the output
            print(f"guardrun: warning: {problem}", file=sys.stderr)


def _run(
    store: Store, args: argparse.Namespace, ref: str | None, keep: int, max_age: str | float
) -> int:
    command = args.state_command
    if command == "list":
        return _list(store, args.all, args.json)
    if command == "show":
        return _show(store, ref or "latest", args.json, args.raw)
    if command == "resume":
        return _resume(store, ref or "latest", args.print)
    if command == "prune":
        return _prune(store, args, keep, max_age)
    if command == "path":
        print(store.resolve(ref) if ref else store.states_dir)
        return 0
    raise UsageError(f"unknown state command {command!r}")


def _list(store: Store, all_projects: bool, as_json: bool) -> int:
    entries = store.entries(all_projects)
    if as_json:
        for e in entries:
            print(json.dumps(e.as_dict()))
        return 0
    if not entries:
        where = store.projects_dir if all_projects else store.states_dir
        print(f"no saved states in {where}")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    # The id is never cut: its last 4 hex are what tell two states of one second apart,
    # and a cut id cannot be given back to `state show`. The other columns give way,
    # each on one line, shortened with an ellipsis.
    table.add_column("id", no_wrap=True, min_width=max(len(e.id) for e in entries))
    for column in ("age", "reason", "agent", "session"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for column in ("memory", "size"):
        table.add_column(column, justify="right", no_wrap=True, overflow="ellipsis")
    if all_projects:
        table.add_column("project", no_wrap=True, overflow="ellipsis")
    now = time.time()
    for e in entries:
        table.add_row(*_row(e, now), *([_cell(e.project)] if all_projects else []))
    Console().print(table)
    return 0


def _row(e: Entry, now: float) -> list[str]:
    age = format_duration(max(0.0, now - e.created))
    if e.corrupt:
        return [
            e.id,
            age,
            "[red]corrupt[/red]",
            "",
            _cell(e.corrupt[-60:]),
            "",
            format_bytes(e.size),
        ]
    s = e.summary
    session = _cell(s.get("session_id") or "-")
    memory = format_bytes(s["tree_bytes"]) if isinstance(s.get("tree_bytes"), int) else "-"
    return [
        e.id,
        age,
        _cell(s.get("reason") or "-"),
        _cell(s.get("agent") or "-"),
        session,
        memory,
        format_bytes(e.size),
    ]


def _cell(value: object) -> str:
    """A field of a state file in a rich table: no control characters, no markup."""
    from rich.markup import escape

    return escape(visible(value))


def _show(store: Store, ref: str, as_json: bool, raw: bool) -> int:
    if raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(store.read_raw(ref))
        sys.stdout.buffer.flush()
        return 0
    state = store.load(ref)
    if as_json:
        sys.stdout.flush()  # bytes that were not UTF-8 stay \udcXX escapes (guardrun.escape)
        sys.stdout.buffer.write(json_bytes(state, indent=2) + b"\n")
        sys.stdout.buffer.flush()
        return 0
    from rich.console import Console

    Console(highlight=False).print(_describe(state), markup=False)
    return 0


def _describe(state: dict[str, Any]) -> str:
    """A short human account of a state; ``--json`` has everything."""
    mem, proc = state.get("memory") or {}, state.get("process") or {}
    conv, restart = state.get("conversation") or {}, state.get("restart") or {}
    git = (state.get("project") or {}).get("git") or {}
    tree, swapped = mem.get("tree_bytes"), mem.get("swapped_bytes")
    split = f", {format_bytes(swapped)} swapped" if isinstance(swapped, int) and swapped else ""
    lines = [
        f"{state.get('id')}  {state.get('reason')}  {state.get('created_at')}",
        f"memory     {format_bytes(tree) if isinstance(tree, int) else '-'}{split} "
        f"({mem.get('metric')}, level {mem.get('level')}, {mem.get('processes')} processes)",
    ]
    for p in mem.get("top") or []:
        if not isinstance(p, dict):
            continue
        rss = p.get("rss")
        lines.append(
            f"           {p.get('pid')!s:>7} "
            f"{format_bytes(rss) if isinstance(rss, int) else '-':>9} {p.get('name') or '?'}"
        )
    lines.append(f"command    {shlex.join(proc.get('argv') or [])}")
    lines.append(f"directory  {proc.get('cwd')}")
    if git:
        lines.append(
            f"git        {git.get('branch') or '(detached)'} @ {str(git.get('head') or '')[:12]}"
            f", {git.get('dirty_count', 0)} changed, "
            f"{git.get('untracked_count', 0)} untracked"
        )
    lines.append(f"agent      {conv.get('agent') or '-'}  session {conv.get('session_id') or '-'}")
    transcript = conv.get("transcript") or {}
    if transcript:
        copied = "copied" if transcript.get("copy") else "not copied"
        lines.append(f"transcript {transcript.get('path')} ({copied})")
    for m in (conv.get("last_messages") or [])[-3:]:
        text = " ".join(str(m.get("text", "")).split())
        lines.append(f"  {m.get('role', '?'):>9}: {clip(text, 100)}")
    if restart.get("resume_argv"):
        lines.append(f"resume     {shlex.join(restart['resume_argv'])}")
    for err in state.get("errors") or []:
        lines.append(f"error      {err}")
    # A state file is a stranger's: every line is shown visibly (an ESC in a cwd, an argv
    # or a process name set with prctl never reaches the terminal raw).
    return "\n".join(visible(line) for line in lines)


def resume_command(state: dict[str, Any]) -> tuple[list[str], str, bool]:
    """(argv, directory, is_resume): the saved resume argv, else the original argv."""
    proc = state.get("process") or {}
    argv = (state.get("restart") or {}).get("resume_argv")
    resumed = bool(argv)
    if not argv:
        argv = proc.get("argv")
    if not argv or not all(isinstance(a, str) for a in argv):
        raise StateNotFound(f"state {state.get('id')} has no command to run")
    return list(argv), str(proc.get("cwd") or "."), resumed


def _resume(store: Store, ref: str, print_only: bool) -> int:
    argv, cwd, resumed = resume_command(store.load(ref))
    if not resumed:
        print("guardrun: no session was saved; running the original command", file=sys.stderr)
    if print_only:
        print(f"cd {shell_word(cwd)} && {' '.join(shell_word(a) for a in argv)}")
        return 0
    try:
        os.chdir(cwd)
    except OSError as err:
        raise StateNotFound(f"the saved directory {cwd} cannot be entered: {err.strerror}") from err
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError as err:
        raise CommandNotFound(f"{argv[0]}: command not found") from err
    except PermissionError as err:
        raise CommandNotExecutable(f"{argv[0]}: permission denied") from err
    raise AssertionError("unreachable")  # execvp returns only by raising


def _prune(store: Store, args: argparse.Namespace, keep: int, max_age: str | float) -> int:
    keep = keep if args.keep is None else args.keep
    if keep < 0:
        raise UsageError(f"--keep {keep}: must be 0 or more")
    raw_age = max_age if args.older_than is None else args.older_than
    try:
        age = parse_duration(raw_age)
    except ValueError as err:
        raise UsageError(f"--older-than: {err}") from None
    removed = retention.prune(store, keep=keep, max_age=age, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for p in removed:
        print(f"{verb} {p}")
    states = sum(1 for p in removed if p.name.endswith(".json.gz"))
    print(f"{verb} {states} state(s), {len(removed) - states} transcript copies")
    logs = retention.prune_runs(store, keep=keep, max_age=age, dry_run=args.dry_run)
    for path in logs:
        print(f"{verb} {path}")
    if logs:
        print(f"{verb} {len(logs)} run file(s): event logs and sample histories")
    return 0
