"""Issue 27: names from the system are a stranger's input. A working directory and an
argument that are not UTF-8 (``bad\\xffdir``, which a cloned repository can hold) are
carried as bytes end to end: guardrun starts, watches, captures and restarts there. A
cwd or argv with ESC sequences is shown visibly by ``status`` and ``state show``, never
sent raw. And two fixes: ``guardrun restart`` refusing a forged live file exits 1 (not
70, a bug's code), and ``memory.history`` holds seconds before the capture."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from support import PY, ROOT, wait_for

from guardrun.platform import process_identity

# The child: records its cwd and argv as bytes at every start, holds a little memory, waits.
_CHILD = r"""
import os, sys, time
with open(os.environ["STARTS"], "ab") as f:
    f.write(repr((os.getcwdb(), [os.fsencode(a) for a in sys.argv[1:]])).encode() + b"\n")
held = b"x" * 20_000_000
time.sleep(60)
"""


def env_for(state: Path, starts: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "GUARDRUN_STATE_DIR": str(state),
            "STARTS": str(starts), "GUARDRUN_MEMORY_INTERVAL": "250ms"}  # fmt: skip


def cli(
    state: Path, *args: str, cwd: Path | bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GUARDRUN_STATE_DIR": str(state)}
    return subprocess.run([PY, "-m", "guardrun", *args], capture_output=True, env=env,
                          timeout=30, cwd=cwd)  # fmt: skip


def start(state: Path, starts: Path, cwd: bytes, *args: bytes) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [PY.encode(), b"-m", b"guardrun", b"--no-pty", b"--", PY.encode(), b"-c",
         _CHILD.encode(), *args],
        cwd=cwd, env=env_for(state, starts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for(lambda: starts.exists() and starts.read_bytes().count(b"\n") >= 1, timeout=20)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> bytes:
    if proc.poll() is None:
        proc.terminate()
    _, err = proc.communicate(timeout=20)
    return err


def test_start_watch_capture_and_restart_in_a_directory_that_is_not_utf8(tmp_path: Path) -> None:
    bad = os.fsencode(tmp_path) + b"/bad\xffdir"
    os.mkdir(bad)
    state, starts = tmp_path / "state", tmp_path / "starts"
    proc = start(state, starts, bad, b"arg\xfe", b"plain")
    try:
        # Watched: its live file lists it, with the directory's bytes kept.
        done = cli(state, "status", "--json")
        assert done.returncode == 0, done.stderr
        runs = json.loads(done.stdout)
        assert [os.fsencode(r["cwd"]) for r in runs] == [bad]
        assert b"\\xff" in cli(state, "status").stdout  # shown visibly in the table
        assert cli(state, "capture", str(proc.pid)).returncode == 0
        assert cli(state, "restart", str(proc.pid)).returncode == 0
        wait_for(lambda: starts.read_bytes().count(b"\n") >= 2, timeout=30)
        lines = starts.read_bytes().splitlines()[:2]
        first, second = (ast.literal_eval(line.decode()) for line in lines)
        assert first == second == (bad, [b"arg\xfe", b"plain"])  # the same bytes, restarted
    finally:
        err = stop(proc)
    assert proc.returncode not in (70, 1), err
    assert b"internal error" not in err
    shown = cli(state, "state", "show", "latest", "--json", cwd=bad)
    assert shown.returncode == 0, shown.stderr
    state_doc = json.loads(shown.stdout)
    assert os.fsencode(state_doc["process"]["cwd"]) == bad
    assert os.fsencode(state_doc["process"]["argv"][-2]) == b"arg\xfe"
    text = cli(state, "state", "show", "latest", cwd=bad)
    assert text.returncode == 0 and b"bad\\xffdir" in text.stdout, text
    printed = cli(state, "state", "resume", "latest", "--print", cwd=bad)
    assert printed.returncode == 0, printed.stderr
    cd, _, command = printed.stdout.decode("ascii").partition(" && ")
    pwd = subprocess.run(["bash", "-c", f"{cd} && pwd -P && printf '%s\\n' {command}"],
                         capture_output=True, timeout=10)  # fmt: skip
    assert pwd.stdout.splitlines()[0] == bad and b"arg\xfe" in pwd.stdout.splitlines()


def test_status_and_state_show_never_send_escapes_raw(tmp_path: Path) -> None:
    odd = tmp_path / "x\x1b[2Jy"
    odd.mkdir()
    state, starts = tmp_path / "state", tmp_path / "starts"
    proc = start(state, starts, os.fsencode(odd), b"\x1b]0;title\x07", "\x9b31m".encode())
    try:
        done = cli(state, "status")
        assert done.returncode == 0, done.stderr
        assert b"\x1b[2J" not in done.stdout and b"\x07" not in done.stdout
        assert b"x\\x1b[2Jy" in done.stdout and b"\\x1b]0;title\\x07" in done.stdout
        assert cli(state, "capture", str(proc.pid)).returncode == 0
    finally:
        stop(proc)
    shown = cli(state, "state", "show", "latest", cwd=odd)
    assert shown.returncode == 0, shown.stderr
    assert b"\x1b" not in shown.stdout and b"x\\x1b[2Jy" in shown.stdout


def test_memory_history_is_seconds_before_the_capture(tmp_path: Path) -> None:
    state, starts = tmp_path / "state", tmp_path / "starts"
    proc = start(state, starts, os.fsencode(tmp_path))
    try:
        wait_for(lambda: cli(state, "status", "--json").stdout.count(b'"pid"') == 1)
        assert cli(state, "capture", str(proc.pid), cwd=tmp_path).returncode == 0
        wait_for(lambda: cli(state, "state", "list", "--json", cwd=tmp_path).stdout, timeout=15)
    finally:
        stop(proc)
    shown = cli(state, "state", "show", "latest", "--json", cwd=tmp_path)
    history = json.loads(shown.stdout)["memory"]["history"]
    assert history and all(-120 < t <= 0 for t, _ in history), history[:3]
    assert [t for t, _ in history] == sorted(t for t, _ in history)


def test_restart_refusing_a_forged_live_file_exits_1(tmp_path: Path) -> None:
    state = tmp_path / "state"
    victim = subprocess.Popen(["sleep", "60"])
    try:
        (state / "live").mkdir(parents=True)
        doc = {"schema": 1, "pid": victim.pid, "identity": process_identity(victim.pid),
               "run_id": "20250101T000000Z-forged", "cwd": str(tmp_path)}  # fmt: skip
        (state / "live" / f"{victim.pid}.json").write_text(json.dumps(doc))
        done = cli(state, "restart", str(victim.pid))
        assert done.returncode == 1, done
        assert b"not signalling it" in done.stderr and b"internal error" not in done.stderr
        assert victim.poll() is None  # no SIGUSR1 reached it
    finally:
        victim.kill()
        victim.wait()


if sys.platform != "linux":  # pragma: no cover
    import pytest

    pytestmark = pytest.mark.skip("bytes that are not UTF-8 in paths: POSIX file systems")
