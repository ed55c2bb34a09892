"""The command under a guardrun that is PID 1 of a PID namespace (tests/e2e/run/test_pid1.py).

pid1.py MARKS exit CODE   leave an orphan that exits at once, see whether it is reaped
                          (its pid gone, not a zombie), then exit CODE
pid1.py MARKS hold        also leave an orphan that ignores SIGTERM, then sleep; SIGTERM
                          ends this process by its default action

Lines appended to MARKS: "root PID PPID" (PPID 1: guardrun is init), "orphan PID",
"reaped PID" or "zombie PID" (an orphan still a zombie after 5 s), "stubborn PID".
"""

import os
import signal
import sys
import time


def mark(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(text + "\n")


def orphan(ignore_term: bool) -> int:
    """Double-fork: the grandchild's parent exits, so init (or the subreaper) adopts it."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        grandchild = os.fork()
        if grandchild == 0:
            os.close(r)
            if ignore_term:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                os.write(w, b"x")
                while True:
                    time.sleep(3600)
            os.write(w, b"x")
            os._exit(0)
        os.write(w, str(grandchild).encode().rjust(12))
        os._exit(0)
    os.close(w)
    os.waitpid(middle, 0)
    data = b""
    while len(data) < 13:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    return int(data.replace(b"x", b"").strip())


def state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return "gone"
    return data[data.rfind(b")") + 2 :].split()[0].decode()


def main() -> None:
    marks, mode = sys.argv[1], sys.argv[2]
    mark(marks, f"root {os.getpid()} {os.getppid()}")
    pid = orphan(ignore_term=False)
    mark(marks, f"orphan {pid}")
    deadline = time.monotonic() + 5
    while state(pid) != "gone" and time.monotonic() < deadline:
        time.sleep(0.02)
    mark(marks, f"{'reaped' if state(pid) == 'gone' else 'zombie'} {pid}")
    if mode == "exit":
        sys.exit(int(sys.argv[3]))
    mark(marks, f"stubborn {orphan(ignore_term=True)}")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
