"""A leaking child: appends its pid to --starts, then grows and holds memory.

--to MB: grow to this size then stop growing (quiet: no output after READY).
--rate MB/s: growth rate (0: all at once). --chatty: keep printing while holding.
--ignore-term: ignore SIGTERM (and SIGHUP).
"""

import argparse
import os
import signal
import sys
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--starts", required=True)
    p.add_argument("--to", type=float, default=200.0)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--chatty", action="store_true")
    p.add_argument("--ignore-term", action="store_true")
    a = p.parse_args()
    if a.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with open(a.starts, "a") as f:
        f.write(f"{os.getpid()} {' '.join(sys.argv[1:])}\n")
    hoard = []
    step = 10.0
    total = 0.0
    while total < a.to:
        chunk = min(step, a.to - total)
        hoard.append(bytearray(b"x" * int(chunk * 1_000_000)))
        total += chunk
        if a.rate > 0:
            time.sleep(chunk / a.rate)
    os.write(1, f"READY {total:.0f}MB\n".encode())
    while True:
        time.sleep(0.2)
        if a.chatty:
            os.write(1, b".")


if __name__ == "__main__":
    main()
