"""The sentinel's record is read back at the next start: as a stranger's file."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from guardrun.observe.lastresort import SEEN, SUFFIX, tell


def test_a_record_is_said_once_and_marked_seen(tmp_path: Path) -> None:
    record = {"run_id": "r1", "time": "2026-12-07T00:00:00Z", "reason": "not sampling",
              "memory_bytes": 300 << 20, "emergency_bytes": 250 << 20}  # fmt: skip
    (tmp_path / f"r1{SUFFIX}").write_text(json.dumps(record))
    said: list[str] = []
    assert tell(tmp_path, said.append) == 1
    assert len(said) == 1 and "r1" in said[0] and "emergency" in said[0]
    assert (tmp_path / f"r1{SEEN}").exists() and not (tmp_path / f"r1{SUFFIX}").exists()
    assert tell(tmp_path, said.append) == 0 and len(said) == 1  # once


def test_a_planted_fifo_or_escape_neither_hangs_nor_reaches_the_terminal(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / f"fifo{SUFFIX}")  # a writer that never comes
    (tmp_path / f"esc{SUFFIX}").write_text(json.dumps({"run_id": "x\x1b[2Jy"}))
    said: list[str] = []
    done = threading.Event()

    def start() -> None:
        tell(tmp_path, said.append)
        done.set()

    threading.Thread(target=start, daemon=True).start()
    assert done.wait(5), "tell() blocked on a FIFO"
    assert len(said) == 1 and "\x1b" not in said[0] and "\\x1b[2J" in said[0]
