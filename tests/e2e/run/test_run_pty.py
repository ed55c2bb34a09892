"""guardrun under a real PTY (pexpect): the child sees a terminal as without guardrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pexpect
import pytest
from support import CHILDREN, child, guardrun, is_alive, wait_for

DIMS = (33, 101)


def spawn(*args: str, dims: tuple[int, int] = DIMS, timeout: float = 10) -> pexpect.spawn:
    cmd = guardrun(*args)
    return pexpect.spawn(
        cmd[0],
        cmd[1:],
        dimensions=dims,
        timeout=timeout,
        env={**os.environ, "TERM": "xterm-256color"},
    )


def test_child_sees_a_terminal_with_callers_size_and_term() -> None:
    p = spawn("--", *child("tty_info.py"))
    p.expect("ISATTY (\\d+)")
    assert p.match.group(1) == b"111"
    p.expect("SIZE (\\d+x\\d+)")
    assert p.match.group(1) == b"33x101"
    p.expect("TERM (\\S+)")
    assert p.match.group(1) == b"xterm-256color"
    p.expect("CTTY (\\d)")
    assert p.match.group(1) == b"1"
    p.expect("JOBS (\\d)")  # the monitor leads the session: Ctrl-Z can stop the group
    assert p.match.group(1) == b"1"
    p.expect("READY")
    p.sendline("hello there")
    p.expect("ECHO hello there")
    p.sendline("exit 3")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 3


def test_resize_reaches_the_child() -> None:
    p = spawn("--", *child("tty_info.py"))
    p.expect("READY")
    p.setwinsize(50, 120)
    p.expect("RESIZED 50x120")
    p.setwinsize(20, 70)
    p.expect("RESIZED 20x70")
    p.sendline("exit 0")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0


def test_ctrl_keys_reach_the_child_as_keys() -> None:
    p = spawn("--", *child("tty_info.py"))
    p.expect("READY")
    p.send("\x03")
    p.expect("GOT SIGINT")
    p.send("\x1c")
    p.expect("GOT SIGQUIT")
    p.send("\x1a")
    p.expect("GOT SIGTSTP")
    p.sendline("exit 0")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0


def test_ctrl_c_that_ends_the_child_is_its_exit_not_a_crash() -> None:
    p = spawn("--", "python3", "-c", "import time; print('UP', flush=True); time.sleep(30)")
    p.expect("UP")
    time.sleep(2.2)  # past min_uptime: a crash would be restarted
    p.send("\x03")
    p.expect(pexpect.EOF, timeout=5)
    p.close()
    assert p.exitstatus == 130 or p.signalstatus is None and p.exitstatus == 130
    assert b"restarting" not in (p.before or b"")


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_exit_codes_through_the_pty(code: int) -> None:
    p = spawn("--", "python3", "-c", f"import sys; sys.exit({code})")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == code


def test_death_by_signal_is_128_plus_n() -> None:
    p = spawn("--", "python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 128 + signal.SIGSEGV


def _stty_around(inner: str) -> pexpect.spawn:
    cmd = " ".join(guardrun()) + " " + inner
    script = f"stty -g; echo BEFORE-DONE; {cmd}; echo RC=$?; stty -g; echo AFTER-DONE"
    return pexpect.spawn(
        "bash",
        ["--norc", "--noprofile", "-c", script],
        dimensions=DIMS,
        timeout=15,
        env={**os.environ, "TERM": "xterm"},
    )


def _settings(p: pexpect.spawn) -> tuple[str, str]:
    p.expect(r"([0-9a-f:]{40,})\r\nBEFORE-DONE")
    before = p.match.group(1).decode()
    return before, ""


def test_terminal_restored_after_normal_exit() -> None:
    p = _stty_around(f"-- {' '.join(child('tty_info.py'))}")
    before, _ = _settings(p)
    p.expect("READY")
    p.sendline("exit 5")
    p.expect(r"RC=5\r\n([0-9a-f:]{40,})\r\nAFTER-DONE")
    assert p.match.group(1).decode() == before
    p.expect(pexpect.EOF)


def test_terminal_restored_after_sigterm_to_guardrun() -> None:
    p = _stty_around(f"-- {' '.join(child('tty_info.py'))}")
    before, _ = _settings(p)
    p.expect(r"PPID (\d+)")
    guard_pid = int(p.match.group(1))
    p.expect(r"PID|READY")
    os.kill(guard_pid, signal.SIGTERM)
    p.expect(r"RC=(\d+)\r\n([0-9a-f:]{40,})\r\nAFTER-DONE")
    assert int(p.match.group(1)) == 128 + signal.SIGTERM
    assert p.match.group(2).decode() == before
    p.expect(pexpect.EOF)


def test_command_not_found_and_not_executable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = spawn("--", "no-such-command-xyz")
    p.expect("command not found: no-such-command-xyz")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 127
    script = tmp_path / "not-exec.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    p = spawn("--", str(script))
    p.expect("not executable")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 126


def test_guardrun_sigkilled_leaves_nothing_running(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pidfile = tmp_path / "pids"
    p = spawn("--", *child("tree.py", str(pidfile), "--grand-mb", "5", "--daemon"))
    p.expect("TREE READY")
    from support import read_roles

    roles = wait_for(lambda: (r := read_roles(pidfile)) and len(r) == 4 and r)
    assert isinstance(roles, dict)
    pids = [pid for group in roles.values() for pid in group]
    assert all(is_alive(pid) for pid in pids)

    def ppid(pid: int) -> int:
        return int(
            subprocess.run(
                ["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True
            ).stdout
        )

    monitor = ppid(roles["parent"][0])  # the PTY session's leader, forked from guardrun
    assert os.getsid(monitor) == monitor
    guard_pid = ppid(monitor)
    os.kill(guard_pid, signal.SIGKILL)
    wait_for(lambda: not any(is_alive(pid) for pid in pids), timeout=10)
    p.close(force=True)


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """``argv`` in a session of its own whose controlling terminal is a new PTY; the
    master side is returned, for the test to read and then close (the hangup)."""
    import fcntl
    import termios

    master, slave = os.openpty()

    def ctty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        preexec_fn=ctty, env=env, close_fds=True,
    )  # fmt: skip  # noqa: PLW1509
    os.close(slave)
    return proc, master


def _read_until(fd: int, marker: bytes, timeout: float = 15.0) -> bytes:
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, seen[-300:]
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 65536)
    return seen


# The child: says UP, then sleeps (or, "trap", leaves on SIGHUP with its own code 0, or,
# "deaf", ignores SIGHUP and is killed at the end of --grace); it prints on SIGHUP into a
# terminal that is gone, as agents do.
HANGUP_CHILD = {
    "plain": "import time; print('UP', flush=True); time.sleep(60)",
    "trap": (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGHUP, lambda *a: (print('bye'), sys.exit(0)))\n"
        "print('UP', flush=True); time.sleep(60)"
    ),
    "deaf": (
        "import signal, time\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "print('UP', flush=True)\n"
        "while True: print('still here', flush=True); time.sleep(0.2)"
    ),
}


@pytest.mark.parametrize("child_kind", sorted(HANGUP_CHILD))
@pytest.mark.parametrize("leader", ["guardrun", "shell"])
def test_a_terminal_hangup_stops_saves_and_exits_129(
    tmp_path,
    leader: str,
    child_kind: str,  # type: ignore[no-untyped-def]
) -> None:
    """The terminal's other side (a window, ssh, here the PTY master) goes away. As the
    session leader guardrun gets SIGHUP; as a shell's job it gets none, only EIO from the
    terminal. Either way: the child is stopped, its state saved, and guardrun exits 129,
    never 70 (an internal error, from writing its own lines to the dead terminal)."""
    state = tmp_path / "state"
    status = tmp_path / "status"
    log = tmp_path / "guardrun.log"
    args = guardrun("--state-dir", str(state), "--grace", "1s", "--log-file", str(log), "-v",
                    "--", "python3", "-c", HANGUP_CHILD[child_kind])  # fmt: skip
    if leader == "shell":
        args = [sys.executable, str(CHILDREN / "session_leader.py"), str(status), *args]
    env = {**os.environ, "TERM": "xterm-256color"}
    proc, master = _on_a_terminal(args, env)
    try:
        _read_until(master, b"UP")
        time.sleep(0.3)
        os.close(master)  # the hangup
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    code = int(status.read_text()) if leader == "shell" else proc.returncode
    assert code == 129, log.read_text()[-2000:]
    text = log.read_text()
    assert "the terminal hung up: stopping python3" in text
    assert "internal error" not in text
    states = list((state / "projects").glob("*/states/*-stop-*.json.gz"))
    assert len(states) == 1, text[-2000:]
