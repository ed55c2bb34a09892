"""Memory-driven restarts of real leaking children, and stopping whole trees."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from support import Guarded, child, guardrun, is_alive, levels, read_roles, starts, wait_for

from guardrun.observe.events import read_events

FAST = ["--interval", "200ms", "--cooldown", "100ms", "--grace", "2s"]


def test_emergency_restarts_at_once(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    with Guarded(
        *FAST,
        *levels("60MB", "80MB", "100MB"),
        "--max-restarts",
        "1",
        "--no-pty",
        "--",
        *child("leak.py", "--starts", str(log), "--to", "150"),
    ) as g:
        wait_for(lambda: len(starts(log)) >= 2, timeout=15)
        t_second = time.monotonic()
        # max-restarts 1: the second run is refused and kept, watched only.
        time.sleep(1.0)
        assert len(starts(log)) == 2
        assert is_alive(starts(log)[1])
        assert not is_alive(starts(log)[0])
        err = g.stop()
    assert g.returncode == 128 + signal.SIGTERM
    assert "over emergency" in err
    assert "restart refused" in err
    assert time.monotonic() - t_second < 10


def test_critical_waits_for_quiet_output_then_restarts(tmp_path: Path) -> None:
    """PTY mode: at critical the restart waits until output and keys are quiet 5 s."""
    log = tmp_path / "starts"
    cmd = guardrun(
        *FAST,
        "--warning",
        "60MB",
        "--critical",
        "80MB",
        "--emergency",
        "2GB",
        "--max-restarts",
        "1",
        "--",
        *child("leak.py", "--starts", str(log), "--to", "100"),
    )
    p = pexpect.spawn(cmd[0], cmd[1:], timeout=20, dimensions=(24, 80))
    try:
        p.expect("READY")
        ready = time.monotonic()
        wait_for(lambda: len(starts(log)) >= 2, timeout=15)
        waited = time.monotonic() - ready
        assert waited >= 4.5, f"restarted after {waited:.1f}s, before the quiet period"
        p.expect("READY")  # the new run draws again
        p.kill(signal.SIGTERM)
        p.expect(pexpect.EOF)
    finally:
        p.close(force=True)


def restarts_asked() -> list[dict[str, object]]:
    """The restart_requested events of the runs in this test's state directory."""
    state = Path(os.environ["XDG_STATE_HOME"]) / "guardrun"
    logs = state.glob("projects/*/runs/*.jsonl")
    return [e for log in logs for e in read_events(log) if e["event"] == "restart_requested"]


