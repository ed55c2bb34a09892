"""The sentinel: when guardrun itself is SIGKILLed, the tree still ends (a daemon in a
session of its own included), and nothing outside the tree is hit, not even a process
that got the old child's pid (and so its process group id) since."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import Guarded, child, is_alive, read_roles, starts, wait_for

# Forks a daemon into a session of its own, records both pids, then sleeps.
DAEMON = """
import os, sys, time
roles = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(roles, "a") as f:
            f.write(f"daemon {os.getpid()}\\n")
        time.sleep(600)
        os._exit(0)
    os._exit(0)
with open(roles, "a") as f:
    f.write(f"child {os.getpid()}\\n")
time.sleep(600)
"""


def test_a_sigkilled_guardrun_still_ends_the_tree(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    with Guarded("--no-pty", "--interval", "200ms", "--", sys.executable, "-c", DAEMON,
                 str(roles)) as g:  # fmt: skip
        found = wait_for(lambda: (r := read_roles(roles)) and len(r) == 2 and r, timeout=10)
        assert isinstance(found, dict)
        time.sleep(0.6)  # a sample or two: the sentinel knows the daemon
        g.proc.kill()
        g.proc.communicate(timeout=10)
        pids = found["child"] + found["daemon"]
        wait_for(lambda: not any(is_alive(p) for p in pids), timeout=10)


def _process_with_pid(pid: int, marker: Path) -> subprocess.Popen[bytes] | None:
    """A group leader that gets ``pid``, forced through ns_last_pid (root only); None when
    another process took it first."""
    try:
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        proc = subprocess.Popen(
            [sys.executable, "-c",
             "import os, signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *_: (open(sys.argv[1], 'w').write('hit'),"
             " sys.exit(0)))\ntime.sleep(60)", str(marker)],
            start_new_session=True,
        )  # fmt: skip
    except OSError:
        return None
    if proc.pid != pid:
        proc.kill()
        proc.wait()
        return None
    return proc


@pytest.mark.skipif(os.geteuid() != 0, reason="forcing a pid needs root (ns_last_pid)")
def test_the_sentinel_never_signals_a_recycled_process_group(tmp_path: Path) -> None:
    """guardrun is SIGKILLed in a cooldown (its child gone); a new process has taken the old
    child's pid and leads a group with that id: the sentinel must leave it alone."""
    log = tmp_path / "starts"
    crash = child("crash.py", "--starts", str(log), "--code", "1", "--after", "2.2")
    with Guarded("--no-pty", "--cooldown", "30s", "--interval", "200ms", "--", *crash,
                 cwd=tmp_path) as g:  # fmt: skip
        # The first crash restart is immediate; the second waits the 30 s cooldown.
        wait_for(lambda: len(starts(log)) == 2, timeout=20)
        second = starts(log)[1]
        wait_for(lambda: not is_alive(second), timeout=10)
        time.sleep(0.3)  # in the cooldown now
        marker = tmp_path / "hit"
        victim = None
        for _ in range(20):
            victim = _process_with_pid(second, marker)
            if victim is not None:
                break
        if victim is None:
            pytest.skip(f"could not get pid {second} back for the test")
        try:
            g.proc.kill()
            g.proc.communicate(timeout=10)
            time.sleep(4.0)  # the sentinel's grace is 3 s
            assert victim.poll() is None and not marker.exists()
        finally:
            victim.kill()
            victim.wait()


SENTINEL_SHAPE = """
import os, sys
from guardrun.supervisor import sentinel as mod
if sys.argv[1] == "fork":
    sys.executable = ""  # no interpreter to start: the fallback
s = mod.Sentinel(b"GUARDRUN_TREE=shape")
pid = s.pid
import time
for _ in range(100):  # a fork sets itself up after the fork, and a spawn's arguments
    fds = os.listdir(f"/proc/{pid}/fd")  # show once its exec is done: wait for both
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    execd = len(cmdline) > 1 and cmdline != open("/proc/self/cmdline", "rb").read().split(b"\\0")
    if os.getsid(pid) == pid and len(fds) == 5 and (execd or sys.argv[1] == "fork"):
        break
    time.sleep(0.02)
env = open(f"/proc/{pid}/environ", "rb").read()
print(s.spawned, os.getsid(pid) == pid, cmdline[1:3] == [b"-I", b"-S"], len(fds), env == b"")
if sys.argv[1] == "replace":
    os.kill(pid, 9)
    time.sleep(0.2)  # gone, not yet reaped: update() reaps it
    s.update(os.getpid(), [os.getpid()])  # finds it gone: a fork takes its place
    for _ in range(100):
        if os.getsid(s.pid) == s.pid:
            break
        time.sleep(0.02)
    print(s.pid != pid, s.spawned, os.getsid(s.pid) == s.pid)
s.done()
"""


@pytest.mark.parametrize("how", ["spawn", "fork", "replace"])
def test_the_sentinel_is_a_program_of_its_own_or_a_fork_where_it_cannot_be(how: str) -> None:
    """Spawned: python -I -S in a session of its own, an empty environment (no marker:
    never a member of the tree), stdio and the pipe its only descriptors. Without an
    interpreter to start it is forked; one that died is replaced by a fork at the next
    update of the tree."""
    out = subprocess.run([sys.executable, "-c", SENTINEL_SHAPE, how], capture_output=True,
                         text=True, timeout=30, check=True).stdout.split()  # fmt: skip
    if how == "fork":
        assert out == ["False", "True", "False", "5", "False"]  # guardrun's argv and environment
    else:  # 5: stdio, the pipe, the heartbeat page (the dead man's switch)
        assert out[:5] == ["True", "True", "True", "5", "True"]
    if how == "replace":
        assert out[5:] == ["True", "False", "True"]


# The run in a child interpreter, every Sentinel made counted (the real one, wrapped).
COUNTED = """
import sys
from guardrun.supervisor import sentinel
made = []
class Counted(sentinel.Sentinel):
    def __init__(self, marker=b""):
        made.append(marker)
        super().__init__(marker)
sentinel.Sentinel = Counted
from guardrun.cli import main
sys.argv = ["guardrun", "--no-pty", "--no-config", "--interval", "100ms", "--", *sys.argv[1:]]
code = main()
print(code, len(made))
"""


def test_the_sentinel_starts_when_the_loop_first_waits_and_not_for_a_command_gone_by_then(
    tmp_path: Path,
) -> None:
    """Its start (an interpreter of its own) falls in the loop's first wait instead of
    beside guardrun's own start, which it slowed; a command that has ended before the
    loop waits needs none. One that runs gets it, once, and it ends that tree if guardrun
    is SIGKILLed (the tests above)."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])

    def run(*command: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", COUNTED, *command], capture_output=True,
                              text=True, timeout=60, env=env)  # fmt: skip
        return done.stdout.split()

    # Whether ``true`` has ended before the loop's first wait is the scheduler's to say:
    # of three runs at least one goes without (every one had a sentinel made at start).
    assert ["0", "0"] in [run("true") for _ in range(3)]
    assert run("sleep", "0.5") == ["0", "1"]
