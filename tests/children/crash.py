"""Runs a while, then ends as told: --code N, --signal N, or --oom-message (prints a
runtime's out-of-memory line and aborts, as V8 does). Appends its pid to --starts.
--hog MB: allocate that much first (to be OOM-killed inside a small cgroup)."""

import argparse
import os
import signal
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--starts", required=True)
p.add_argument("--after", type=float, default=2.3)
p.add_argument("--code", type=int, default=None)
p.add_argument("--signal", type=int, default=None)
p.add_argument("--oom-message", action="store_true")
p.add_argument("--hog", type=float, default=0.0)
a = p.parse_args()
with open(a.starts, "a") as f:
    f.write(f"{os.getpid()}\n")
print("UP", flush=True)
time.sleep(a.after)
if a.hog:
    held = [bytearray(b"\x01" * (1 << 20)) for _ in range(int(a.hog))]
if a.oom_message:
    sys.stderr.write(
        "\n<--- Last few GCs --->\nFATAL ERROR: Reached heap limit Allocation failed"
        " - JavaScript heap out of memory\n"
    )
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGABRT)
if a.signal:
    os.kill(os.getpid(), a.signal)
sys.exit(a.code if a.code is not None else 0)
