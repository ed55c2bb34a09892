"""Job control as a person at a shell sees it: Ctrl-Z suspends the agent to the shell,
``fg`` brings it back, with guardrun in between.

Every test runs an interactive bash (job control on) in a real PTY and types into it.
The children are real: ``suspender.py`` does what Claude Code does on Ctrl-Z in raw mode
(puts the terminal back and sends SIGTSTP to its own group), ``cat`` is stopped by the
terminal's own Ctrl-Z (cooked mode, ISIG). The real Claude Code CLI is in
``test_e2e_claude.py``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pexpect
import pytest
from support import child, guardrun, is_alive, wait_for
from support.claude import child_env

from guardrun.observe.events import read_events

PROMPT = "PROMPT$ "
STOPPED = r"Stopped"


def shell(tmp_path: Path, **env: str) -> pexpect.spawn:
    """An interactive bash with job control, its prompt ``PROMPT$ ``."""
    environ = child_env({"PS1": PROMPT, "HOME": str(tmp_path), "PROMPT_COMMAND": "", **env})
    p = pexpect.spawn(
        "bash",
        ["--norc", "--noprofile", "-i"],
        env=environ,
        cwd=str(tmp_path),
        dimensions=(30, 100),
        timeout=30,
    )
    p.expect_exact(PROMPT)
    return p


def run_line(state: Path, *args: str) -> str:
    return shlex.join(guardrun("--no-config", "--state-dir", str(state), *args))


def parent_of(pid: int) -> int:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    return int(data[data.rfind(b")") + 2 :].split()[1])


def guardrun_of(agent: int) -> int:
    """The guardrun running ``agent``: its parent, or under a PTY its monitor's parent."""
    parent = parent_of(agent)
    return parent_of(parent) if os.getsid(parent) == parent else parent


def events(state: Path) -> list[dict[str, object]]:
    return [e for log in state.glob("projects/*/runs/*.jsonl") for e in read_events(log)]


def finish(p: pexpect.spawn) -> None:
    p.sendline("exit")
    p.expect(pexpect.EOF)
    p.close()


POP_TITLE = b"\x1b[23;0t"  # the caller's title back (notify.py)


def suspend_and_back(p: pexpect.spawn, lines: Path, text: str) -> None:
    """Ctrl-Z: the shell gets its title back, says the job stopped and prompts; ``fg``:
    the agent redraws, guardrun's title is back and a typed line reaches it."""
    p.expect(re.escape(b"\x1b]0;guardrun"))  # a sample has shown guardrun's title
    p.sendcontrol("z")
    p.expect("SUSPENDING")
    p.expect(STOPPED)
    assert POP_TITLE in p.before  # put back before the shell's "Stopped"
    p.expect_exact(PROMPT)
    p.sendline("fg")
    p.expect("RESUMED")
    p.send(text + "\r")
    p.expect(f"LINE {text}")
    assert text in lines.read_text().splitlines()


