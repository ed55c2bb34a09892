"""The two ways a child is started without a PTY give it the same start.

``posix_spawn`` (no terminal to hand over, guardrun's own directory and PATH: what
scripts, CI and containers run) and fork+exec (a terminal to hand over, or another
directory) must leave the child in the same state: a process group of its own, the
signals guardrun catches or ignores back to their defaults, none blocked, and the same
errors for a command that cannot run. Real processes, real signal state.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrun.errors import CommandNotExecutable, CommandNotFound
from guardrun.supervisor import child as child_mod
from guardrun.supervisor.child import spawn

# The child reads its own state from the kernel: not a Python child, which would set
# its own signals (Python ignores SIGPIPE and SIGXFSZ and catches SIGINT at start).
# /proc/self/stat: pid is field 1, the process group field 5 (after the name in parens).
REPORT = ["grep", "-E", "^(SigBlk|SigIgn):", "/proc/self/status"]  # grep catches SEGV
STAT = ["cat", "/proc/self/stat"]


@pytest.fixture
def hostile_parent() -> Iterator[None]:
    """guardrun's own signal state at a spawn: handlers, ignored signals, a blocked one."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1, signal.SIGHUP)}
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for s, h in saved.items():
            signal.signal(s, h)


def _run(tmp_path: Path, argv: list[str], cwd: str | None) -> str:
    out = tmp_path / "out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    saved = os.dup(1)
    os.dup2(fd, 1)  # the child inherits stdout, as under --no-pty
    try:
        c = spawn(argv, use_pty=False, env=dict(os.environ), cwd=cwd)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(fd)
    _, status = os.waitpid(c.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = out.read_text()
    if argv is REPORT:  # {field: the signals in it}
        rows = (line.split(":\t") for line in text.splitlines())
        found = {k: {n for n in range(1, 65) if int(v, 16) >> (n - 1) & 1} for k, v in rows}
        # glibc's posix_spawn leaves its own two signals (32, 33: thread cancellation,
        # set*id across threads) ignored in the child; it cannot be asked otherwise
        # (sigaddset refuses them), and every glibc program installs its handlers for
        # them at start. Nothing a command uses.
        found["SigIgn"] -= {32, 33}
        return repr(found)
    if argv is STAT:
        fields = text.rpartition(")")[2].split()
        return "own group" if fields[2] == text.split()[0] else f"group {fields[2]}"
    return text


def test_both_ways_start_the_child_alike(
    tmp_path: Path, hostile_parent: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[str] = []
    real = child_mod._posix_spawn
    monkeypatch.setattr(child_mod, "_posix_spawn", lambda *a: spawned.append("x") or real(*a))
    by_spawn = _run(tmp_path, REPORT, None), _run(tmp_path, STAT, None)
    assert spawned == ["x", "x"]  # no terminal, no directory: posix_spawn
    by_fork = _run(tmp_path, REPORT, "/"), _run(tmp_path, STAT, "/")  # a directory: fork
    assert spawned == ["x", "x"]
    assert by_spawn == by_fork
    assert by_spawn[0] == repr({"SigBlk": set(), "SigIgn": set()})  # none blocked, none ignored
    assert by_spawn[1] == "own group"


@pytest.mark.parametrize("cwd", [None, "/"], ids=["posix_spawn", "fork"])
def test_a_command_that_cannot_run_is_the_same_error(tmp_path: Path, cwd: str | None) -> None:
    script = tmp_path / "no-shebang"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    env = dict(os.environ)
    with pytest.raises(CommandNotFound, match="command not found: no-such-command-xyz"):
        spawn(["no-such-command-xyz"], use_pty=False, env=env, cwd=cwd)
    for bad in (script, tmp_path):  # no interpreter line; a directory
        with pytest.raises(CommandNotExecutable, match=str(bad)):
            spawn([str(bad)], use_pty=False, env=env, cwd=cwd)
