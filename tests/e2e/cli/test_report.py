"""``guardrun report``: a synthetic day-long run (history and event log as a run writes
them) rendered by the real CLI, then loaded in a real headless Chromium: no console
errors, no network request, the chart drawn, one marker per event; under 1 MB. And a
real short run of a leaking child, reported as text and HTML."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import ROOT
from support.browser import Browser, chromium, coloured_share

from guardrun.commands.report_data import MARKERS
from guardrun.observe.history import downsample
from guardrun.state.project import project_root
from guardrun.state.store import Store

MB = 1_000_000
RUN = "20250131T080000Z-a1b2c3"
DAY = 86400
HOSTILE_NAME = "node<img id=gr-name src=x onerror=window.gr=1>"
HOSTILE_ARGV = 'node mcp.js "</td><script id=gr-argv>window.gr=2</script><b id=gr-bold>"'
# Elements the hostile name and argv would make, were they not escaped.
MADE = "document.querySelector('#gr-name, #gr-argv, #gr-bold')"


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def write_day(runs: Path, start: float) -> list[dict[str, Any]]:
    """A day at 1 s: a leak with a GC sawtooth, three restarts; returns the events."""
    runs.mkdir(parents=True, exist_ok=True)
    pts = []
    base = 600 * MB
    for i in range(DAY):
        phase = i % 28800  # a restart every 8 hours
        value = base + phase * 60_000 + (i % 90) * 3 * MB
        lv = "normal" if value < 1800 * MB else ("warning" if value < 2200 * MB else "critical")
        top = [[1000 + i // 28800, value - 150 * MB], [2000, 100 * MB], [2001, 50 * MB]]
        pts.append({"t": start + i, "b": value, "lv": lv, "m": "normal", "g": 60_000,
                    "sys": 16_000 * MB + value, "p": top})  # fmt: skip
    kept = downsample(pts, start + DAY)
    thresholds = {"warning": 1800 * MB, "critical": 2200 * MB, "emergency": 2600 * MB}
    meta = {"k": "meta", "run_id": RUN, "name": "claude", "agent": "claude", "metric": "rss",
            "ram_total": 32_000 * MB, "thresholds": thresholds}  # fmt: skip
    procs = [{"k": "proc", "pid": 1000 + n, "name": "claude", "cmd": "claude --resume x"}
             for n in range(3)]  # fmt: skip
    # A process may name itself anything and take any argv: the page must show them as text.
    procs += [{"k": "proc", "pid": 2000, "name": HOSTILE_NAME, "cmd": HOSTILE_ARGV},
              {"k": "proc", "pid": 2001, "name": "rg", "cmd": "rg foo"}]  # fmt: skip
    lines = [meta, *procs, *kept]
    (runs / f"{RUN}.samples.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    events: list[dict[str, Any]] = [{"event": "started", "t": start}]
    for r in range(3):
        t = start + r * 28800
        events += [
            {"event": "level_changed", "t": t + 20000, "previous": "normal", "level": "warning",
             "memory_bytes": 1800 * MB},
            {"event": "state_captured", "t": t + 20001, "reason": "warning",
             "state_id": f"20250131T{r:02d}0000Z-warning-ab1{r}", "memory_bytes": 1800 * MB},
            {"event": "level_changed", "t": t + 26700, "previous": "warning", "level": "critical",
             "memory_bytes": 2200 * MB},
            {"event": "trend", "t": t + 26700, "growth_bytes_per_second": 60000},
            {"event": "restart_requested", "t": t + 28790, "reason": "planned",
             "memory_bytes": 2300 * MB},
            {"event": "restarted", "t": t + 28799, "attempt": r + 1, "session_id": "s-<1>"},
        ]  # fmt: skip
    with (runs / f"{RUN}.jsonl").open("w") as f:
        for e in events:
            f.write(json.dumps({"time": iso(e.pop("t")), "run_id": RUN, **e}) + "\n")
    return events


@pytest.fixture
def day(tmp_path: Path) -> tuple[Path, Path, int]:
    project = tmp_path / "proj"
    project.mkdir()
    state = tmp_path / "state"
    runs = Store(state, project_root(project)).runs_dir
    events = write_day(runs, time.mktime((2025, 1, 31, 8, 0, 0, 0, 0, -1)))
    return project, state, sum(1 for e in events if e["event"] in MARKERS)


def guardrun(project: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "guardrun", "--no-config", "--state-dir", str(state), *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Browser]:
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium here: `apt-get install chromium` (.ci/run installs it)")
    b = Browser(binary)
    yield b
    b.close()


def test_a_day_long_report_is_small_and_draws_in_chromium(
    day: tuple[Path, Path, int], browser: Browser, tmp_path: Path
) -> None:
    project, state, markers = day
    out = tmp_path / "report.html"
    done = guardrun(project, state, "report", "latest", "-o", str(out))
    assert done.returncode == 0, done.stderr
    size = out.stat().st_size
    assert size < 1_000_000, size
    assert "<script" not in out.read_text()
    browser.open(out.as_uri())
    assert browser.console_problems() == []
    assert [u for u in browser.requests() if not u.startswith("file:")] == []
    assert browser.evaluate("document.querySelectorAll('svg.chart .marker').length") == markers
    n = browser.evaluate("document.querySelector('svg.chart .tree').points.numberOfItems")
    assert n > 2000
    tip = browser.evaluate("document.querySelector('.marker[data-kind=state_captured] title')"
                           ".textContent")  # fmt: skip
    assert "20250131T000000Z-warning-ab10" in tip
    assert browser.evaluate(f"{MADE} === null && window.gr === undefined")
    cells = browser.evaluate(
        "[...document.querySelectorAll('table.procs td')].map(td => td.textContent)"
    )
    assert HOSTILE_NAME in cells and HOSTILE_ARGV in cells
    png = browser.screenshot()
    assert coloured_share(png) > 0.02  # a blank page is 0
    (tmp_path / "report.png").write_bytes(png)


def test_hostile_process_names_and_argv_are_text_in_the_page(
    day: tuple[Path, Path, int], tmp_path: Path
) -> None:
    """Without a browser: the name and argv appear escaped, never as markup."""
    project, state, _ = day
    out = tmp_path / "report.html"
    assert guardrun(project, state, "report", "latest", "-o", str(out)).returncode == 0
    page = out.read_text()
    assert html.escape(HOSTILE_NAME) in page and html.escape(HOSTILE_ARGV) in page
    for markup in ("<img id=gr-name", "<script id=gr-argv", "<b id=gr-bold", "</td><script"):
        assert markup not in page


def test_text_summary_and_since(day: tuple[Path, Path, int]) -> None:
    project, state, _ = day
    done = guardrun(project, state, "report", "--text")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert RUN in text and "restarts asked: 3" in text and "planned" in text
    assert "claude" in text and "node" in text
    short = guardrun(project, state, "report", "--text", "--since", "2h").stdout
    assert "restarts asked: 1" in short


def test_unknown_and_bad_run_ids(day: tuple[Path, Path, int]) -> None:
    project, state, _ = day
    assert guardrun(project, state, "report", "--text", "2030").returncode == 66
    bad = guardrun(project, state, "report", "--text", "../../etc")
    assert bad.returncode == 2 and "not a run id" in bad.stderr


def test_a_real_leaking_run_is_reported(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    state = tmp_path / "state"
    leak = ROOT / "examples" / "leaky.py"
    run = guardrun(project, state, "--no-pty", "--warning", "60MB", "--critical", "90MB",
                   "--emergency", "130MB", "--cooldown", "0s", "--max-restarts", "1",
                   "--on-exhausted", "stop", "--interval", "250ms",
                   "--", sys.executable, str(leak))  # fmt: skip
    assert run.returncode == 75, run.stderr
    text = guardrun(project, state, "report", "--text")
    assert "restart requested (emergency)" in text.stdout, text.stdout
    html = guardrun(project, state, "report", "-o", str(tmp_path / "r.html"))
    assert html.returncode == 0
    page = (tmp_path / "r.html").read_text()
    assert page.count('class="marker"') >= 3 and "leaky.py" in page
