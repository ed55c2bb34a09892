"""Cost per poll of each memory backend, and of PSS confirmation at 1 GiB.

Run:  .venv/bin/python benchmarks/bench_backends.py [--repeats 9]

Real trees of 10 and 50 processes (a Python root over ``sh`` processes with
``sleep`` children, and bare ``sleep`` ones) are sampled by the ``proc``,
``psutil`` and ``ps`` backends, each kept across polls as the supervisor keeps
it. Cost is CPU time (user + system of this process and of reaped children,
so the ``ps`` processes count) per poll: the median over ``--repeats`` batches
of polls, after warm-up polls. Ratios are against psutil in the same run.
The PSS rows sample one process holding 1 GiB it has written.
Prints a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrun.platform import make_probe  # noqa: E402
from guardrun.platform.smaps import PssConfirmer  # noqa: E402

TREE = """
import subprocess, sys, time
n = int(sys.argv[1]) - 1
kids = []
while n >= 3:
    kids.append(subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600 & wait"]))
    n -= 3
kids += [subprocess.Popen(["sleep", "600"]) for _ in range(n)]
sys.stdout.write("ok\\n"); sys.stdout.flush()
time.sleep(600)
"""
HOG = """
import sys, time
buf = b"\\x01" * (1 << 30)
sys.stdout.write("ok\\n"); sys.stdout.flush()
time.sleep(600)
"""


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn: Callable[[], object], polls: int, repeats: int) -> tuple[float, float]:
    """(median CPU seconds per call, median wall seconds per call)."""
    for _ in range(3):
        fn()
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(repeats):
        c0, w0 = _cpu(), time.perf_counter()
        for _ in range(polls):
            fn()
        cpu.append((_cpu() - c0) / polls)
        wall.append((time.perf_counter() - w0) / polls)
    return statistics.median(cpu), statistics.median(wall)


def spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline() != b"ok\n":
        raise RuntimeError("benchmark child did not start")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="batches per figure (median)")
    args = parser.parse_args()
    polls = {"proc": 200, "psutil": 40, "ps": 10}
    rows: list[tuple[str, str, float, float, float]] = []

    for size in (10, 50):
        tree = spawn(TREE, str(size))
        try:
            time.sleep(0.3)  # let the sh processes start their sleeps
            results: dict[str, tuple[float, float]] = {}
            for name in ("proc", "psutil", "ps"):
                probe = make_probe(name)
                n = len(probe.sample([tree.pid]).procs)
                if n != size:
                    raise RuntimeError(f"{name} saw {n} processes, expected {size}")
                root = tree.pid
                results[name] = measure(partial(probe.sample, [root]), polls[name], args.repeats)
                probe.close()
            base = results["psutil"][0]
            for name, (cpu, wall) in results.items():
                rows.append((f"`{name}` sample", f"{size} processes", cpu, wall, cpu / base))
        finally:
            stop(tree)

    hog = spawn(HOG)
    try:
        import psutil

        probe = make_probe("proc")
        confirmer = PssConfirmer()
        sample = probe.sample([hog.pid])
        rss_cpu, rss_wall = measure(lambda: probe.sample([hog.pid]), 200, args.repeats)
        pss_cpu, pss_wall = measure(lambda: confirmer.with_pss(sample), 20, args.repeats)
        proc = psutil.Process(hog.pid)
        full_cpu, full_wall = measure(proc.memory_full_info, 20, args.repeats)
        probe.close()
        label = "1 process, 1 GiB written"
        rows.append(("`proc` sample (RSS only)", label, rss_cpu, rss_wall, rss_cpu / full_cpu))
        rows.append(("+ PSS/USS confirmation (`smaps_rollup`)", label, pss_cpu, pss_wall,
                     pss_cpu / full_cpu))  # fmt: skip
        rows.append(("psutil `memory_full_info()`", label, full_cpu, full_wall, 1.0))
    finally:
        stop(hog)

    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; median of {args.repeats} batches.\n"
    )
    print("| reading | tree | CPU per poll | wall per poll | CPU vs psutil |")
    print("|---|---|---:|---:|---:|")
    for what, tree_desc, cpu, wall, ratio in rows:
        print(f"| {what} | {tree_desc} | {fmt(cpu)} | {fmt(wall)} | {ratio:.2f}× |")
    print("\nRatios: sample rows against psutil's tree sample of the same size; PSS rows against")
    print("psutil's `memory_full_info()` on the same process (it reads the same smaps data).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
