"""guardrun as a container's entrypoint: PID 1 of its own PID namespace, for real
(``unshare --pid --fork --mount-proc``, root only). Like tini: orphans that exit are
reaped (no zombie stays), SIGTERM from outside the namespace ends the whole tree within
the grace, and the command's exit code comes out of guardrun.

PID 1 gets only the signals it has a handler for (the kernel drops the rest, even
SIGTERM, when they are sent from inside its namespace, and all but SIGKILL and SIGSTOP
from outside), so these tests also check that guardrun's handlers are in place."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import PY, child, is_alive, wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="a PID namespace needs root and unshare(1)",
)
GRACE = 2.0


def pid1(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    """``unshare`` running guardrun as PID 1 of a new PID namespace over ``argv``."""
    env = {**os.environ, "GUARDRUN_STATE_DIR": str(tmp_path / "state")}
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--", PY, "-m", "guardrun",
           "--no-pty", "--no-config", "-v", "--grace", f"{GRACE:g}s", "--", *argv]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def marks(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            word, *rest = line.split()
            out[word] = rest
    return out


def guardrun_pid(unshare: subprocess.Popen[str]) -> int:
    """guardrun's pid as this (the outer) namespace sees it: unshare's only child."""

    def found() -> int | None:
        kids = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
        return int(kids[0]) if kids else None

    pid = wait_for(found, timeout=10)
    assert isinstance(pid, int)
    return pid


def ns_pid(pid: int) -> int:
    """``pid``'s number inside its own PID namespace (the last of NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise AssertionError("no NSpid")


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                kids = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo += [int(k) for k in kids]
                out += [int(k) for k in kids]
        except OSError:
            continue
    return out


def zombies(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            data = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        if data[data.rfind(b")") + 2 :].split()[0] == b"Z":
            found.append(pid)
    return found


def test_pid1_reaps_orphans_and_passes_the_exit_code_through(tmp_path: Path) -> None:
    log = tmp_path / "marks"
    p = pid1(tmp_path, *child("pid1.py", str(log), "exit", "7"))
    try:
        outer = guardrun_pid(p)
        out, err = p.communicate(timeout=60)
    finally:
        if p.returncode is None:
            p.kill()
            p.communicate()
    m = marks(log)
    assert m["root"][1] == "1", m  # the command's parent is PID 1: guardrun
    assert "reaped" in m and "zombie" not in m, (m, err)
    assert p.returncode == 7, err
    assert not is_alive(outer)


def test_sigterm_from_outside_ends_the_tree_within_the_grace(tmp_path: Path) -> None:
    log = tmp_path / "marks"
    p = pid1(tmp_path, *child("pid1.py", str(log), "hold"))
    try:
        outer = guardrun_pid(p)
        assert ns_pid(outer) == 1
        wait_for(lambda: "stubborn" in marks(log), timeout=20)
        m = marks(log)
        assert m["root"][1] == "1" and "reaped" in m, m
        tree = descendants(outer)
        assert len(tree) >= 3  # the command, the stubborn orphan, guardrun's sentinel
        assert zombies(tree) == []  # the first orphan was reaped, not left a zombie
        started = time.monotonic()
        os.kill(outer, signal.SIGTERM)  # PID 1 gets it only with a handler in place
        out, err = p.communicate(timeout=GRACE + 20)
        took = time.monotonic() - started
    finally:
        if p.returncode is None:
            p.kill()
            p.communicate()
    assert took < GRACE + 5, err
    assert "received SIGTERM" in err and "SIGKILL" in err, err  # guardrun's own escalation
    assert p.returncode == 128 + signal.SIGTERM, err  # the command's own end, passed on
    assert [pid for pid in tree if is_alive(pid)] == []
