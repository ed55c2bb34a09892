"""One run's event log has a cap (issue 26: no configuration fills the disk)."""

from __future__ import annotations

import json
from pathlib import Path

from guardrun.observe.events import EventLog


def test_an_event_log_stops_at_its_cap(tmp_path: Path) -> None:
    """No configuration fills the disk through one run's log: past max_bytes one last
    `log_full` line, then nothing (the mirror still gets every event)."""
    seen: list[str] = []
    log = EventLog(tmp_path / "run.jsonl", "20260101T000000Z-abcdef", mirror=seen.append,
                   max_bytes=4096)  # fmt: skip
    for i in range(200):
        log.emit("level_changed", level="warning", memory_bytes=i)
    log.close()
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert len(seen) == 200 and 10 < len(lines) < 60
    assert json.loads(lines[-1])["event"] == "log_full"
    assert all(json.loads(x)["event"] == "level_changed" for x in lines[:-1])
    assert (tmp_path / "run.jsonl").stat().st_size <= 4096 + 200
    assert log.error is not None and "full" in log.error
