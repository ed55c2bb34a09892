"""A stand-in for a live guardrun run: writes its live file, records SIGUSR1/SIGUSR2.

argv: STATE_DIR MARKER RUN_ID. Each SIGUSR1 appends "restart" to MARKER, each
SIGUSR2 "capture". Prints "ready" once the live file exists; SIGTERM removes it.
"""

import os
import signal
import sys
from pathlib import Path

from guardrun.observe.live import LiveFile

state_dir, marker, run_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


def record(word: str) -> None:
    with open(marker, "a") as f:
        f.write(word + "\n")


signal.signal(signal.SIGUSR1, lambda *_: record("restart"))
signal.signal(signal.SIGUSR2, lambda *_: record("capture"))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

live = LiveFile(state_dir, os.getpid())
info = {
    "argv": ["claude", "--model", "x"],
    "cwd": os.getcwd(),
    "run_id": run_id,
    "child_pid": os.getpid() + 100000,
    "memory_bytes": 1_500_000_000,
    "level": "warning",
    "mode": "normal",
    "restarts": 1,
    "breaker": "closed",
    "next_restart_at": None,
}
assert live.update(info, force=True), live.error
print("ready", flush=True)
try:
    while True:
        signal.pause()
finally:
    live.remove()
