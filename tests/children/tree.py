"""A small parent whose grandchild is big, and optionally a double-forked daemon.

tree.py PIDFILE [--grand-mb N] [--daemon] [--exit-after S]
Writes "role pid" lines to PIDFILE: parent, child, grandchild, daemon.
"""

import argparse
import os
import subprocess
import sys
import time

HOLD = "import os,sys,time; b=bytearray(b'x'*int(float(sys.argv[1])*1e6)); time.sleep(3600)"


def record(path: str, role: str, pid: int) -> None:
    with open(path, "a") as f:
        f.write(f"{role} {pid}\n")


def daemonize(path: str) -> None:
    """Classic double fork into a new session: the daemon's parent exits at once."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    record(path, "daemon", os.getpid())
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    time.sleep(3600)
    os._exit(0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("pidfile")
    p.add_argument("--grand-mb", type=float, default=0.0)
    p.add_argument("--daemon", action="store_true")
    p.add_argument("--exit-after", type=float, default=0.0)
    a = p.parse_args()
    record(a.pidfile, "parent", os.getpid())
    if a.grand_mb:
        # child: a sleeping python that starts the big grandchild
        code = (
            "import subprocess,sys,time,os;"
            f"g=subprocess.Popen([sys.executable,'-c',{HOLD!r},'{a.grand_mb}']);"
            f"open({a.pidfile!r},'a').write(f'child {{os.getpid()}}\\ngrandchild {{g.pid}}\\n');"
            "time.sleep(3600)"
        )
        subprocess.Popen([sys.executable, "-c", code])
    if a.daemon:
        daemonize(a.pidfile)
    os.write(1, b"TREE READY\n")
    if a.exit_after:
        time.sleep(a.exit_after)
        sys.exit(0)
    time.sleep(3600)


if __name__ == "__main__":
    main()
