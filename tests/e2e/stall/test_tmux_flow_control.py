"""Ctrl-S / Ctrl-Q in a real tmux session.

guardrun's terminal (the tmux pane) is in raw mode, so Ctrl-S is a key: it reaches the
agent's PTY, whose line discipline (IXON, on by default) stops the agent's output
until Ctrl-Q, exactly as without guardrun. While the output is frozen the agent's
writes wait, and guardrun must go on sampling: a helper that leaks meanwhile is
stopped at emergency and the agent restarted; after Ctrl-Q output flows again.
(tmux itself never stops reading a pane for a slow client, so the stalled-reader case
that blocked guardrun's old relay is tested with a PTY nobody reads:
test_terminal_stall.py.)
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import PY, guardrun, levels, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")

# Prints "tick N" every 50 ms (N also in a file). Its first run forks a helper (output
# elsewhere) that leaks 50 MB/s once the file GO exists.
AGENT = """
import os, sys, time
d = sys.argv[1]
with open(os.path.join(d, "starts"), "a") as f:
    f.write(f"{os.getpid()}\\n")
if len(open(os.path.join(d, "starts")).read().split()) == 1 and os.fork() == 0:
    for fd in (0, 1, 2):
        os.close(fd)
    while not os.path.exists(os.path.join(d, "go")):
        time.sleep(0.05)
    hoard = []
    while len(hoard) < 40:
        hoard.append(b"x" * 10_000_000)
        time.sleep(0.2)
    time.sleep(600)
    os._exit(0)
n = 0
while True:
    n += 1
    sys.stdout.write(f"tick {n}\\r\\n")
    sys.stdout.flush()
    with open(os.path.join(d, "ticks"), "w") as f:
        f.write(str(n))
    time.sleep(0.05)
"""


class Tmux:
    def __init__(self, sock: Path) -> None:
        self.sock = str(sock)

    def __call__(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                             timeout=10, check=True)  # fmt: skip
        return out.stdout


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path / "tmux.sock")
    yield t
    subprocess.run(["tmux", "-S", t.sock, "kill-server"], capture_output=True)


def ticks(d: Path) -> int:
    try:
        return int((d / "ticks").read_text() or 0)
    except (OSError, ValueError):
        return 0


def test_ctrl_s_freezes_the_agent_not_the_watch_and_ctrl_q_resumes(
    tmux: Tmux, tmp_path: Path
) -> None:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in os.environ.items()
                   if k.startswith(("XDG_", "GUARDRUN_", "PYTHON")))  # fmt: skip
    cmd = guardrun(*levels("100MB", "150MB", "200MB"), "--interval", "200ms", "--grace", "1s",
                   "--", PY, "-c", AGENT, str(tmp_path))  # fmt: skip
    tmux("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30",
         f"env {env} TERM=screen {shlex.join(cmd)}; sleep 600")  # fmt: skip
    wait_for(lambda: ticks(tmp_path) > 5, timeout=20)
    tmux("send-keys", "C-s")
    time.sleep(0.5)
    frozen = ticks(tmp_path)
    time.sleep(1.0)
    assert ticks(tmp_path) == frozen  # the agent waits on its own frozen terminal
    # Frozen, the helper leaks: guardrun stops the tree at emergency and starts the
    # agent again (a new PTY: not frozen).
    (tmp_path / "go").touch()
    wait_for(lambda: len((tmp_path / "starts").read_text().split()) >= 2, timeout=20)
    wait_for(lambda: "tick" in tmux("capture-pane", "-p"), timeout=10)
    tmux("send-keys", "C-q")
    before = ticks(tmp_path)
    wait_for(lambda: ticks(tmp_path) > before + 5, timeout=10)  # the new run's output flows
    screen = tmux("capture-pane", "-p")
    assert "emergency" in screen or "restarting" in screen, screen