def test_ctrl_z_stops_the_job_and_fg_brings_the_agent_back(tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    state = tmp_path / "state"
    p = shell(tmp_path)
    p.sendline(run_line(state, "--", *child("suspender.py", str(lines))))
    p.expect(r"READY (\d+)")
    agent = int(p.match.group(1))
    suspend_and_back(p, lines, "first")
    suspend_and_back(p, lines, "second")  # again: nothing was left half-done
    kinds = [e["event"] for e in events(state)]
    assert kinds.count("child_stopped") == 2 and kinds.count("child_continued") >= 2
    assert is_alive(agent)
    p.send("q\r")
    p.expect_exact(PROMPT)
    p.sendline("echo RC=$?")
    p.expect("RC=0")
    finish(p)


def test_ctrl_z_works_after_a_restart(tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    p = shell(tmp_path)
    p.sendline(run_line(tmp_path / "state", "--", *child("suspender.py", str(lines))))
    p.expect(r"READY (\d+)")
    old = int(p.match.group(1))
    os.kill(guardrun_of(old), signal.SIGUSR1)
    p.expect(r"READY (\d+)")
    new = int(p.match.group(1))
    assert new != old and not is_alive(old)
    suspend_and_back(p, lines, "after-restart")
    p.send("q\r")
    p.expect_exact(PROMPT)
    finish(p)


@pytest.mark.parametrize("mode", [(), ("--no-pty",)], ids=["pty", "no-pty"])
def test_a_cooked_mode_child_is_stopped_by_the_terminal_and_continued_by_fg(
    tmp_path: Path, mode: tuple[str, ...]
) -> None:
    """``cat``: Ctrl-Z is the terminal's (ISIG): under a PTY the PTY's line discipline
    sends SIGTSTP to cat's group; with ``--no-pty`` cat's group has the caller's terminal
    and the kernel stops it there. Either way the shell says Stopped and ``fg`` works."""
    p = shell(tmp_path)
    p.sendline(run_line(tmp_path / "state", *mode, "--", "cat"))
    time.sleep(0.5)
    p.sendline("one")
    p.expect("one\r\n.*one")  # the terminal's echo, then cat's
    p.sendcontrol("z")
    p.expect(STOPPED)
    p.expect_exact(PROMPT)
    p.sendline("fg")
    p.sendline("two")
    p.expect("two\r\n.*two")
    p.sendcontrol("d")
    p.expect_exact(PROMPT)
    p.sendline("echo RC=$?")
    p.expect("RC=0")
    finish(p)


def test_sigtstp_to_guardrun_stops_the_agent_and_the_job(tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    p = shell(tmp_path)
    p.sendline(run_line(tmp_path / "state", "--", *child("suspender.py", str(lines))))
    p.expect(r"READY (\d+)")
    agent = int(p.match.group(1))
    os.kill(guardrun_of(agent), signal.SIGTSTP)  # a process manager's "pause"
    p.expect(STOPPED)
    p.expect_exact(PROMPT)
    state = Path(f"/proc/{agent}/stat").read_bytes()
    assert state[state.rfind(b")") + 2 :][:1] == b"T"  # the agent is stopped too
    p.sendline("fg")
    wait_for(lambda: Path(f"/proc/{agent}/stat").read_bytes().split(b") ")[1][:1] != b"T")
    p.send("typed\r")
    p.expect("LINE typed")
    p.send("q\r")
    p.expect_exact(PROMPT)
    finish(p)


def test_memory_is_watched_while_the_job_is_stopped(tmp_path: Path) -> None:
    """A daemon the agent started in a session of its own keeps running (and leaking)
    while the job is stopped: guardrun's watcher sees emergency, guardrun saves the state
    and stops the tree from the background, and the restart waits for ``fg``."""
    lines, trigger, state = tmp_path / "lines", tmp_path / "leak-now", tmp_path / "state"
    p = shell(tmp_path)
    opts = ("--warning", "60MB", "--critical", "70MB", "--emergency", "80MB")
    argv = child("suspender.py", str(lines), "--daemon", str(trigger), "100")
    p.sendline(run_line(state, "--interval", "200ms", *opts, "--", *argv))
    p.expect(r"READY (\d+)")
    agent = int(p.match.group(1))
    pidfile = Path(f"{trigger}.pid")
    daemon = int(str(wait_for(lambda: pidfile.exists() and pidfile.read_text())))
    p.sendcontrol("z")
    p.expect(STOPPED)
    p.expect_exact(PROMPT)
    trigger.touch()  # the daemon leaks 100 MB while guardrun is stopped
    wait_for(lambda: any(e.get("reason") == "emergency" for e in events(state)), timeout=20)
    wait_for(lambda: not is_alive(daemon) and not is_alive(agent), timeout=20)
    assert list(state.glob("projects/*/states/*-emergency-*.json.gz"))
    p.sendline("jobs")
    p.expect(STOPPED)  # stopped again: waiting for fg to start the agent
    p.expect_exact(PROMPT)
    p.sendline("fg")
    p.expect(r"READY (\d+)")
    assert int(p.match.group(1)) != agent
    p.send("q\r")
    p.expect_exact(PROMPT)
    finish(p)


def test_with_no_job_control_a_stop_is_undone_and_sigstop_is_watched(tmp_path: Path) -> None:
    """guardrun as a session leader (a tmux pane's command, a container's PID 1): its group
    is orphaned and nobody could ``fg`` it. Ctrl-Z does what it does to plain programs
    there, nothing; a SIGSTOP (someone's ``kill -STOP``) is left alone, never counted as
    idle or a crash, while memory is still watched and emergency still acts."""
    lines, trigger, state = tmp_path / "lines", tmp_path / "leak-now", tmp_path / "state"
    opts = ("--warning", "60MB", "--critical", "70MB", "--emergency", "80MB")
    argv = child("suspender.py", str(lines), "--daemon", str(trigger), "100")
    cmd = guardrun("--no-config", "--state-dir", str(state), "--interval", "200ms", *opts)
    cmd += ["--", *argv]
    env = {**child_env({}), "GUARDRUN_RESTART_IDLE": "1s", "GUARDRUN_RESTART_IDLE_QUIET": "0.2s"}
    p = pexpect.spawn(cmd[0], cmd[1:], env=env, dimensions=(30, 100), timeout=30)
    p.expect(r"READY (\d+)")
    agent = int(p.match.group(1))
    p.sendcontrol("z")
    p.expect("SUSPENDING")
    p.expect("RESUMED")  # continued at once, as the kernel discards a stop of such a group
    p.send("still-here\r")
    p.expect("LINE still-here")
    os.kill(p.pid, signal.SIGTSTP)  # discarded, as the kernel discards it for such a group
    p.send("still-here-2\r")
    p.expect("LINE still-here-2")
    assert sum(e["event"] == "child_stopped" for e in events(state)) == 1  # Ctrl-Z's only
    os.kill(agent, signal.SIGSTOP)
    wait_for(lambda: any(e["event"] == "child_stopped" for e in events(state)))
    shown = subprocess.run(
        guardrun("status", "--json"),
        env={**child_env({}), "GUARDRUN_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    (run,) = json.loads(shown.stdout)
    assert run["stopped"] == "SIGSTOP" and run["child_pid"] == agent
    time.sleep(2.0)  # idle far longer than restart.idle: a stopped agent is not idle
    assert is_alive(agent)
    assert not [e for e in events(state) if e["event"] == "restart_requested"]
    trigger.touch()
    wait_for(lambda: any(e.get("reason") == "emergency" for e in events(state)), timeout=20)
    p.expect(r"READY (\d+)")  # restarted at once: nobody is waiting for fg here
    assert int(p.match.group(1)) != agent
    p.send("q\r")
    p.expect(pexpect.EOF)
    p.close()


FORWARDED = ["SIGQUIT", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGPWR", "SIGURG", "SIGCONT"]


def test_under_a_pty_every_signal_guardrun_has_no_use_for_reaches_the_child(
    tmp_path: Path,
) -> None:
    """The same as the ``--no-pty`` test in test_run_lifecycle.py, through the monitor: each
    signal reaches the child's group, guardrun stays up, and a signal sent to the child's
    parent (the monitor) is guardrun's (SIGUSR2 saves a state)."""
    got, state = tmp_path / "got", tmp_path / "state"
    cmd = guardrun("--no-config", "--state-dir", str(state), "--")
    cmd += child("signal_printer.py", str(got))
    p = pexpect.spawn(cmd[0], cmd[1:], env=child_env({}), dimensions=(30, 100), timeout=30)
    p.expect("READY")
    started = wait_for(lambda: [e for e in events(state) if e["event"] == "started"])
    agent_pid = int(started[0]["child_pid"])  # type: ignore[index]
    guard = guardrun_of(agent_pid)
    assert guard == p.pid
    for name in FORWARDED:
        os.kill(guard, getattr(signal, name))
        wait_for(lambda name=name: got.exists() and name in got.read_text().split(), timeout=5)
    assert p.isalive()
    assert got.read_text().split() == FORWARDED
    os.kill(parent_of(agent_pid), signal.SIGUSR2)  # the monitor passes it on: capture
    wait_for(lambda: list(state.glob("projects/*/states/*-manual-*.json.gz")), timeout=10)
    assert "SIGUSR2" not in got.read_text().split()
    os.kill(guard, signal.SIGTERM)
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0


def test_started_in_the_background_it_leaves_the_shell_its_terminal(tmp_path: Path) -> None:
    """``guardrun --no-pty -- cat &``: the shell keeps the terminal (guardrun must not give
    it to cat's group); cat reading it is stopped by the kernel (SIGTTIN) and guardrun
    with it, so the shell reports the job stopped, and ``fg`` runs it."""
    p = shell(tmp_path)
    p.sendline(run_line(tmp_path / "state", "--no-pty", "--", "cat") + " &")
    p.expect_exact(PROMPT)
    p.sendline("echo SHELL-HAS-IT")
    p.expect("SHELL-HAS-IT\r\n")  # the shell read the line, not cat
    p.expect_exact(PROMPT)
    p.sendline("sleep 1; jobs")
    p.expect(STOPPED)
    p.expect_exact(PROMPT)
    p.sendline("fg")
    time.sleep(0.5)
    p.sendline("typed")
    p.expect("typed\r\n.*typed")
    p.sendcontrol("d")
    p.expect_exact(PROMPT)
    p.sendline("echo RC=$?")
    p.expect("RC=0")
    finish(p)
