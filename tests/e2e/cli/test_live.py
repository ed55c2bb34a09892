"""Live status files: real processes writing them, real dead and reused pids."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support import CHILDREN, REPO, guardrun_sleeper, named_guardrun, wait_for

from guardrun.observe.live import LiveFile
from guardrun.observe.live_read import is_guardrun, list_live
from guardrun.platform import is_same_process, process_identity

TARGET = CHILDREN / "live_target.py"


def start_target(state_dir: Path, marker: Path, run_id: str, cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # Named guardrun: a live file is believed only for a running guardrun of this user.
    script = named_guardrun(state_dir.parent, TARGET)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(state_dir), str(marker), run_id],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        stop(p)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_concurrent_runs_listed(tmp_path: Path, targets: list[subprocess.Popen[str]]) -> None:
    state = tmp_path / "state"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    targets.append(start_target(state, tmp_path / "ma", "20250101T000000Z-aaaaaa", tmp_path / "a"))
    targets.append(start_target(state, tmp_path / "mb", "20250101T000001Z-bbbbbb", tmp_path / "b"))
    problems: list[str] = []
    runs = list_live(state, problems)
    assert problems == []
    assert {r["pid"] for r in runs} == {targets[0].pid, targets[1].pid}
    by_pid = {r["pid"]: r for r in runs}
    a = by_pid[targets[0].pid]
    assert a["run_id"] == "20250101T000000Z-aaaaaa"
    assert a["cwd"] == str(tmp_path / "a")
    assert a["argv"] == ["claude", "--model", "x"]
    assert a["level"] == "warning" and a["restarts"] == 1
    assert a["started_at"].endswith("Z") and a["updated_at"].endswith("Z")
    # A run that exits cleanly removes its own file.
    stop(targets[0])
    assert not (state / "live" / f"{targets[0].pid}.json").exists()
    assert [r["pid"] for r in list_live(state)] == [targets[1].pid]


def test_update_rate_limited_atomic_private(tmp_path: Path) -> None:
    live = LiveFile(tmp_path / "state", os.getpid())
    assert live.update({"level": "normal"}) is True
    assert live.update({"level": "warning"}) is False  # within a second
    assert json.loads(Path(live.path).read_text())["level"] == "normal"
    assert live.update({"level": "critical", "pid": 1}, force=True) is True
    doc = json.loads(Path(live.path).read_text())
    assert doc["level"] == "critical" and doc["pid"] == os.getpid()  # pid cannot be overridden
    assert stat.S_IMODE(Path(live.path).stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(live.dir).st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert os.listdir(live.dir) == [f"{os.getpid()}.json"]  # no temp files left
    live.remove()
    live.remove()
    assert not Path(live.path).exists()


def test_update_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    live = LiveFile(blocker, os.getpid())
    assert live.update({"level": "normal"}) is False
    assert live.error is not None and "cannot write" in live.error


def test_stale_dead_pid_deleted(tmp_path: Path) -> None:
    pid = dead_pid()
    live = LiveFile(tmp_path, pid)
    assert live.identity == {}  # a dead pid has no start time
    live.update({"level": "normal"}, force=True)
    assert list_live(tmp_path) == []
    assert not Path(live.path).exists()


def test_reused_pid_deleted(tmp_path: Path) -> None:
    """A live (guardrun) pid, but a file written by an earlier process that had it."""
    holder = guardrun_sleeper(tmp_path)
    try:
        wait_for(lambda: is_guardrun(holder.pid))
        live = LiveFile(tmp_path, holder.pid)
        live.update({"level": "normal"}, force=True)
        assert [r["pid"] for r in list_live(tmp_path)] == [holder.pid]
        doc = json.loads(Path(live.path).read_text())
        key = next(iter(doc["identity"]))
        doc["identity"][key] -= 1
        Path(live.path).write_text(json.dumps(doc))
        assert list_live(tmp_path) == []
        assert not Path(live.path).exists()
    finally:
        holder.kill()
        holder.wait()


def test_zombie_is_not_alive() -> None:
    """An exited but unreaped process still answers kill(pid, 0); it is not a live run."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = process_identity(proc.pid)
    try:
        deadline = time.monotonic() + 5
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not is_same_process(proc.pid, ident)
    finally:
        proc.wait()


