"""guardrun running a real agent CLI in a PTY, as a user would (tests only).

A restart is asked for with SIGUSR1 (``--cooldown 100ms``); what the test checks is what a
user sees: the command line of guardrun's new child (from /proc, exactly as exec'd), its
screen, and the state guardrun saved. Scripts installed by npm and pip start through their
``#!`` line, so the child's cmdline is ``<interpreter> <script> <args>``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pexpect
import pytest

from support.claude import Screen, spawn, wait_until

WAIT = 60.0  # a loaded 2-core machine; every wait is on an event, so this is only a ceiling


class Run(NamedTuple):
    guard: pexpect.spawn
    screen: Screen
    pid: int  # the agent's pid (guardrun's child)
    args: list[str]  # the agent's arguments, after the script


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in path.read_text().split()]
        except (OSError, ValueError):
            pass
    return found


def agents_of(guard_pid: int) -> list[int]:
    """The processes guardrun runs the command as: its children with inherited stdio;
    under a PTY the children of its monitor, the child of guardrun that leads the PTY's
    session (the command's group then has a parent in its session: Ctrl-Z works)."""
    found: list[int] = []
    for pid in children_of(guard_pid):
        try:
            monitor = os.getsid(pid) == pid and cmdline(pid) == cmdline(guard_pid)
        except OSError:
            continue
        found += children_of(pid) if monitor else [pid]
    return found


def tree_of(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children_of(current)
    return out


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0")[:-1]]


def agent_child(
    guard_pid: int, script: Path, other_than: int = 0, screen: Screen | None = None
) -> tuple[int, list[str]]:
    """guardrun's child running ``script`` (not ``other_than``): its pid and arguments.

    ``screen`` is read meanwhile: an agent drawing a spinner fills the PTY, and a guardrun
    blocked writing to a full terminal acts on no signal.
    """

    def find() -> tuple[int, list[str]] | None:
        if screen is not None:
            screen.drain(0.05)
        for pid in agents_of(guard_pid):
            argv = cmdline(pid)
            if pid != other_than and str(script) in argv[:2]:
                return pid, argv[argv.index(str(script)) + 1 :]
        return None

    found = wait_until(find, timeout=WAIT)
    now = {pid: cmdline(pid) for pid in agents_of(guard_pid)}
    assert found, f"no {script.name} child of guardrun {guard_pid} but {other_than}: {now}"
    return found  # type: ignore[no-any-return]


@pytest.fixture
def spawned(reaper: list[int]) -> Iterator[list[pexpect.spawn]]:
    """guardrun runs to end after the test, with every process of their trees."""
    runs: list[pexpect.spawn] = []
    yield runs
    for run in runs:
        if run.isalive():
            reaper.extend(tree_of(run.pid)[1:])
            run.terminate(force=True)
        run.close()


def start(
    argv: Sequence[str], cwd: Path, env: dict[str, str], spawned: list[pexpect.spawn],
    ready: str,
) -> Run:  # fmt: skip
    guard_argv = [sys.executable, "-m", "guardrun", "--no-config", "--cooldown", "100ms", "--"]
    guard, screen = spawn([*guard_argv, *argv], cwd, env)
    spawned.append(guard)
    pid, args = agent_child(guard.pid, Path(argv[0]), screen=screen)
    screen.wait_for(ready, timeout=WAIT)
    return Run(guard, screen, pid, args)


def restart(run: Run, script: Path) -> Run:
    """SIGUSR1 to guardrun: the run with its new child."""
    os.kill(run.guard.pid, signal.SIGUSR1)
    pid, args = agent_child(run.guard.pid, script, other_than=run.pid, screen=run.screen)
    return Run(run.guard, run.screen, pid, args)


def states(env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """Every state saved for ``cwd``'s project, oldest first."""
    listed = subprocess.run(
        [sys.executable, "-m", "guardrun", "state", "list", "--json"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=WAIT,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    out = []
    for row in rows:
        shown = subprocess.run(
            [sys.executable, "-m", "guardrun", "state", "show", row["id"], "--json"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=WAIT,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        out.append(json.loads(shown.stdout))
    return sorted(out, key=lambda s: str(s["created_at"]))


def state_of(env: dict[str, str], cwd: Path, pid: int) -> dict[str, Any]:
    """The state saved while ``pid`` was the agent (captured before its restart)."""
    found = [s for s in states(env, cwd) if s["process"]["pid"] == pid]
    assert found, f"no state for pid {pid}"
    return found[-1]


def stays_alive(run: Run, seconds: float) -> bool:
    """Whether the agent is still guardrun's child after ``seconds`` (a refused resume exits
    at once: Gemini 42 in ~3 s, Codex 1 in ~0.6 s, Claude 1 in ~1 s)."""
    run.screen.drain(seconds)
    return run.pid in agents_of(run.guard.pid)
