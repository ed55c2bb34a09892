"""guardrun under a real PTY (pexpect): the child sees a terminal as without guardrun."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pexpect
import pytest
from support import child, guardrun, is_alive, wait_for

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
    guard_pid = int(
        subprocess.run(
            ["ps", "-o", "ppid=", "-p", str(roles["parent"][0])], capture_output=True, text=True
        ).stdout
    )
    os.kill(guard_pid, signal.SIGKILL)
    wait_for(lambda: not any(is_alive(pid) for pid in pids), timeout=10)
    p.close(force=True)