def test_a_small_parent_with_a_big_grandchild_counts(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    with Guarded(
        *FAST,
        *levels("40MB", "60MB", "90MB"),
        "--max-restarts",
        "0",
        "--no-pty",
        "-v",
        "--",
        *child("tree.py", str(pids), "--grand-mb", "150"),
    ) as g:
        roles = wait_for(lambda: (r := read_roles(pids)) and "grandchild" in r and r, timeout=10)
        assert isinstance(roles, dict)
        # The parent alone is far under every threshold; only the tree crosses emergency.
        asked = wait_for(lambda: restarts_asked(), timeout=10)
        err = g.stop()
    # The run's own event log, not stderr: the -v banner names "emergency" in any case.
    assert isinstance(asked, list) and asked[0]["reason"] == "emergency", (asked, err)
    assert asked[0]["memory_bytes"] >= 90_000_000, asked  # over emergency: the grandchild counted
    for pid in roles["grandchild"] + roles["parent"] + roles["child"]:
        assert not is_alive(pid)


def test_daemon_double_forked_is_cleaned_up_at_exit(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    cmd = guardrun(
        "--no-pty",
        "--grace",
        "2s",
        "--",
        *child("tree.py", str(pids), "--daemon", "--exit-after", "1.5"),
    )
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    roles = read_roles(pids)
    assert roles["daemon"], roles
    daemon = roles["daemon"][0]
    assert not is_alive(daemon), "the double-forked daemon survived guardrun's exit"


def test_sigterm_ignoring_child_is_killed_after_grace(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    with Guarded(
        "--no-pty",
        "--grace",
        "1s",
        *levels("8GB", "9GB", "10GB"),
        "-v",
        "--",
        *child("leak.py", "--starts", str(log), "--to", "1", "--ignore-term"),
    ) as g:
        wait_for(lambda: starts(log), timeout=10)
        time.sleep(0.3)
        t0 = time.monotonic()
        err = g.stop()
        took = time.monotonic() - t0
    assert g.returncode == 128 + signal.SIGKILL
    assert 0.9 <= took < 6, took
    assert "SIGKILL" in err and "grace" in err
    assert not is_alive(starts(log)[0])


def test_restart_storm_is_bounded_and_the_child_kept(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    with Guarded(
        *FAST,
        *levels("30MB", "40MB", "50MB"),
        "--max-restarts",
        "2",
        "--no-pty",
        "--",
        *child("leak.py", "--starts", str(log), "--to", "80"),
    ) as g:
        wait_for(lambda: len(starts(log)) >= 3, timeout=20)
        time.sleep(1.5)
        assert len(starts(log)) == 3  # the first run and exactly 2 restarts
        last = starts(log)[-1]
        assert is_alive(last)
        assert g.returncode is None and g.proc.poll() is None
        err = g.stop()
    assert "restart refused" in err and "watched only" in err
    assert not is_alive(last)


def test_sigusr1_restarts_now(tmp_path: Path) -> None:
    log = tmp_path / "starts"
    with Guarded(
        "--no-pty",
        "--cooldown",
        "100ms",
        "--",
        *child("leak.py", "--starts", str(log), "--to", "1"),
    ) as g:
        wait_for(lambda: starts(log), timeout=10)
        os.kill(g.pid, signal.SIGUSR1)
        wait_for(lambda: len(starts(log)) == 2, timeout=10)
        assert not is_alive(starts(log)[0])
        err = g.stop()
    assert "SIGUSR1" in err


@pytest.mark.parametrize("code", [0, 1, 2, 3, 64, 100, 125, 128, 200, 254, 255])
def test_exit_code_spread_without_pty(code: int) -> None:
    r = subprocess.run(
        guardrun("--no-pty", "--", "python3", "-c", f"raise SystemExit({code})"),
        capture_output=True,
        timeout=20,
    )
    assert r.returncode == code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGABRT, signal.SIGUSR2])
def test_death_by_signal_without_pty(sig: int) -> None:
    code = f"import os; os.kill(os.getpid(), {int(sig)})"
    r = subprocess.run(
        guardrun("--no-pty", "--", "python3", "-c", code), capture_output=True, timeout=20
    )
    assert r.returncode == 128 + sig


def test_orphans_that_exit_between_samples_are_reaped(tmp_path: Path) -> None:
    """50 double-forked processes that exit at once: adopted by guardrun as subreaper,
    they must not stay zombies (they did: 39 after 8 s)."""
    with Guarded("--no-pty", "--interval", "2s", "--", *child("orphans.py", "50")) as g:
        assert g.proc.stdout is not None and g.proc.stdout.readline() == "done\n"

        def zombies() -> list[int]:
            found = []
            for task in Path(f"/proc/{g.pid}/task").iterdir():
                for pid in (task / "children").read_text().split():
                    try:
                        stat = Path(f"/proc/{pid}/stat").read_bytes()
                    except OSError:
                        continue
                    if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z":
                        found.append(int(pid))
            return found

        wait_for(lambda: not zombies(), timeout=5)
        g.stop()


# A daemon that double-forks into a session of its own with an EMPTY environment: no
# marker to recognise it by; adopted by guardrun (the subreaper), it is the tree's all
# the same and must be stopped with it.
BARE_DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve(sys.executable, [sys.executable, "-c",
                  "import os,sys,time; open(sys.argv[1],'a').write(f'daemon {os.getpid()}\\\\n');"
                  " time.sleep(600)", sys.argv[1]], {})
    os._exit(0)
print("forked", flush=True)
time.sleep(600)
"""


def test_a_daemon_with_an_empty_environment_is_stopped_with_the_tree(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    with Guarded("--no-pty", "--interval", "200ms", "--grace", "2s", "--", sys.executable,
                 "-c", BARE_DAEMON, str(roles)) as g:  # fmt: skip
        found = wait_for(lambda: (r := read_roles(roles)) and "daemon" in r and r, timeout=10)
        assert isinstance(found, dict)
        (daemon,) = found["daemon"]
        assert Path(f"/proc/{daemon}/environ").read_bytes() == b""  # no marker at all
        time.sleep(0.6)  # sampled: counted in the tree
        g.stop()
    wait_for(lambda: not is_alive(daemon), timeout=10)


def _events(state_dir: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted(state_dir.glob("projects/*/runs/*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def _epoch(stamp: object) -> float:
    """An event's ``time`` (``2025-01-31T12:00:00.123Z``) as epoch seconds."""
    import calendar

    text = str(stamp)
    whole = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return whole + int(text[20:23]) / 1000


@pytest.mark.parametrize("how", ["stop", "restart"])
def test_an_emergency_stops_the_tree_before_copying_a_200mb_transcript(
    tmp_path: Path, how: str
) -> None:
    """A Claude-like agent with a 200 MB transcript it keeps writing to, leaking 100 MB/s.
    The copy of the transcript (about a second here) used to come before the SIGTERM, so
    the leak went on meanwhile. Now the tree gets its SIGTERM first and the copy is made
    afterwards, from the file on disk: the state still holds the whole transcript."""
    from support.claude import FAKE_SESSION, fake_claude

    cwd = tmp_path / "project"
    cwd.mkdir()
    claude, env, transcript = fake_claude(tmp_path, cwd, 200 << 20)
    env.update(FAKE_LEAK="100,1500", FAKE_APPEND="0.1")
    state_dir = tmp_path / "state"
    tail = ["--max-restarts", "0", "--on-exhausted", "stop"] if how == "stop" else []
    args = guardrun("--no-pty", "--state-dir", str(state_dir), "--interval", "200ms",
                    *levels("100MB", "150MB", "300MB"), *tail, "--", str(claude))  # fmt: skip
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        if how == "restart":  # the resumed child holds nothing: stop it once the state is in
            wait_for(lambda: any(e["event"] == "state_captured" and e["reason"] == "emergency"
                                 for e in _events(state_dir)), timeout=60)  # fmt: skip
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == (75 if how == "stop" else 0), err  # 0: the agent's own, at SIGTERM
    evs = _events(state_dir)
    crossed = [e for e in evs if e["event"] == "level_changed" and e.get("level") == "emergency"]
    saved = [e for e in evs if e["event"] == "state_captured" and e["reason"] == "emergency"]
    assert crossed and len(saved) == 1, err
    term_at, rss = (float(x) for x in (tmp_path / "fake-claude.out").read_text().split()[:2])
    # The SIGTERM came before the copy was done, not after.
    assert term_at < _epoch(saved[0]["time"]), (term_at, saved[0])
    assert term_at - _epoch(crossed[0]["time"]) < 1.0  # goal 0.1 s; room for a loaded CI
    state = json.loads(gzip.decompress(Path(str(saved[0]["path"])).read_bytes()))
    copy = state["conversation"]["transcript"]["copy"]
    assert state["conversation"]["session_id"] == FAKE_SESSION
    assert copy is not None and copy["bytes"] >= 200 << 20 and not copy["truncated"]
    assert state["restart"]["resume_argv"] == [str(claude), "--resume", FAKE_SESSION]
    if how == "stop":
        assert f"state saved as {state['id']}" in err and "guardrun state resume" in err
