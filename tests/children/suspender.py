"""A full-screen agent's Ctrl-Z, as Claude Code 2.1.197 does it: in raw mode the key is a
byte (0x1a); the program puts the terminal back and sends SIGTSTP to its own process
group (``kill(0, SIGTSTP)``), and on SIGCONT enters raw mode again and redraws.

Prints READY (pid), SUSPENDING before each stop and RESUMED after it; each line typed
(Enter) is printed as ``LINE <text>`` and appended to the file ``argv[1]``; the line
``q`` exits 0. ``--daemon FILE MB``: first start a daemon in a session of its own (as
an MCP server may be) that waits for FILE to exist, then allocates MB megabytes and
sleeps; its pid is written to FILE + ".pid".
"""

from __future__ import annotations

import os
import signal
import sys
import termios
import time
import tty


def say(text: str) -> None:
    os.write(1, (text + "\r\n").encode())


def daemon(trigger: str, mb: int) -> None:
    first = os.fork()
    if first:
        os.waitpid(first, 0)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    with open(trigger + ".pid", "w") as f:
        f.write(str(os.getpid()))
    while not os.path.exists(trigger):
        time.sleep(0.05)
    hoard = [bytearray(1 << 20) for _ in range(mb)]
    for block in hoard:
        block[::4096] = b"x" * len(block[::4096])
    while True:
        time.sleep(1)


def main() -> None:
    lines_file = sys.argv[1]
    if "--daemon" in sys.argv:
        i = sys.argv.index("--daemon")
        daemon(sys.argv[i + 1], int(sys.argv[i + 2]))
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    say(f"READY {os.getpid()}")
    line = b""
    try:
        while True:
            key = os.read(0, 1)
            if not key:
                return
            if key == b"\x1a":
                say("SUSPENDING")
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
                os.kill(0, signal.SIGTSTP)  # returns once continued
                tty.setraw(0)
                say("RESUMED")
            elif key in (b"\r", b"\n"):
                text = line.decode(errors="replace")
                if text == "q":
                    return
                with open(lines_file, "a") as f:
                    f.write(text + "\n")
                say(f"LINE {text}")
                line = b""
            else:
                line += key
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    main()
