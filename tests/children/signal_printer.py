"""Records every signal it gets (as tini's and dumb-init's tests do): appends the name to
argv[1], one per line, and prints READY. Exits 0 on SIGTERM."""

import os
import signal
import sys
import time

out = sys.argv[1]
NAMES = (
    "SIGQUIT",
    "SIGALRM",
    "SIGVTALRM",
    "SIGPROF",
    "SIGXCPU",
    "SIGPWR",
    "SIGURG",
    "SIGCONT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGHUP",
    "SIGINT",
)


def record(sig: int, frame: object) -> None:
    with open(out, "a") as f:
        f.write(signal.Signals(sig).name + "\n")


for name in NAMES:
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), record)
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # at once: a second SIGTERM may follow
print("READY", flush=True)
while True:
    time.sleep(0.1)
