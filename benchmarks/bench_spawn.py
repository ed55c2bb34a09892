"""What the PTY monitor (job control, issue 15) costs: spawn time and memory.

Run:  .venv/bin/python benchmarks/bench_spawn.py [--runs 101] [--hold 30]

* **Spawn until exec**: ``child.spawn(use_pty=True)`` of ``sleep`` (returns once the
  command has exec'd), against the design it replaced, inlined here as the baseline:
  one fork, the child a session leader on the PTY (``setsid``, ``TIOCSCTTY``), exec.
  Both from a process holding a guardrun-sized heap (~25 MB), interleaved.
* **The monitor's memory**: a real ``guardrun -- sleep`` in a PTY; after ``--hold``
  seconds, the monitor's RSS, PSS and private bytes from ``smaps_rollup``, next to
  guardrun's own. The monitor is a fork: what it shares with guardrun is counted once
  in PSS.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import statistics
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guardrun.supervisor.child import spawn  # noqa: E402


def spawn_leader(argv: list[str]) -> tuple[int, int]:
    """The previous design: the command leads the PTY's session itself."""
    master, slave = os.openpty()
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execvp(argv[0], argv)
    os.close(w)
    os.close(slave)
    while os.read(r, 512):
        pass
    os.close(r)
    return pid, master


def spawn_times(runs: int) -> tuple[float, float]:
    heap = [bytearray(1000) for _ in range(25_000)]  # a guardrun-sized heap to fork
    argv = ["sleep", "30"]
    old: list[float] = []
    new: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        pid, master = spawn_leader(argv)
        old.append(time.perf_counter() - t)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(master)
        t = time.perf_counter()
        c = spawn(argv, use_pty=True, env=dict(os.environ))
        new.append(time.perf_counter() - t)
        os.killpg(c.pid, signal.SIGKILL)
        while c.poll() is None:
            time.sleep(0.001)
        c.close()
    del heap
    return statistics.median(old) * 1000, statistics.median(new) * 1000


def rollup(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        out[key] = int(value.split()[0]) * 1024
    return out


def monitor_memory(hold: float) -> tuple[dict[str, int], dict[str, int]]:
    import pexpect

    cmd = [sys.executable, "-m", "guardrun", "--no-config", "--interval", "200ms"]
    p = pexpect.spawn(cmd[0], [*cmd[1:], "--", "sleep", "600"], cwd=str(ROOT), timeout=30)
    try:
        time.sleep(hold)
        children = [
            int(x)
            for f in Path(f"/proc/{p.pid}/task").glob("*/children")
            for x in f.read_text().split()
        ]
        monitor = next(c for c in children if os.getsid(c) == c)
        return rollup(p.pid), rollup(monitor)
    finally:
        p.terminate(force=True)
        p.close()


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=101)
    ap.add_argument("--hold", type=float, default=30.0)
    a = ap.parse_args()
    old, new = spawn_times(a.runs)
    print(f"2 CPUs; median of {a.runs} interleaved spawns each; load {os.getloadavg()[0]:.2f}\n")
    print("| spawn under a PTY, until the command has exec'd | median |")
    print("|---|---:|")
    print(f"| the command leads the PTY's session (before issue 15) | {old:.2f} ms |")
    print(f"| a monitor leads it, the command in a group of its own | {new:.2f} ms |")
    print(f"| difference | +{new - old:.2f} ms |\n")
    guard, mon = monitor_memory(a.hold)
    print(f"memory after {a.hold:g} s of `guardrun -- sleep` at 200 ms (smaps_rollup):\n")
    print("| process | RSS | PSS | private (clean + dirty) |")
    print("|---|---:|---:|---:|")
    for name, r in (("guardrun", guard), ("monitor", mon)):
        private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        print(f"| {name} | {mb(r['Rss'])} | {mb(r['Pss'])} | {mb(private)} |")


if __name__ == "__main__":
    main()
