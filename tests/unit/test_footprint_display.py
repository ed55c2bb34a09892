"""Where the swapped part of the tree is shown: the title, the status table, the history
and the report's chart (the live file and the metrics textfile: test_metrics.py)."""

from __future__ import annotations

import time
from pathlib import Path

from guardrun.commands.live import _table
from guardrun.commands.report_data import RunData
from guardrun.commands.report_html import chart_svg
from guardrun.observe.history import merge
from guardrun.observe.notify import format_title
from guardrun.platform.types import ProcSample, TreeSample
from guardrun.supervisor.status import RunStatus

GB = 1_000_000_000


def test_the_title_says_how_much_is_swapped_once_it_matters() -> None:
    assert format_title("claude", 3_100_000_000, "warning", 1.0, swapped=1_200_000_000) == (
        "guardrun: claude 3.1 GB, 1.2 GB swapped ▲ warning"
    )
    assert format_title("claude", 3_100_000_000, "normal", swapped=1_200_000_000) == (
        "guardrun: claude 3.1 GB, 1.2 GB swapped"
    )
    # Under a tenth of the figure: not worth the title's room.
    assert (
        format_title("claude", 3 * GB, "normal", swapped=200_000_000) == "guardrun: claude 3.0 GB"
    )
    assert format_title("claude", 3 * GB, "normal") == "guardrun: claude 3.0 GB"


def test_status_shows_the_split() -> None:
    run = {
        "pid": 10, "run_id": "r1", "memory_bytes": 3_100_000_000, "swapped_bytes": 1_200_000_000,
        "level": "warning", "restarts": 0, "argv": ["claude"], "child_pid": 11, "cwd": "/w",
    }  # fmt: skip
    text = _table([run]).plain
    assert "3.1 GB, 1.2 GB swapped" in text
    assert "swapped" not in _table([{**run, "swapped_bytes": 0}]).plain


def test_the_status_snapshot_names_the_swapped_part_and_its_source() -> None:
    sample = TreeSample(time.monotonic(), (ProcSample(1, 0, 100, swap=40),))
    st = RunStatus("claude", "footprint", "normal", "normal", 0, sample=sample)
    assert st.memory_bytes == 140 and st.swapped_bytes == 40
    assert st.memory_source == "processes"
    assert RunStatus("claude", "rss", "normal", "normal", 0, sample=sample).memory_bytes == 100


def test_history_buckets_keep_the_swapped_part_of_their_highest_point() -> None:
    points = [
        {"t": 0.0, "b": 100, "sw": 10},
        {"t": 1.0, "b": 300, "sw": 200},
        {"t": 2.0, "b": 200},
    ]
    out = merge(points, 10.0)
    assert out["b"] == 300 and out["sw"] == 200


def test_the_report_draws_the_swapped_band(tmp_path: Path) -> None:
    points = [{"t": 1000.0 + i, "b": 100 * (i + 1), "sw": 30 * i} for i in range(5)]
    data = RunData("r1", {"thresholds": {"warning": 400}}, {}, points, [])
    svg = chart_svg(data)
    assert 'class="swap"' in svg
    data = RunData("r1", {}, {}, [{**p, "sw": 0} for p in points], [])
    assert 'class="swap"' not in chart_svg(data)
