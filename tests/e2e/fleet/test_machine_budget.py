"""Issue 11 with real guardrun runs and real memory-holding children, each in its own PTY,
sharing one state directory (so one machine budget): exactly the run that should give
way restarts; restarts for the machine happen one at a time (a lease); a dead or hung
lease holder does not block the others; a run's own emergency never waits for the lease.

The holder child keeps 120 MB at its first start and 10 MB after a restart, as an
agent whose leak a restart wins back."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pexpect
import pytest
from support import child, guardrun, guardrun_sleeper, levels, starts, wait_for

from guardrun.fleet.lease import Lease
from guardrun.observe.events import read_events
from guardrun.observe.live_read import is_guardrun

MB = 1_000_000
QUICK = {"GUARDRUN_RESTART_IDLE_QUIET": "1s", "GUARDRUN_MEMORY_INTERVAL": "250ms"}


class Run:
    def __init__(self, state: Path, tmp: Path, name: str, *args: str, env: dict[str, str],
                 chatty: bool = False, first: int = 120) -> None:  # fmt: skip
        self.starts = tmp / f"{name}.starts"
        argv = child("holder.py", "--starts", str(self.starts), "--first", str(first),
                     *(["--chatty"] if chatty else []))  # fmt: skip
        cmd = guardrun(*args, "--", *argv)
        full = {**os.environ, "TERM": "xterm-256color", "GUARDRUN_STATE_DIR": str(state),
                **QUICK, **env}  # fmt: skip
        self.p = pexpect.spawn(cmd[0], cmd[1:], timeout=60, env=full, dimensions=(30, 100))
        self.p.expect("READY")

    def pump(self) -> None:
        try:
            self.p.read_nonblocking(1 << 16, timeout=0)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def stop(self) -> None:
        if self.p.isalive():
            self.p.kill(15)
        try:
            self.p.expect(pexpect.EOF, timeout=30)
        except pexpect.TIMEOUT:
            self.p.kill(9)
        self.p.close()


@pytest.fixture
def runs() -> list[Run]:
    started: list[Run] = []
    yield started
    for run in started:
        run.stop()


def all_events(state: Path) -> list[dict[str, object]]:
    return [e for log in state.glob("projects/*/runs/*.jsonl") for e in read_events(log)]


def settle(running: list[Run], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for run in running:
            run.pump()  # keep each PTY drained
        time.sleep(0.1)


def budget(value: str) -> dict[str, str]:
    return {"GUARDRUN_MACHINE_BUDGET": value}


def test_the_lowest_priority_gives_way_and_the_others_keep_their_agents(
    tmp_path: Path, runs: list[Run]
) -> None:
    state = tmp_path / "state"
    for prio in (2, 0, 1):
        runs.append(Run(state, tmp_path, f"p{prio}", "--priority", str(prio),
                        env=budget("300MB")))  # fmt: skip
    # 3 x 120 MB = 360 MB over 300 MB: one restart (to 10 MB) brings it to 250 MB.
    wait_for(lambda: len(starts(runs[1].starts)) == 2, timeout=40, step=0.3)
    settle(runs, 6)  # enough for a second, wrong, restart to show
    assert [len(starts(r.starts)) for r in runs] == [1, 2, 1]
    evs = all_events(state)
    asked = [e for e in evs if e["event"] == "restart_requested"]
    assert [e["reason"] for e in asked] == ["budget"], asked
    assert any(e["event"] == "budget_over" for e in evs)
    chosen = [e for e in evs if e["event"] == "chosen"]
    assert chosen and all(e["why"] == "lowest priority (0)" for e in chosen), chosen


def test_equal_priorities_the_idle_one_before_the_busy_one(tmp_path: Path, runs: list[Run]) -> None:
    state = tmp_path / "state"
    busy = Run(state, tmp_path, "busy", env=budget("200MB"), chatty=True, first=140)
    runs.append(busy)
    settle(runs, 1)
    quiet = Run(state, tmp_path, "quiet", env=budget("200MB"))
    runs.append(quiet)
    # Over (260 MB): the busy one is larger and older, but the quiet one is idle.
    wait_for(lambda: len(starts(quiet.starts)) == 2, timeout=40, step=0.3)
    settle(runs, 4)
    assert len(starts(busy.starts)) == 1 and len(starts(quiet.starts)) == 2


def test_status_shows_the_plan(tmp_path: Path, runs: list[Run]) -> None:
    """Over the budget: the run chosen is busy (it waits for a quiet moment, up to 5 min)
    and the other has restarts off: nobody restarts, and status says who is next."""
    state = tmp_path / "state"
    runs.append(Run(state, tmp_path, "p1", "--priority", "1", "--no-restart",
                    env=budget("150MB")))  # fmt: skip
    runs.append(Run(state, tmp_path, "p0", "--priority", "0", chatty=True,
                    env={**budget("150MB"), "GUARDRUN_RESTART_IDLE_WAIT": "5m"}))  # fmt: skip
    env = {**os.environ, "GUARDRUN_STATE_DIR": str(state)}

    def plan() -> dict[str, object] | None:
        done = subprocess.run(guardrun("status", "--json"), capture_output=True, text=True,
                              env=env, timeout=30)  # fmt: skip
        got = json.loads(done.stdout)
        if len(got) == 2 and got[0]["machine"]["over"]:
            return dict(got[0]["machine"])
        return None

    got = wait_for(plan, timeout=20, step=0.5)
    assert isinstance(got, dict)
    pids = {run.p.pid for run in runs}
    assert got["next_pid"] == runs[1].p.pid and got["next_pid"] in pids
    assert got["why"] == "the only run that can give way" and got["budget_bytes"] == 150 * MB
    text = subprocess.run(guardrun("status"), capture_output=True, text=True, env=env,
                          timeout=30).stdout  # fmt: skip
    text = " ".join(text.split())  # the line wraps at 80 columns
    assert "of a 150.0 MB budget (over)" in text and f"next to give way: {runs[1].p.pid}" in text


@pytest.mark.parametrize("how", ["--no-restart", "monitor-only"])
def test_a_run_that_cannot_restart_never_holds_up_the_others(
    tmp_path: Path, runs: list[Run], how: str
) -> None:
    """Issue 26: priority -1000 makes a run the first to give way; with restarts off (or
    its protection exhausted: monitor-only) it never can, and the others used to wait
    for it forever. Now it is passed over: the next run gives way."""
    state = tmp_path / "state"
    if how == "--no-restart":
        stuck_args: tuple[str, ...] = ("--no-restart",)
    else:  # no restarts allowed: the first restart asked for is refused (monitor-only)
        stuck_args = ("--max-restarts", "0")
    stuck = Run(state, tmp_path, "stuck", "--priority", "-1000", *stuck_args,
                env=budget("200MB"))  # fmt: skip
    runs.append(stuck)
    other = Run(state, tmp_path, "other", "--priority", "5", env=budget("200MB"))
    runs.append(other)
    # 2 x 120 MB over 200 MB: the other run restarts (to 10 MB), though it ranks second.
    wait_for(lambda: len(starts(other.starts)) == 2, timeout=40, step=0.3)
    settle(runs, 2)
    assert len(starts(stuck.starts)) == 1
    live = {json.loads(p.read_text())["pid"]: json.loads(p.read_text())
            for p in (state / "live").glob("*.json")}  # fmt: skip
    assert live[stuck.p.pid]["can_restart"] is False
    assert live[other.p.pid]["can_restart"] is True


def test_restarts_for_the_budget_are_one_at_a_time(tmp_path: Path, runs: list[Run]) -> None:
    """Four runs, all 120 MB, budget 100 MB: every one must give way, in turn.

    First the test itself holds the lease, as a run in the middle of its restart would:
    the run chosen to give way waits, however long (with a lease that always granted,
    it would restart at once; the ranking alone cannot keep restarts apart). Then, the
    lease free, from the event logs: each restart (restart_requested to the new child's
    `restarted`) ends before the next begins."""
    state = tmp_path / "state"
    holder = guardrun_sleeper(tmp_path, 120)  # a lease is believed only for a guardrun
    try:
        assert Lease(state, pid=holder.pid).acquire(seconds=600)  # someone else restarting
        for i in range(4):
            runs.append(Run(state, tmp_path, f"r{i}", env=budget("100MB")))
        wait_for(lambda: any(e["event"] == "chosen" for e in all_events(state)), timeout=30)
        settle(runs, 4)  # chosen, quiet for longer than idle_quiet: only the lease holds it
        asked = [e for e in all_events(state) if e["event"] == "restart_requested"]
        assert asked == [], "a run restarted for the budget while another held the lease"
        assert all(len(starts(r.starts)) == 1 for r in runs)
    finally:
        holder.kill()  # the holder is gone: the lease is free at once
        holder.wait()
    wait_for(lambda: all(len(starts(r.starts)) >= 2 for r in runs), timeout=90, step=0.3)
    spans = []
    for log in state.glob("projects/*/runs/*.jsonl"):
        evs = read_events(log)
        begin = next(e["time"] for e in evs if e["event"] == "restart_requested")
        end = next(e["time"] for e in evs if e["event"] == "restarted")
        spans.append((str(begin), str(end)))
    spans.sort()
    assert len(spans) == 4
    for (_, end), (begin, _) in zip(spans, spans[1:], strict=False):
        assert end <= begin, spans


def test_a_dead_or_hung_lease_holder_does_not_block(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = guardrun_sleeper(tmp_path)  # a lease is believed only for a guardrun
    wait_for(lambda: is_guardrun(holder.pid))
    try:
        theirs = Lease(state, pid=holder.pid)
        assert theirs.acquire(seconds=1.5)
        mine = Lease(state)
        assert not mine.acquire(seconds=5) and mine.holder() is not None
        time.sleep(1.6)  # the holder hangs past its deadline
        assert mine.acquire(seconds=5)
        mine.release()
        assert theirs.acquire(seconds=60)
    finally:
        holder.kill()
        holder.wait()
    # ... and its holder died: free at once.
    assert Lease(state).holder() is None and Lease(state).acquire(seconds=5)


def test_a_runs_own_emergency_does_not_wait_for_the_lease(tmp_path: Path, runs: list[Run]) -> None:
    state = tmp_path / "state"
    holder = guardrun_sleeper(tmp_path)  # a lease is believed only for a guardrun
    wait_for(lambda: is_guardrun(holder.pid))
    try:
        assert Lease(state, pid=holder.pid).acquire(seconds=600)  # someone else restarting
        run = Run(state, tmp_path, "own", *levels("50MB", "80MB", "100MB"),
                  env=budget("100MB"))  # fmt: skip
        runs.append(run)
        wait_for(lambda: len(starts(run.starts)) == 2, timeout=20, step=0.2)
        asked = [e for e in all_events(state) if e["event"] == "restart_requested"]
        assert asked and asked[0]["reason"] == "emergency", asked
    finally:
        holder.kill()
        holder.wait()
