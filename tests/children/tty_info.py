"""Reports what it sees of its terminal, echoes lines, and reports terminal signals.

Prints ISATTY (0/1/2), SIZE, TERM, CTTY (leader of the foreground group of its
controlling terminal), JOBS (its group is not orphaned: the parent is in the same
session and another group, so job-control stops work), PPID; RESIZED on SIGWINCH;
GOT <SIG> for SIGINT, SIGQUIT, SIGTSTP.
A line "exit N" exits with N.
"""

import fcntl
import os
import signal
import struct
import sys
import termios


def size() -> str:
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    return f"{rows}x{cols}"


def say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def main() -> None:
    say(f"ISATTY {int(os.isatty(0))}{int(os.isatty(1))}{int(os.isatty(2))}")
    say(f"SIZE {size()}")
    say(f"TERM {os.environ.get('TERM')}")
    ctty = os.getpgrp() == os.getpid() and os.tcgetpgrp(0) == os.getpgrp()
    say(f"CTTY {int(ctty)}")
    parent = os.getppid()
    jobs = os.getsid(parent) == os.getsid(0) and os.getpgid(parent) != os.getpgrp()
    say(f"JOBS {int(jobs)}")
    say(f"PPID {os.getppid()}")
    signal.signal(signal.SIGWINCH, lambda *_: say(f"RESIZED {size()}"))
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, lambda s, _f: say(f"GOT {signal.Signals(s).name}"))
    say("READY")
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("exit "):
            sys.exit(int(line.split()[1]))
        say(f"ECHO {line}")


if __name__ == "__main__":
    main()
