"""Issue 27: files planted in the state directory's ``live/`` (live files of other runs, the
restart lease) are a stranger's input. Real guardrun runs with real memory-holding children
share one state directory with what a test plants there: a live file with ``Infinity``, a
FIFO, a forged live file for a running process that is not a guardrun, a lease with a
deadline of ``1e300`` or a lease path that is a symlink, a directory or a FIFO. None of
them makes a run exit 70, hang, ignore SIGTERM, restart for nothing or never restart."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import PY, REPO, Guarded, child, guardrun, guardrun_sleeper, starts, wait_for

from guardrun.fleet.lease import Lease
from guardrun.observe.live_read import is_guardrun
from guardrun.platform import process_identity

MB = 1_000_000
QUICK = {"GUARDRUN_RESTART_IDLE_QUIET": "1s", "GUARDRUN_MEMORY_INTERVAL": "250ms"}


class Holder(Guarded):
    """``guardrun --no-pty ... -- holder.py``: a run whose agent holds ``first`` MB."""

    def __init__(self, state: Path, tmp: Path, name: str, *args: str, first: int, budget: str):
        self.starts = tmp / f"{name}.starts"
        argv = child("holder.py", "--starts", str(self.starts), "--first", str(first))
        env = {**os.environ, "GUARDRUN_STATE_DIR": str(state), "GUARDRUN_MACHINE_BUDGET": budget,
               **QUICK}  # fmt: skip
        super().__init__("--no-pty", *args, "--", *argv, env=env)
        wait_for(lambda: starts(self.starts), timeout=20)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A running process of this user that is not a guardrun: what a forged file names."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


def plant(state: Path, pid: int, **fields: object) -> Path:
    """A live file for ``pid`` with its real identity (start time) and ``fields``."""
    live = state / "live"
    live.mkdir(parents=True, exist_ok=True)
    doc = {"schema": 1, "pid": pid, "identity": process_identity(pid), "run_id": "x",
           "started_at": "2020-01-01T00:00:00Z", **fields}  # fmt: skip
    path = live / f"{pid}.json"
    # json.dumps writes Infinity and NaN as JavaScript does: what a planted file holds.
    path.write_text(json.dumps(doc))
    return path


def status(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUARDRUN_STATE_DIR": str(state)}
    return subprocess.run(guardrun("status", *args), capture_output=True, text=True, env=env,
                          timeout=20)  # fmt: skip


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf")])
def test_a_non_finite_number_in_a_live_file_is_skipped_with_a_warning(
    tmp_path: Path, value: float
) -> None:
    state = tmp_path / "state"
    other = guardrun_sleeper(tmp_path)  # even a real guardrun's file is not believed then
    try:
        wait_for(lambda: is_guardrun(other.pid))
        path = plant(state, other.pid, memory_bytes=value, priority=5)
        with Holder(state, tmp_path, "run", first=20, budget="500MB") as run:
            time.sleep(2.0)  # several samples, each reading the live files
            assert run.returncode is None and run.proc.poll() is None
            err = run.stop()
            assert run.returncode not in (70, None), err
            assert f"ignoring corrupt live file {path}" in err
            assert "is not a number guardrun writes" in err
            assert err.count(str(path)) == 1, err  # one warning, not one per sample
        done = status(state)
        assert done.returncode == 0 and str(path) in done.stderr, done
    finally:
        other.kill()
        other.wait()


def test_a_fifo_in_live_neither_hangs_a_run_nor_status(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "live").mkdir(parents=True)
    fifo = state / "live" / f"{os.getpid()}.json"  # a live pid: the file is kept
    os.mkfifo(fifo)
    with Holder(state, tmp_path, "run", first=20, budget="500MB") as run:
        time.sleep(1.5)
        err = run.stop(timeout=10)  # SIGTERM is heard: the loop is not stuck in open()
        assert run.returncode not in (70, None), err
    done = status(state, "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == []
    assert "not a regular file" in done.stderr


def test_a_forged_low_priority_file_does_not_disable_the_budget(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """A live file for a running process that is not a guardrun, claiming priority -1000 and
    1 byte, once took every turn to give way: the run over the budget never restarted."""
    state = tmp_path / "state"
    path = plant(state, sleeper.pid, priority=-1000, memory_bytes=1)
    with Holder(state, tmp_path, "run", first=120, budget="100MB") as run:
        wait_for(lambda: len(starts(run.starts)) == 2, timeout=30, step=0.2)
        err = run.stop()
    assert f"ignoring live file {path}: pid {sleeper.pid} is not a guardrun" in err
    assert path.exists()  # a running process's file is left alone, not deleted


def test_a_forged_huge_file_does_not_make_a_victim_restart(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    state = tmp_path / "state"
    plant(state, sleeper.pid, priority=1000, memory_bytes=10_000 * MB)
    with Holder(state, tmp_path, "victim", first=20, budget="200MB") as run:
        time.sleep(5.0)  # a restart for the budget came within 2 s before
        assert len(starts(run.starts)) == 1
        run.stop()


def lease_at(state: Path, make: str) -> Path:
    path = state / "live" / "restart.lease"
    path.parent.mkdir(parents=True, exist_ok=True)
    if make == "symlink":
        path.symlink_to("/dev/null")
    elif make == "dangling symlink":
        path.symlink_to(state / "nowhere")
    elif make == "directory":
        path.mkdir()
        (path / "inside").write_text("x")  # not empty: cannot be removed
    elif make == "fifo":
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("make", ["symlink", "dangling symlink", "directory", "fifo"])
def test_a_lease_path_that_is_not_a_file_does_not_block_restarts(tmp_path: Path, make: str) -> None:
    state = tmp_path / "state"
    path = lease_at(state, make)
    warned: list[str] = []
    lease = Lease(state, warn=warned.append)
    assert lease.acquire(seconds=5)  # it once answered False forever: no budget restart
    lease.release()
    assert lease.acquire(seconds=5)
    if make == "directory":  # left there, said once
        assert path.is_dir() and len(warned) == 1 and str(path) in warned[0]
    else:  # removed, and a real lease took its place
        assert path.is_file() and not path.is_symlink() and warned == []
    assert Path("/dev/null").exists()


def test_a_budget_restart_happens_with_a_directory_at_the_lease_path(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = lease_at(state, "directory")
    with Holder(state, tmp_path, "run", first=120, budget="100MB") as run:
        wait_for(lambda: len(starts(run.starts)) == 2, timeout=30, step=0.2)
        err = run.stop()
    assert f"cannot use the restart lease {path}" in err


def test_a_lease_deadline_far_ahead_is_no_deadline(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = guardrun_sleeper(tmp_path)  # a live guardrun of this user holds it ...
    try:
        wait_for(lambda: is_guardrun(holder.pid))
        theirs = Lease(state, pid=holder.pid)
        assert theirs.acquire(seconds=30)
        mine = Lease(state)
        assert not mine.acquire(seconds=5)  # a real holder is waited for
        path = Path(theirs.path)
        record = json.loads(path.read_text())
        record["deadline"] = 1e300  # ... until the year 1e292
        path.write_text(json.dumps(record))
        assert mine.acquire(seconds=5)
        assert json.loads(path.read_text())["pid"] == os.getpid()
        record["deadline"] = time.time() + 365 * 86400  # a year: longer than any restart
        path.write_text(json.dumps(record))
        assert Lease(state).acquire(seconds=5)
        for deadline in ("Infinity", "NaN", '"soon"'):
            path.write_text(f'{{"pid": {holder.pid}, "identity": {{}}, "deadline": {deadline}}}')
            assert Lease(state).acquire(seconds=5), deadline
    finally:
        holder.kill()
        holder.wait()


def test_a_lease_of_a_process_that_is_not_a_guardrun_is_free(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    state = tmp_path / "state"
    assert Lease(state, pid=sleeper.pid).acquire(seconds=600)
    assert Lease(state).holder() is None and Lease(state).acquire(seconds=5)


_TAKE = """
import sys, time
from guardrun.fleet.lease import Lease
start = time.monotonic()
ok = Lease(sys.argv[1]).acquire(seconds=5)
print(ok, round(time.monotonic() - start, 2))
"""


def test_a_lease_kept_locked_by_a_stranger_does_not_block(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = state / "live" / "restart.lease"
    path.parent.mkdir(parents=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # held for the whole test
        done = subprocess.run([PY, "-c", _TAKE, str(state)], capture_output=True, text=True,
                              timeout=10, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    ok, took = done.stdout.split()
    assert ok == "False" and float(took) < 1.0, done


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("FIFOs, flock and /proc identities: Linux")
