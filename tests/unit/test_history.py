"""The sample history: bounded (a day stays small), crash-safe within FLUSH seconds
(what was appended is readable without a close), compaction keeps the envelope."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from guardrun.observe.history import COMPACT, FLUSH, History, downsample, merge
from guardrun.observe.history_read import read_history

MB = 1_000_000
T0 = 1_700_000_000.0


def make(path: Path, clock: list[float]) -> History:
    return History(
        path,
        {"run_id": "r", "thresholds": {"warning": 100 * MB}},
        describe=lambda pid: {"name": f"p{pid}"},
        system=lambda: 8000 * MB,
        clock=lambda: clock[0],
    )


def feed(h: History, clock: list[float], seconds: int, start: float = T0) -> None:
    for i in range(seconds):
        t = start + i
        clock[0] = t
        value = 500 * MB + i * 1000 + (i % 60) * MB  # a leak with a sawtooth
        h.add(t, value, "normal", "normal", 10.0, [(100, value - MB), (101 + i % 5, MB)])


def test_what_was_flushed_is_readable_before_close(tmp_path: Path) -> None:
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    h = make(path, clock)
    feed(h, clock, 12)
    got = read_history(path)  # no close: a crash now loses at most the last FLUSH seconds
    assert got.meta["run_id"] == "r"
    assert len(got.points) >= 12 - FLUSH - 1
    assert got.procs[100]["name"] == "p100"
    assert any(p.get("sys") == 8000 * MB for p in got.points)
    h.close()
    assert len(read_history(path).points) == 12


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    h = make(path, clock)
    feed(h, clock, 20)
    h.close()
    with path.open("ab") as f:
        f.write(b'{"t": 1700000100.0, "b": 12')
    assert len(read_history(path).points) == 20


def test_a_day_is_bounded_and_keeps_the_peaks(tmp_path: Path) -> None:
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    h = make(path, clock)
    day = 86400
    feed(h, clock, day)
    h.close()
    got = read_history(path)
    size = path.stat().st_size
    assert size < 1_000_000, size
    assert len(got.points) < 3600
    # the newest 10 minutes in full
    assert sum(1 for p in got.points if "r" not in p) >= 590
    # the peak survives merging: the highest value fed is the highest kept
    top = max(500 * MB + i * 1000 + (i % 60) * MB for i in range(day))
    assert max(p["b"] for p in got.points) == top
    assert sum(p.get("n", 1) for p in got.points) == day


def test_compaction_rewrites_with_the_meta_first(tmp_path: Path) -> None:
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    h = make(path, clock)
    feed(h, clock, int(COMPACT) * 3 + 700)
    h.set_meta(name="claude")
    feed(h, clock, 20, start=clock[0] + 1)
    h.close()
    first = path.read_text().splitlines()[0]
    assert '"k":"meta"' in first and '"name":"claude"' in first
    assert not list(tmp_path.glob(".*.tmp"))


def test_merge_keeps_the_envelope_and_the_worst_level() -> None:
    pts = [
        {"t": T0 + 1, "b": 5, "lv": "normal", "p": [[1, 5]]},
        {"t": T0 + 2, "b": 9, "lv": "critical", "p": [[2, 9]]},
        {"t": T0 + 3, "b": 3, "lv": "warning", "m": "monitor_only"},
    ]
    m = merge(pts, 10.0)
    assert (m["b"], m["lo"], m["n"], m["lv"], m["p"], m["m"]) == (
        9, 3, 3, "critical", [[2, 9]], "monitor_only",
    )  # fmt: skip
    assert m["t"] == (T0 + 1) // 10 * 10


def test_downsample_leaves_recent_points_alone() -> None:
    now = T0 + 10_000
    pts = [{"t": now - 100 + i, "b": i} for i in range(50)]
    assert downsample(pts, now) == pts


def test_an_unwritable_directory_turns_it_off(tmp_path: Path) -> None:
    clock = [T0]
    blocker = tmp_path / "file"
    blocker.write_text("")
    h = make(blocker / "sub" / "h.samples.ndjson", clock)
    feed(h, clock, 10)  # raises nothing
    h.close()
    assert h.error and "sample history" in h.error


def test_compaction_replaces_the_file_and_never_writes_it_in_place(tmp_path: Path) -> None:
    """A compaction is a new file renamed over the old one (its inode changes), so a
    reader or a crash mid-write never sees half a history."""
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    h = make(path, clock)
    feed(h, clock, 30)
    before = path.stat().st_ino
    h.set_meta(name="claude")  # the next flush compacts
    feed(h, clock, 10, start=clock[0] + 1)
    assert path.stat().st_ino != before
    h.close()
    assert len(read_history(path).points) == 40


# Run in a child: RLIMIT_FSIZE (a real "file too large" from the kernel, as a full disk
# gives ENOSPC) must not reach pytest's own files.
FAILED_COMPACTION = """
import resource, signal, sys
from guardrun.observe.history import History
from guardrun.observe.history_read import read_history
path, t0 = sys.argv[1], float(sys.argv[2])
clock = [t0]
h = History(path, {"run_id": "r"}, clock=lambda: clock[0])
for i in range(200):
    clock[0] = t0 + i
    h.add(clock[0], 500_000_000 + i, "normal", "normal", 10.0, [(100, 400_000_000)])