def test_identity_checks() -> None:
    me = os.getpid()
    assert is_same_process(me, process_identity(me))
    assert is_same_process(me, {})
    assert not is_same_process(dead_pid(), {})


def test_create_time_identity() -> None:
    """The identity other systems record (psutil create_time), checked here on this machine."""
    me = os.getpid()
    ct = psutil.Process(me).create_time()
    assert is_same_process(me, {"create_time": ct})
    assert not is_same_process(me, {"create_time": ct - 1.0})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc start ticks are Linux-only")
def test_linux_ticks_identity() -> None:
    me = os.getpid()
    ticks = process_identity(me)["linux_ticks"]
    assert is_same_process(me, {"linux_ticks": ticks})
    assert not is_same_process(me, {"linux_ticks": ticks + 1})


def test_corrupt_files_ignored_and_reported(tmp_path: Path) -> None:
    d = tmp_path / "live"
    d.mkdir()
    alive = d / f"{os.getpid()}.json"
    alive.write_text("{not json")
    gone = d / f"{dead_pid()}.json"
    gone.write_text("[1, 2]")
    mismatch = d / f"{os.getppid()}.json"
    mismatch.write_text(json.dumps({"pid": 1, "identity": {}}))
    (d / "notes.txt").write_text("x")
    problems: list[str] = []
    assert list_live(tmp_path, problems) == []
    assert len(problems) == 3 and all("corrupt live file" in p for p in problems)
    assert alive.exists() and mismatch.exists()  # their pids live: maybe another version's file
    assert not gone.exists()
    assert (d / "notes.txt").exists()


def test_leftover_temp_files_of_dead_runs_deleted(tmp_path: Path) -> None:
    d = tmp_path / "live"
    d.mkdir()
    dead = d / f".{dead_pid()}.abcd1234.tmp"
    dead.write_text("{")
    mine = d / f".{os.getpid()}.abcd1234.tmp"
    mine.write_text("{")
    assert list_live(tmp_path) == []
    assert not dead.exists() and mine.exists()


def test_symlinked_live_file_not_followed(tmp_path: Path) -> None:
    d = tmp_path / "live"
    d.mkdir()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"pid": os.getpid(), "identity": {}}))
    (d / f"{os.getpid()}.json").symlink_to(secret)
    problems: list[str] = []
    assert list_live(tmp_path, problems) == []
    assert len(problems) == 1


def test_a_live_symlink_is_refused_for_writing_and_listing(tmp_path: Path) -> None:
    """``<state dir>/live`` planted as a symlink: no file is written or deleted where it
    points (the store refused it in words but the live file went through it)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stale = elsewhere / f"{dead_pid()}.json"
    stale.write_text("{}")
    state = tmp_path / "state"
    state.mkdir()
    (state / "live").symlink_to(elsewhere)
    live = LiveFile(state, os.getpid())
    assert live.update({"level": "normal"}, force=True) is False
    assert live.error == f"refusing symlink in the state store: {state / 'live'}"
    problems: list[str] = []
    assert list_live(state, problems) == []
    assert problems == [live.error]
    assert os.listdir(elsewhere) == [stale.name]  # nothing written, the stale file not touched


def test_a_run_with_a_live_symlink_warns_and_goes_on(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / "live").symlink_to(elsewhere)
    code = (
        "import os, signal, sys, time\n"
        "os.kill(os.getppid(), signal.SIGUSR2)\n"  # a state is still saved
        f"time.sleep(1.5); print(os.listdir({str(elsewhere)!r}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "guardrun", "--state-dir", str(state), "--no-pty", "--",
         sys.executable, "-c", code],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"  # while the run was live
    assert f"no live file (refusing symlink in the state store: {state / 'live'})" in r.stderr
    assert "state saved:" in r.stderr and "nothing will be saved" not in r.stderr
    assert os.listdir(elsewhere) == []
