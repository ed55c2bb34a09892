"""A login shell's part in a terminal hangup: session leader with the terminal on fds
0-2, SIGHUP ignored, one job (argv[2:]) in its own process group in the foreground.

When the terminal's other side goes, the kernel sends SIGHUP to the session leader
only (this process, which ignores it); the job is left reading and writing a terminal
that answers EIO. The job's exit status goes to the file argv[1].
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def foreground() -> None:
    os.setpgid(0, 0)
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.tcsetpgrp(0, os.getpgrp())
    signal.signal(signal.SIGTTOU, old)


def main() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    proc = subprocess.Popen(sys.argv[2:], preexec_fn=foreground)  # noqa: PLW1509
    code = proc.wait()
    with open(sys.argv[1], "w") as f:
        f.write(f"{code}\n")


if __name__ == "__main__":
    main()