h.flush()
kept = len(read_history(path).points)
size = len(open(path, "rb").read())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
h.set_meta(name="claude")  # the next flush compacts: a whole new file, larger than the limit
clock[0] += 1
h.add(clock[0], 600_000_000, "normal", "normal", 10.0, [(100, 400_000_000)])
h.flush()
assert h.error is not None, "the compaction did not fail"
print(kept, len(read_history(path).points))
"""


def test_a_compaction_whose_write_fails_keeps_every_point(tmp_path: Path) -> None:
    path = tmp_path / "h.samples.ndjson"
    done = subprocess.run(
        [sys.executable, "-c", FAILED_COMPACTION, str(path), str(T0)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kept, after = map(int, done.stdout.split())
    assert kept == 200
    assert after == kept, "the failed compaction lost the history it was replacing"
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_first_write_makes_the_file_private_and_a_taken_name_is_replaced(
    tmp_path: Path,
) -> None:
    """The first flush creates the file itself (0600, no temporary file: nothing earlier
    to protect); a file already at the path is never appended to, but replaced whole."""
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    h = make(path, clock)
    feed(h, clock, 12)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    h.close()
    assert len(read_history(path).points) == 12

    taken = tmp_path / "taken.samples.ndjson"
    taken.write_bytes(b'{"k": "meta", "run_id": "someone else"}\n{"t": 1.0, "b": 7}\n')
    taken.chmod(0o644)
    h = make(taken, clock)
    feed(h, clock, 12)
    h.close()
    got = read_history(taken)
    assert got.meta["run_id"] == "r" and len(got.points) == 12
    assert taken.stat().st_mode & 0o777 == 0o600


def test_a_process_caught_in_its_exec_is_named_again_while_it_runs(tmp_path: Path) -> None:
    """A child sampled as its exec completes has no command line yet (and its parent's
    name): it is described again at the next sample, so the line written after it is gone
    names what it ran (under load, the report showed an empty command for the child a
    restart had killed before the first write)."""
    clock = [T0]
    path = tmp_path / "h.samples.ndjson"
    now = {"says": {"name": "python", "cmd": ""}}  # mid-exec: guardrun's name, no arguments
    h = History(path, {"run_id": "r"}, describe=lambda pid: now["says"],
                clock=lambda: clock[0])  # fmt: skip

    def sample(at: float) -> None:
        clock[0] = T0 + at
        h.add(clock[0], 100 * MB, "normal", "normal", None, [(4242, 100 * MB)])

    sample(0)
    now["says"] = {"name": "node", "cmd": "node agent.js"}  # its exec done
    sample(1)
    now["says"] = {}  # killed by a restart: gone by the first write
    sample(FLUSH + 1)
    h.close()
    named = read_history(path).procs[4242]
    assert (named["name"], named["cmd"]) == ("node", "node agent.js")
