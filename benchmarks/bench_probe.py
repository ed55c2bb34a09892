"""CPU per poll: guardrun's Linux probe against a plain psutil tree walk.

Run:  .venv/bin/python benchmarks/bench_probe.py [--repeats 9]

For real trees of 1, 10, 50 and 200 sleeping processes (a Python parent that
forks N-1 children), each reading is timed in the same run:

* guardrun: ``guardrun.platform.linux.ProcProbe().sample([root])``, one probe
  kept across polls as the supervisor keeps it (its statm and children fds stay
  open between polls);
* psutil: ``psutil.Process(root).children(recursive=True)`` and ``memory_info()``
  on the root and every descendant, as a guard built on psutil would do.

Cost is CPU time of this process (``time.process_time``, user + system) per
poll: the median over ``--repeats`` batches, after warm-up polls. The goal of
issue 2 is a probe at least 10x cheaper than psutil at 50 processes.

``--swap`` (root) times it with swap in use (``benchmarks/swapped.py``), when the probe
reads ``VmSwap`` for the footprint metric: the sleeping tree's ``statm`` stands still,
so ``status`` is read at every ``rescan_every``-th poll only; the column "every
status" times a poll that reads every process's ``status`` (each process's memory
moved since the last poll: the worst case).
Prints a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrun.platform.linux import ProcProbe  # noqa: E402

SIZES = (1, 10, 50, 200)
GOAL_SIZE = 50
GOAL_RATIO = 10.0
TREE = """
import os, sys, time
for _ in range(int(sys.argv[1]) - 1):
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
sys.stdout.write("ok\\n"); sys.stdout.flush()
time.sleep(600)
"""


def spawn_tree(size: int) -> subprocess.Popen[bytes]:
    """A Python root with ``size - 1`` forked children, all asleep, in its own group."""
    proc = subprocess.Popen(
        [sys.executable, "-c", TREE, str(size)], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    if proc.stdout.readline() != b"ok\n":
        raise RuntimeError("benchmark tree did not start")
    return proc


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the children share the root's process group
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def psutil_walk(root: int) -> int:
    """Bytes of RSS over the tree, the way a psutil-based guard reads it."""
    top = psutil.Process(root)
    total = 0
    for p in [top, *top.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def cpu_per_call(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median CPU seconds per call over ``repeats`` batches of ``calls``."""
    for _ in range(3):
        fn()
    out: list[float] = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        out.append((time.process_time() - t0) / calls)
    return statistics.median(out)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="batches per figure (median)")
    parser.add_argument("--swap", action="store_true", help="with swap in use (root)")
    args = parser.parse_args()
    if args.swap:
        from swapped import swap_in_use

        with swap_in_use() as used:
            print(f"(swap in use: {used >> 20} MiB)")
            return measure(args)
    return measure(args)


def _every_status(probe: ProcProbe, roots: list[int]) -> object:
    """A poll after which every process's statm reads as changed: the next poll reads
    every ``status`` (the worst case for the footprint metric with swap in use)."""
    for entry in probe._entries.values():
        entry.data = b""
    probe._walk_data = [b""] * len(probe._walk_data)
    return probe.sample(roots)


def measure(args: argparse.Namespace) -> int:
    rows: list[tuple[int, float, float, float | None]] = []
    for size in SIZES:
        tree = spawn_tree(size)
        try:
            probe = ProcProbe()
            for _ in range(100):  # the forks finish after the root prints ok
                seen = len(probe.sample([tree.pid]).procs)
                if seen == size:
                    break
                time.sleep(0.05)
            if seen != size:
                raise RuntimeError(f"the probe saw {seen} processes, expected {size}")
            if args.swap and not probe.swapping:
                raise RuntimeError("--swap: the probe does not see swap in use")
            walked = len(psutil.Process(tree.pid).children(recursive=True)) + 1
            if walked != size:
                raise RuntimeError(f"psutil saw {walked} processes, expected {size}")
            # Batches sized for ~0.1-0.3 s of CPU each on this machine.
            roots = [tree.pid]
            ours = cpu_per_call(partial(probe.sample, roots), max(20, 4000 // size), args.repeats)
            theirs = cpu_per_call(partial(psutil_walk, tree.pid), max(5, 400 // size),
                                  args.repeats)  # fmt: skip
            worst = None
            if args.swap:
                calls = max(20, 4000 // size)
                worst = cpu_per_call(partial(_every_status, probe, roots), calls, args.repeats)
            probe.close()
            rows.append((size, ours, theirs, worst))
        finally:
            stop_tree(tree)

    nprocs = sum(1 for n in os.listdir("/proc") if n.isdigit())
    print(
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()}, psutil {psutil.__version__}; "
        f"{nprocs} processes on the machine after the run; "
        f"CPU time per poll, median of {args.repeats} batches"
        + ("; swap in use (VmSwap read)" if args.swap else "; no swap in use")
        + ".\n"
    )
    extra = " every status (swap) |" if args.swap else ""
    print("| tree | guardrun `ProcProbe.sample` | psutil `children(recursive)` + `memory_info` "
          f"| guardrun cheaper by |{extra}")  # fmt: skip
    print("|---:|---:|---:|---:|" + ("---:|" if args.swap else ""))
    for size, ours, theirs, worst in rows:
        label = f"{size} process{'es' if size > 1 else ''}"
        tail = f" {fmt(worst)} |" if worst is not None else ""
        print(f"| {label} | {fmt(ours)} | {fmt(theirs)} | {theirs / ours:.1f}× |{tail}")
    ratio = next(theirs / ours for size, ours, theirs, _ in rows if size == GOAL_SIZE)
    verdict = "PASS" if ratio >= GOAL_RATIO else "FAIL"
    print(f"\nGoal: at least {GOAL_RATIO:.0f}× cheaper than psutil at {GOAL_SIZE} processes: "
          f"{ratio:.1f}× — **{verdict}**")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
