"""Keystroke echo latency through guardrun's relay, against the bare child.

Run:  .venv/bin/python benchmarks/bench_keys.py [--keys 2000] [--rounds 3]

The child is ``sh -c 'stty raw -echo; exec cat'``: each key comes back as soon as
it arrives. It runs under a real PTY made here (``pty.fork``), once bare and once as
``guardrun -- sh -c ...``; this process writes one byte to the PTY master and times
until the same byte is read back (``perf_counter_ns``), one key at a time with 1 ms
between keys (a typist, not a paste). Rounds alternate bare and guardrun; the median
of every key of a contender is reported, and the difference of the medians is what
guardrun adds. The goal of issue 23: at most 0.1 ms added at the median.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 0.1
CHILD = ["sh", "-c", "stty raw -echo; exec cat"]


def run(argv: list[str], keys: int) -> list[float]:
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ["PYTHONPATH"] = str(ROOT)
        os.environ.setdefault("GUARDRUN_NOTIFY_TITLE", "false")
        os.execvp(argv[0], argv)
    try:
        # Ready: a probe key comes back (guardrun has started and set its terminal raw).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            os.write(master, b"r")
            r, _, _ = select.select([master], [], [], 0.2)
            if r and b"r" in os.read(master, 4096):
                break
        time.sleep(0.3)
        while select.select([master], [], [], 0.05)[0]:
            os.read(master, 4096)
        times = []
        for i in range(keys):
            key = bytes([97 + i % 26])
            t0 = time.perf_counter_ns()
            os.write(master, key)
            got = b""
            while key not in got:
                select.select([master], [], [], 5.0)
                got += os.read(master, 4096)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            time.sleep(0.001)
        return times
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            while select.select([master], [], [], 1.0)[0]:
                os.read(master, 4096)
        except OSError:
            pass
        os.waitpid(pid, 0)
        os.close(master)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keys", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    guarded = [sys.executable, "-m", "guardrun", "--", *CHILD]
    bare: list[float] = []
    relayed: list[float] = []
    for _ in range(a.rounds):
        bare += run(CHILD, a.keys)
        relayed += run(guarded, a.keys)
    mb, mg = statistics.median(bare), statistics.median(relayed)
    print(f"bare child       median {mb:.3f} ms  p90 {statistics.quantiles(bare, n=10)[-1]:.3f}")
    print(f"through guardrun median {mg:.3f} ms  p90 {statistics.quantiles(relayed, n=10)[-1]:.3f}")
    added = mg - mb
    verdict = "PASS" if added <= GOAL_MS else "FAIL"
    print(f"added at the median: {added:.3f} ms (goal <= {GOAL_MS} ms): {verdict}")
    return 0 if added <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
