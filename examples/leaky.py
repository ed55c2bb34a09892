"""A program that leaks memory steadily: the guardrun demo.

    guardrun --warning 100MB --critical 150MB --emergency 250MB -- python examples/leaky.py

It grows by --rate MB per second (default 25) and prints its size, so the
restart is easy to see.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=25.0, help="MB per second")
    args = parser.parse_args()
    hoard: list[bytearray] = []
    start = time.monotonic()
    print(f"leaky: pid {os.getpid()}, leaking {args.rate:g} MB/s", flush=True)
    while True:
        hoard.append(bytearray(os.urandom(1) * int(args.rate * 1_000_000 / 4)))
        time.sleep(0.25)
        size = sum(len(b) for b in hoard) / 1e6
        sys.stdout.write(f"\rleaky: {size:6.0f} MB after {time.monotonic() - start:4.1f}s ")
        sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print()
