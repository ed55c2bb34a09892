"""Holds memory, like an agent whose leak a restart wins back: --first MB at its first
start (no line in --starts yet), --later MB at every later one. Appends its pid to
--starts, prints READY, then stays quiet, or prints a line every 0.2 s (--chatty)."""

import argparse
import os
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--starts", required=True)
    p.add_argument("--first", type=float, default=100.0)
    p.add_argument("--later", type=float, default=10.0)
    p.add_argument("--chatty", action="store_true")
    a = p.parse_args()
    try:
        with open(a.starts) as f:
            before = sum(1 for line in f if line.strip())
    except OSError:
        before = 0
    with open(a.starts, "a") as f:
        f.write(f"{os.getpid()} {' '.join(sys.argv[1:])}\n")
    held = b"\x01" * int((a.first if before == 0 else a.later) * 1_000_000)  # resident
    os.write(1, f"READY {len(held) // 1_000_000}MB\n".encode())
    while True:
        time.sleep(0.2)
        if a.chatty:
            os.write(1, b"working\r\n")


if __name__ == "__main__":
    main()
