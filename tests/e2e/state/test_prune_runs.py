"""Issue 26: the event logs (runs/*.jsonl) and sample histories are pruned like states,
by count and age (state.keep, state.max_age), so no configuration fills the disk."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from support import guardrun

from guardrun.state import retention
from guardrun.state.project import project_root
from guardrun.state.store import Store

DAY = 86400.0


def plant(runs: Path, n: int, now: float) -> list[str]:
    """``n`` finished runs, the i-th last written i+1 days ago; their ids, newest first."""
    runs.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        rid = f"2026010{i % 10}T00000{i % 10}Z-{i:06x}"
        for suffix in (".jsonl", ".samples.ndjson"):
            path = runs / (rid + suffix)
            path.write_text('{"event":"started"}\n')
            os.utime(path, (now - (i + 1) * DAY, now - (i + 1) * DAY))
        ids.append(rid)
    return ids


def left(runs: Path) -> set[str]:
    return {p.name.split(".")[0] for p in runs.iterdir()}


def test_by_count_and_age_and_never_a_busy_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "state", tmp_path)
    store.ensure()
    runs = Path(store.dirs.runs)
    now = time.time()
    ids = plant(runs, 6, now)
    busy = "20260201T000000Z-abcdef"
    (runs / f"{busy}.jsonl").write_text("{}\n")  # a live run's: written just now
    (runs / "notes.txt").write_text("not ours\n")
    (runs / "20260101T000000Z-ffffff.jsonl.bak").write_text("not ours either\n")
    (runs / "20260101T000000Z-eeeeee.jsonl").symlink_to(tmp_path / "elsewhere")

    would = retention.prune_runs(store, keep=4, max_age=None, now=now, dry_run=True)
    assert len(would) == 3 * 2 and left(runs) >= set(ids)  # a dry run removes nothing
    removed = retention.prune_runs(store, keep=4, max_age=None, now=now)
    # The busy run counts among the newest: 3 planted ones stay with it.
    assert left(runs) - {"notes", "20260101T000000Z-ffffff", "20260101T000000Z-eeeeee"} == {
        busy,
        *ids[:3],
    }
    assert len(removed) == 6
    retention.prune_runs(store, keep=50, max_age=1.5 * DAY, now=now)
    assert {busy, ids[0]} <= left(runs) and ids[1] not in left(runs)
    assert (runs / "notes.txt").exists() and (runs / "20260101T000000Z-eeeeee.jsonl").is_symlink()
    retention.prune_runs(store, keep=0, max_age=0.0, now=now)
    assert busy in left(runs)  # never a live run's


def test_a_run_prunes_the_old_run_logs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    work = tmp_path / "work"
    work.mkdir()
    store = Store(state, project_root(work))
    store.ensure()
    runs = Path(store.dirs.runs)
    ids = plant(runs, 5, time.time())
    env = {**os.environ, "GUARDRUN_STATE_DIR": str(state), "GUARDRUN_STATE_KEEP": "3"}
    r = subprocess.run(guardrun("--no-pty", "--", "true"), cwd=work, env=env,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 0, r.stderr
    remaining = left(runs)
    assert len(remaining) == 3 and set(ids[:2]) <= remaining  # this run and the 2 newest
    r = subprocess.run(guardrun("state", "prune", "--keep", "1", "--older-than", "0s"),
                       cwd=work, env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "removed 4 run file(s): event logs and sample histories" in r.stdout
    assert len(left(runs)) == 1  # this run's: written just now


def test_a_start_looks_no_further_than_the_names_when_nothing_can_be_due(tmp_path: Path) -> None:
    """No more than ``keep`` runs, none started before ``max_age`` by its id: nothing is
    due, and the files are not even looked at (each one stat'ed cost every start). One
    run id older than ``max_age``, or one run too many, and every file is judged again."""
    now = time.time()
    store = Store(tmp_path / "state", project_root(tmp_path))
    store.ensure()
    runs = Path(store.dirs.runs)

    def run(rid: str, written_days_ago: float) -> None:
        for suffix in (".jsonl", ".samples.ndjson"):
            path = runs / (rid + suffix)
            path.write_text('{"event":"started"}\n')
            os.utime(path, (now - written_days_ago * DAY,) * 2)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - 3600))
    for i in range(3):  # started an hour ago by their ids, yet last written 30 days ago:
        run(f"{stamp}-{i:06x}", 30)  # only a clock that went back writes such files
    assert retention.prune_runs(store, keep=3, max_age=7 * DAY, now=now) == []
    assert len(left(runs)) == 3

    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - 8 * DAY))
    run(f"{old}-aaaaaa", 8)  # a run started 8 days ago: now every file is judged by its time
    removed = retention.prune_runs(store, keep=4, max_age=7 * DAY, now=now)
    assert len(removed) == 8 and left(runs) == set()

    for i in range(4):  # four recent runs with keep=3: the oldest written goes
        run(f"{stamp}-{i:06x}", i)
    removed = retention.prune_runs(store, keep=3, max_age=7 * DAY, now=now)
    assert left(runs) == {f"{stamp}-{i:06x}" for i in range(3)} and len(removed) == 2
