"""The event log: real files, real concurrent writers, a real full disk (/dev/full)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import REPO

from guardrun.events import RUN_ID_RE, EventLog, new_run_id, read_events, run_log_path


def test_run_id_format_and_order() -> None:
    a = new_run_id()
    b = new_run_id()
    assert RUN_ID_RE.match(a) and RUN_ID_RE.match(b)
    assert a != b
    assert a[:16] <= b[:16]


def test_emit_appends_json_lines_with_modes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "projects" / "p-12345678" / "runs" / "r.jsonl"
    log = EventLog(path, "20250101T000000Z-abcdef")
    ev = log.emit("level_changed", level="warning", memory_bytes=123, reason="sustained")
    log.emit("started", argv=["claude", "--x"], cwd=tmp_path)
    log.close()
    assert log.error is None
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == ev
    assert list(first)[:3] == ["time", "run_id", "event"]
    assert first["event"] == "level_changed" and first["memory_bytes"] == 123
    assert first["run_id"] == "20250101T000000Z-abcdef"
    assert first["time"].endswith("Z") and len(first["time"]) == len("2025-01-01T00:00:00.000Z")
    assert json.loads(lines[1])["cwd"] == str(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_reopen_appends(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with EventLog(path, "x") as log:
        log.emit("started")
    with EventLog(path, "x") as log:
        log.emit("stopped")
    assert [e["event"] for e in read_events(path)] == ["started", "stopped"]


def test_unknown_kind_and_reserved_fields_are_bugs(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "r.jsonl", "x")
    with pytest.raises(ValueError):
        log.emit("levelchanged")
    with pytest.raises(ValueError):
        log.emit("started", time="now")


def test_mirror_gets_each_line_and_can_be_swapped(tmp_path: Path) -> None:
    seen: list[str] = []
    log = EventLog(tmp_path / "r.jsonl", "x", mirror=seen.append)
    log.emit("started")
    log.set_mirror(None)
    log.emit("level_changed", level="warning")
    log.set_mirror(seen.append)
    log.emit("stopped")
    assert [json.loads(s)["event"] for s in seen] == ["started", "stopped"]


def test_broken_mirror_does_not_raise(tmp_path: Path) -> None:
    def broken(line: str) -> None:
        raise OSError("stderr closed")

    log = EventLog(tmp_path / "r.jsonl", "x", mirror=broken)
    log.emit("started")
    assert len(read_events(tmp_path / "r.jsonl")) == 1


def test_unwritable_directory_disables_log_without_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    seen: list[str] = []
    log = EventLog(blocker / "runs" / "r.jsonl", "x", mirror=seen.append)
    assert log.error is not None and "cannot open event log" in log.error
    log.emit("started")
    assert len(seen) == 1


def test_full_disk_disables_log_without_raising() -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    seen: list[str] = []
    log = EventLog(Path("/dev/full"), "x", mirror=seen.append)
    assert log.error is None
    log.emit("started")
    assert log.error is not None and "cannot write event log" in log.error
    log.emit("stopped")  # no retry, no exception
    assert len(seen) == 2


def test_no_path_only_mirrors() -> None:
    seen: list[str] = []
    log = EventLog(None, "x", mirror=seen.append)
    log.emit("started")
    assert log.error is None and len(seen) == 1


_WRITER = """
import sys
from pathlib import Path
from guardrun.events import EventLog
log = EventLog(Path(sys.argv[1]), sys.argv[2])
for i in range(150):
    log.emit("hook_output", n=i, output=sys.argv[2] * 3000)
"""


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Two processes and two threads write 12 KB lines to one file; every line stays whole."""
    path = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag], env=env)
        for tag in ("a", "b")
    ]
    log = EventLog(path, "t")

    def write(tag: str) -> None:
        for i in range(150):
            log.emit("hook_output", n=i, output=tag * 3000)

    threads = [threading.Thread(target=write, args=(t,)) for t in ("c", "d")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=30) == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 600
    for line in lines:
        ev = json.loads(line)
        assert len(set(ev["output"])) == 1


def test_read_events_skips_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    log = EventLog(path, "x")
    log.emit("started")
    log.close()
    with open(path, "a") as f:
        f.write('{"time": "2025-')
    assert [e["event"] for e in read_events(path)] == ["started"]
    assert read_events(tmp_path / "missing.jsonl") == []


def test_run_log_path_checks_id(tmp_path: Path) -> None:
    rid = new_run_id()
    assert run_log_path(tmp_path, rid) == tmp_path / "runs" / f"{rid}.jsonl"
    with pytest.raises(ValueError):
        run_log_path(tmp_path, "../../etc/passwd")
