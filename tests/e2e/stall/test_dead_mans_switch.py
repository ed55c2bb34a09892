"""The dead man's switch: a guardrun that is stopped (SIGSTOP here; a debugger or a hung
system call alike) while its tree leaks. The sentinel, a process of its own, sees that
the loop has not sampled for max(5 s, 10 intervals), reads the tree itself, and stops
it at emergency; it says so in the event log, in a record the next start shows, in the
live file ``guardrun status`` reads, and in ``guardrun report``. It never acts while
the loop samples."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from support import Guarded, child, guardrun, is_alive, levels, starts, wait_for


def run_logs() -> list[Path]:
    root = Path(os.environ["XDG_STATE_HOME"]) / "guardrun" / "projects"
    return [p for p in root.glob("*/runs/*.jsonl") if not p.name.endswith(".history.jsonl")]


def events_of(kind: str) -> list[dict[str, object]]:
    found = []
    for log in run_logs():
        for line in log.read_text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == kind:
                found.append(e)
    return found


def test_a_stopped_guardrun_leaking_tree_is_stopped_by_the_sentinel(tmp_path: Path) -> None:
    started = tmp_path / "starts"
    with Guarded(
        "--no-pty", *levels("60MB", "80MB", "120MB"), "--interval", "200ms", "--grace", "1s",
        "--", *child("leak.py", "--starts", str(started), "--to", "400", "--rate", "40"),
        cwd=tmp_path,
    ) as g:  # fmt: skip
        pid = wait_for(lambda: starts(started), timeout=15)
        assert isinstance(pid, list)
        time.sleep(0.5)  # a few samples: the sentinel knows the tree and is armed
        os.kill(g.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            # Unwatched, the leak passes 120 MB within ~3 s; the sentinel looks after 5 s
            # without a sample (10 intervals are 2 s) and stops the tree.
            wait_for(lambda: not is_alive(pid[0]), timeout=20)
            assert time.monotonic() - stopped_at < 15
            (event,) = wait_for(lambda: events_of("sentinel_stopped"), timeout=5)  # type: ignore[misc]
            assert event["memory_bytes"] >= 120_000_000  # type: ignore[operator]
            assert event["emergency_bytes"] == 120_000_000
            assert float(event["stalled_s"]) >= 5.0  # type: ignore[arg-type]
            # `guardrun status` shows it for the stopped run (its live file).
            status = subprocess.run(
                guardrun("status", "--json"), capture_output=True, text=True, timeout=30
            )
            (run,) = json.loads(status.stdout)
            assert run["pid"] == g.pid and run["sentinel"]["event"] == "sentinel_stopped"
            table = subprocess.run(guardrun("status"), capture_output=True, text=True, timeout=30)
            assert "the sentinel stopped" in " ".join(table.stdout.split()), table.stdout
        finally:
            os.kill(g.pid, signal.SIGCONT)
        g.stop(signal.SIGTERM)
    # `guardrun report` lists it; the next start says it once.
    for how in ("--text", "-o"):  # the summary, and the HTML page's list of events
        page = tmp_path / "report.html"
        args = ("--text",) if how == "--text" else ("-o", str(page))
        report = subprocess.run(guardrun("report", *args), capture_output=True, text=True,
                                timeout=60, cwd=tmp_path)  # fmt: skip
        shown = report.stdout if how == "--text" else page.read_text()
        assert "the sentinel stopped" in shown, report.stdout + report.stderr
    nxt = subprocess.run(guardrun("--no-pty", "--", "true"), capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)  # fmt: skip
    assert "the sentinel stopped run" in nxt.stderr, nxt.stderr
    again = subprocess.run(guardrun("--no-pty", "--", "true"), capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)  # fmt: skip
    assert "the sentinel stopped" not in again.stderr


def test_the_sentinel_never_acts_while_the_loop_samples(tmp_path: Path) -> None:
    """Over emergency for longer than the switch's 5 s, with restarts exhausted (monitor
    only): guardrun keeps sampling, so the tree is guardrun's to judge, not the sentinel's."""
    started = tmp_path / "starts"
    with Guarded(
        "--no-pty", *levels("30MB", "40MB", "60MB"), "--interval", "200ms",
        "--no-restart", "--on-exhausted", "monitor",
        "--", *child("leak.py", "--starts", str(started), "--to", "100"),
        cwd=tmp_path,
    ) as g:  # fmt: skip
        pid = wait_for(lambda: starts(started), timeout=15)
        assert isinstance(pid, list)
        time.sleep(8.0)
        assert is_alive(pid[0])
        g.stop(signal.SIGTERM)
    assert not events_of("sentinel_stopped")
