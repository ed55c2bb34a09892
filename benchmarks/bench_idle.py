"""Idle CPU of the whole guardrun process, against a psutil poller, over one tree.

Run:  .venv/bin/python benchmarks/bench_idle.py [--seconds 30] [--size 50] [--interval 1s]

guardrun runs ``--no-pty`` over a real tree of ``--size`` sleeping processes (a
Python parent that forks the rest) at its default settings but ``--interval``.
Beside it, in the same run and over the same tree, a psutil poller does what a
psutil-based guard does every interval: ``children(recursive=True)`` and
``memory_info()`` on each process. After a warm-up, the CPU time (user + system, of
the process itself, not its children) of each is read from ``schedstat`` over
``--seconds`` and given per second of wall time. The probe alone (the
``proc`` backend's ``sample``, as ``bench_probe.py`` times it) is given too, so the
rest of guardrun's per-tick work shows.

``--metrics`` turns on ``metrics.textfile`` (a file in the temporary directory), so
the cost of the Prometheus textfile shows against a run without it.

``--swap`` (root) runs it while the machine has swap in use (``benchmarks/swapped.py``:
a swap file and a ballast process pushed into it), so guardrun's probe reads each
process's ``VmSwap`` as the footprint metric needs (issue 24: still at most 1 ms/s).

Goals (issue 9): guardrun at most 1 ms of CPU per second (0.1% of a core), and at
most 0.25x the psutil poller.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrun.platform.linux import ProcProbe  # noqa: E402
from guardrun.platform.linux_facts import direct_children  # noqa: E402
from guardrun.units import parse_duration  # noqa: E402

GOAL_MS_PER_S = 1.0
GOAL_RATIO = 0.25
TREE = """
import os, sys, time
for _ in range(int(sys.argv[1]) - 1):
    if os.fork() == 0:
        time.sleep(3600)
        os._exit(0)
sys.stdout.write("ok\\n"); sys.stdout.flush()
time.sleep(3600)
"""
POLLER = """
import sys, time, psutil
root, interval = int(sys.argv[1]), float(sys.argv[2])
top = psutil.Process(root)
while True:
    total = top.memory_info().rss
    for kid in top.children(recursive=True):
        try:
            total += kid.memory_info().rss
        except psutil.Error:
            pass
    time.sleep(interval)
"""


def cpu_seconds(pid: int) -> float:
    """Time on CPU of every thread of ``pid`` (not its children), in ns resolution: the
    first field of ``/proc/<pid>/task/<tid>/schedstat`` (utime+stime count 10 ms ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--size", type=int, default=50)
    p.add_argument("--interval", default="1s")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--metrics", action="store_true", help="with metrics.textfile set")
    p.add_argument("--swap", action="store_true", help="with swap in use (root)")
    a = p.parse_args()
    if a.swap:
        from swapped import swap_in_use

        with swap_in_use() as used:
            print(f"(swap in use: {used >> 20} MiB)")
            return measure(a)
    return measure(a)


def measure(a: argparse.Namespace) -> int:
    interval = parse_duration(a.interval)
    with tempfile.TemporaryDirectory(prefix="guardrun-bench-idle-") as tmp:
        env = {**os.environ, "XDG_STATE_HOME": tmp, "XDG_CONFIG_HOME": tmp}
        # This checkout's guardrun, not whichever one the interpreter has installed.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        if a.metrics:
            env["GUARDRUN_METRICS_TEXTFILE"] = str(Path(tmp) / "guardrun.prom")
        guard = subprocess.Popen(
            [sys.executable, "-m", "guardrun", "--no-pty", "--no-config", "--interval",
             a.interval, "--", sys.executable, "-c", TREE, str(a.size)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, cwd=tmp,
        )  # fmt: skip
        poller = None
        try:
            assert guard.stdout is not None
            assert guard.stdout.readline() == b"ok\n"
            root = next(pid for pid in direct_children(guard.pid) if pid != guard.pid)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the tree is whole
                if len(ProcProbe().sample([root]).procs) >= a.size:
                    break
                time.sleep(0.1)
            # guardrun's sentinel is its child too; the tree's root is the one with kids.
            root = max(direct_children(guard.pid), key=lambda c: len(direct_children(c)))
            poller = subprocess.Popen([sys.executable, "-c", POLLER, str(root), str(interval)])
            time.sleep(a.warmup)
            probe = ProcProbe()
            if a.swap and not probe.swapping:
                raise SystemExit("--swap: the probe does not see swap in use")
            probe.sample([root])
            c0 = time.process_time()
            for _ in range(200):
                probe.sample([root])
            probe_ms = (time.process_time() - c0) / 200 * 1e3
            probe.close()
            t0, g0, q0 = time.monotonic(), cpu_seconds(guard.pid), cpu_seconds(poller.pid)
            time.sleep(a.seconds)
            t1, g1, q1 = time.monotonic(), cpu_seconds(guard.pid), cpu_seconds(poller.pid)
            if a.metrics:
                assert (Path(tmp) / "guardrun.prom").exists(), "no metrics file written"
        finally:
            for proc in (poller, guard):
                if proc is not None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)
    wall = t1 - t0
    g_ms, q_ms = (g1 - g0) / wall * 1e3, (q1 - q0) / wall * 1e3
    ratio = g_ms / q_ms if q_ms else float("inf")
    metrics = ("; metrics.textfile on" if a.metrics else "") + ("; swap in use" if a.swap else "")
    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()}; tree of {a.size} processes; interval "
        f"{a.interval}{metrics}; {wall:.0f} s measured after {a.warmup:.0f} s warm-up (CPU "
        f"time from schedstat); load average {os.getloadavg()[0]:.2f}.\n"
    )
    print("| process | CPU per second of wall time | share of a core |")
    print("|---|---:|---:|")
    print(f"| guardrun (whole process) | {g_ms:.2f} ms | {g_ms / 10:.3f}% |")
    print(f"| psutil poller | {q_ms:.2f} ms | {q_ms / 10:.3f}% |")
    print(f"| guardrun's probe alone, per poll (×1/interval) | {probe_ms / interval:.3f} ms | |")
    ok = g_ms <= GOAL_MS_PER_S and ratio <= GOAL_RATIO
    print(
        f"\nGoal: at most {GOAL_MS_PER_S:g} ms/s and at most {GOAL_RATIO:g}x the psutil poller: "
        f"{g_ms:.2f} ms/s, {ratio:.2f}x — **{'PASS' if ok else 'FAIL'}**"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
