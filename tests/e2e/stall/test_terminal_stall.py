"""A terminal that stops reading never blinds the watch.

guardrun runs in a real PTY (pexpect) that the test does not read: the kernel's
buffer fills, and a guardrun whose writes to its terminal blocked would stop its whole
loop there. Meanwhile a helper of the agent (as an MCP server would, its output
elsewhere) leaks. guardrun must go on sampling, stop and restart the tree at
emergency, answer SIGUSR1 and SIGTERM, and, once the terminal reads again, give it
every byte the agent wrote, in order, followed by what guardrun had to say.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pexpect
from support import PY, guardrun, is_alive, levels, wait_for

# The agent: its first run forks a helper that leaks 50 MB/s (its stdio closed: its
# output goes elsewhere) and then prints a burst of BURST bytes to its terminal; every
# run then waits.
AGENT = """
import os, sys, time
starts = sys.argv[1]
with open(starts, "a") as f:
    f.write(f"{os.getpid()}\\n")
if len(open(starts).read().split()) == 1:
    if os.fork() == 0:
        for fd in (0, 1, 2):
            os.close(fd)
        with open(starts + ".helper", "w") as f:
            f.write(str(os.getpid()))
        hoard = []
        while len(hoard) < 60:
            hoard.append(b"x" * 10_000_000)
            time.sleep(0.2)
        time.sleep(600)
        os._exit(0)
    out = sys.stdout.buffer
    for i in range(int(sys.argv[2]) // 65536):
        out.write(bytes([65 + i % 26]) * 65535 + b"\\n")
    out.flush()
time.sleep(600)
"""
BURST = 12 << 20  # more than guardrun holds for a stalled terminal (4 MiB) and the PTYs'
QUIET_TERMINAL = {"GUARDRUN_NOTIFY_TITLE": "false", "GUARDRUN_NOTIFY_BELL": "false"}


def spawn(*args: str) -> pexpect.spawn:
    cmd = guardrun(*args)
    env = {**os.environ, "TERM": "xterm-256color", **QUIET_TERMINAL}
    return pexpect.spawn(cmd[0], cmd[1:], timeout=30, env=env)


def events() -> list[dict[str, object]]:
    """Every event of every run in this test's state directory."""
    root = Path(os.environ["XDG_STATE_HOME"]) / "guardrun" / "projects"
    found: list[dict[str, object]] = []
    for log in sorted(root.glob("*/runs/*.jsonl")):
        if log.name.endswith(".history.jsonl"):
            continue
        for line in log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                pass  # a line being written
    return found


def kinds(kind: str, **match: object) -> list[dict[str, object]]:
    return [
        e for e in events() if e["event"] == kind and all(e.get(k) == v for k, v in match.items())
    ]


def read_all(p: pexpect.spawn, until: float) -> bytes:
    """Everything guardrun writes to its terminal until EOF (or ``until``)."""
    got = bytearray()
    while time.monotonic() < until:
        try:
            got += p.read_nonblocking(1 << 20, timeout=0.5)
        except pexpect.TIMEOUT:
            continue
        except pexpect.EOF:
            break
    return bytes(got)


def common_prefix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # bisect on equal prefixes: 12 MB compared in a few steps
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def end(p: pexpect.spawn) -> None:
    if p.isalive():
        p.kill(signal.SIGKILL)
    p.close(force=True)


def test_a_terminal_nobody_reads_does_not_stop_the_emergency_restart(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    p = spawn(*levels("100MB", "150MB", "200MB"), "--interval", "200ms", "--grace", "2s",
              "--", PY, "-c", AGENT, str(starts), str(BURST))  # fmt: skip
    try:
        helper = wait_for(lambda: (tmp_path / "starts.helper").exists() and int(
            (tmp_path / "starts.helper").read_text() or 0), timeout=15)  # fmt: skip
        assert isinstance(helper, int)
        # Nobody reads: the helper passes 200 MB within ~4 s; guardrun stops the tree
        # (the helper too) and starts the agent again, all while its terminal is full.
        wait_for(lambda: len(starts.read_text().split()) >= 2, timeout=20)
        assert not is_alive(helper)
        assert kinds("restart_requested", reason="emergency"), events()
        # The stall goes on (the first run's burst is still unread): SIGUSR1 is answered.
        p.kill(signal.SIGUSR1)
        wait_for(lambda: len(starts.read_text().split()) >= 3, timeout=15)
        assert kinds("restart_requested", reason="signal")
        # The terminal reads again: what the agent wrote before it was stopped, in order
        # and whole (at least what guardrun held: 4 MiB), then guardrun's lines.
        p.kill(signal.SIGTERM)
        out = read_all(p, time.monotonic() + 30)
        lines = [b"%c" % (65 + i % 26) * 65535 for i in range(BURST // 65536)]
        burst = b"\r\n".join(lines) + b"\r\n"  # the agent's PTY adds the CR
        k = common_prefix(out, burst)
        assert k >= 4 << 20, (k, out[k - 100 : k + 100])
        said = out[k:]
        assert said.lstrip(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ").startswith(b"\x1b"), said[:200]
        assert b"emergency" in said and b"SIGUSR1" in said, said[-2000:]
        p.expect(pexpect.EOF)
    finally:
        end(p)


def test_sigterm_is_answered_while_the_terminal_is_full(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    p = spawn("--interval", "200ms", "--grace", "2s", "--", PY, "-c",
              AGENT.replace("hoard.append(", "0 and hoard.append("),  # no leak here
              str(starts), str(BURST))  # fmt: skip
    try:
        wait_for(lambda: (tmp_path / "starts.helper").exists(), timeout=15)
        time.sleep(1.5)  # the burst fills the PTYs and guardrun's buffer
        assert kinds("started")
        sent = time.monotonic()
        p.kill(signal.SIGTERM)
        wait_for(lambda: not p.isalive(), timeout=20)
        # The stop (grace 2 s) and the bounded wait for the terminal at exit (3 s).
        assert time.monotonic() - sent < 12
        assert kinds("stopped")
    finally:
        end(p)


# Puts its terminal in raw mode (no CR added), writes SIZE bytes of a seeded pattern,
# and exits.
WRITER = """
import random, sys, tty
tty.setraw(1)
data = random.Random(23).randbytes(int(sys.argv[1]))
out = sys.stdout.buffer
for i in range(0, len(data), 1 << 16):
    out.write(data[i:i + (1 << 16)])
out.flush()
"""


def test_50_mb_reach_the_terminal_byte_exact_after_it_stalled() -> None:
    size = 50 << 20
    p = spawn("-q", "--interval", "200ms", "--", PY, "-c", WRITER, str(size))
    try:
        time.sleep(2.0)  # nobody reads: the writer, then guardrun, wait on full buffers
        assert p.isalive()
        # guardrun still answers while its terminal is full: SIGUSR2 captures a state.
        p.kill(signal.SIGUSR2)
        wait_for(lambda: kinds("state_captured", reason="manual"), timeout=15)
        out = read_all(p, time.monotonic() + 60)
    finally:
        end(p)
    expected = random.Random(23).randbytes(size)
    assert len(out) == size, len(out)
    assert out == expected


def test_an_emergency_stop_during_the_stall_is_logged_at_once_and_exits_75(
    tmp_path: Path,
) -> None:
    """Restarts exhausted (none allowed) with ``--on-exhausted stop``: the tree is stopped
    at emergency while the terminal is full, the event log says why as it happens
    (``restart_refused``, then ``degraded``), and guardrun exits 75 (after its bounded
    wait for the terminal at exit)."""
    starts = tmp_path / "starts"
    p = spawn(*levels("100MB", "150MB", "200MB"), "--interval", "200ms", "--grace", "2s",
              "--max-restarts", "0", "--on-exhausted", "stop",
              "--", PY, "-c", AGENT, str(starts), str(BURST))  # fmt: skip
    try:
        helper = wait_for(lambda: (tmp_path / "starts.helper").exists() and int(
            (tmp_path / "starts.helper").read_text() or 0), timeout=15)  # fmt: skip
        assert isinstance(helper, int)
        wait_for(lambda: kinds("restart_refused", reason="emergency"), timeout=25)
        wait_for(lambda: not is_alive(helper), timeout=10)
        assert kinds("degraded")
        wait_for(lambda: not p.isalive(), timeout=15)
        assert p.exitstatus == 75
        assert kinds("stopped", exit_code=75)
        assert len(starts.read_text().split()) == 1
    finally:
        end(p)
