"""A tree of three that spans process groups and sessions, each recording SIGTERM.

term_tree.py MARKS
- root: the process guardrun starts (its own group or session, made by guardrun);
- group: a child that moved to a process group of its own (as a shell's pipeline is);
- session: a child that called setsid (as a daemon does), so not in root's group either.
Each appends "ready ROLE PID" to MARKS once its SIGTERM handler is in place, and
"TERM ROLE PID" when SIGTERM arrives, then exits 0 at once. A member that ends by
SIGKILL writes nothing: the file tells SIGTERM (within the grace) from SIGKILL.
"""

import os
import signal
import subprocess
import sys
import time

MEMBER = """
import os, signal, sys, time
role, marks = sys.argv[1], sys.argv[2]
if role == "group":
    os.setpgid(0, 0)
else:
    os.setsid()
def on_term(signum, frame):
    with open(marks, "a") as f:
        f.write(f"TERM {role} {os.getpid()}\\n")
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGHUP, signal.SIG_IGN)  # only SIGTERM may end it early
with open(marks, "a") as f:
    f.write(f"ready {role} {os.getpid()}\\n")
while True:
    time.sleep(3600)
"""


def mark(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(text + "\n")


def main() -> None:
    marks = sys.argv[1]

    def on_term(signum: int, frame: object) -> None:
        mark(marks, f"TERM root {os.getpid()}")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    for role in ("group", "session"):
        subprocess.Popen([sys.executable, "-c", MEMBER, role, marks])
    mark(marks, f"ready root {os.getpid()}")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
