"""Sets its own terminal title (as Claude Code does), then sleeps, exits or grows.

titled.py TITLE SECONDS [--code N] [--grow-mb MB]
"""

import argparse
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("title")
p.add_argument("seconds", type=float)
p.add_argument("--code", type=int, default=0)
p.add_argument("--grow-mb", type=int, default=0)
a = p.parse_args()
sys.stdout.write(f"\x1b]0;{a.title}\x07READY\r\n")
sys.stdout.flush()
held = []
deadline = time.monotonic() + a.seconds
while time.monotonic() < deadline:
    if a.grow_mb:
        held.append(b"\x01" * (a.grow_mb << 20))
    time.sleep(0.1)
sys.exit(a.code)
