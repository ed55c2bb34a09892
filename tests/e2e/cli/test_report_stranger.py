"""Issue 27: ``guardrun report`` and ``guardrun status`` read histories and event logs that
anyone could have planted or broken. A planted field never reaches the HTML unescaped
or the terminal raw, a malformed one is skipped (never exit 70), a FIFO or a link to
/dev/zero never hangs them, a huge file is read within bounds and the cut is said; the
page is written 0600. And two figures were wrong: the processes a restart killed showed
as "?", and a refused restart was counted as asked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support import CHILDREN, PY, ROOT, named_guardrun

from guardrun.state.project import project_root
from guardrun.state.store import Store

MB = 1_000_000
RUN = "20250131T080000Z-a1b2c3"
T0 = time.mktime((2025, 1, 31, 8, 0, 0, 0, 0, -1))
TH = {"warning": 100 * MB, "critical": 200 * MB, "emergency": 300 * MB}
META = {"k": "meta", "run_id": RUN, "name": "claude", "agent": "claude", "metric": "rss",
        "thresholds": TH}  # fmt: skip


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"


def runs_dir(tmp: Path) -> tuple[Path, Path, Path]:
    project = tmp / "proj"
    project.mkdir(exist_ok=True)
    state = tmp / "state"
    runs = Store(state, project_root(project)).runs_dir
    runs.mkdir(parents=True, exist_ok=True)
    return project, state, runs


def write_run(runs: Path, lines: list[Any], events: list[dict[str, Any]]) -> None:
    (runs / f"{RUN}.samples.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with (runs / f"{RUN}.jsonl").open("w") as f:
        for e in events:
            e = dict(e)
            f.write(json.dumps({"time": iso(e.pop("t")), "run_id": RUN, **e}) + "\n")


def points(n: int = 20) -> list[dict[str, Any]]:
    return [{"t": T0 + i, "b": (50 + i) * MB, "lv": "normal", "m": "normal",
             "p": [[1000, (40 + i) * MB]]} for i in range(n)]  # fmt: skip


def guardrun(project: Path, state: Path, *args: str, timeout: float = 30) -> Any:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "guardrun", "--no-config", "--state-dir", str(state), *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


META_REFRESH = "<meta http-equiv=refresh content='0;url=https://example.invalid/'>"


def test_planted_fields_are_escaped_in_the_html(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    pts = points()
    pts[-1]["p"] = [[META_REFRESH, 5 * MB], [1000, 4 * MB]]  # a pid that is not an integer
    procs = [{"k": "proc", "pid": 1000, "name": "<b>claude</b>", "cmd": "<img src=x>"}]
    meta = {**META, "name": "<script>alert(1)</script>", "agent": "<i>x</i>"}
    events = [{"event": "restart_requested", "t": T0 + 10, "reason": "<iframe>",
               "why": "</title><meta http-equiv=refresh content=0>"}]  # fmt: skip
    write_run(runs, [meta, *procs, *pts], events)
    done = guardrun(project, state, "report", "-o", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r.html").read_text()
    for raw in ("<meta http-equiv=refresh", "<script>", "<b>", "<img", "<iframe>", "<i>x"):
        assert raw not in page, raw
    assert "&lt;script&gt;" in page and "&lt;b&gt;claude&lt;/b&gt;" in page


def test_report_text_shows_control_characters_visibly(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    procs = [{"k": "proc", "pid": 1000, "name": "a\x1b[2Jb", "cmd": "x"}]
    meta = {**META, "name": "\x1b]0;title\x07", "agent": "\x9b31m"}
    events = [{"event": "restart_requested", "t": T0 + 10, "reason": "\x1b[31mred"}]
    write_run(runs, [meta, *procs, *points()], events)
    done = guardrun(project, state, "report", "--text")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\x9b" not in done.stdout
    for shown in ("a\\x1b[2Jb", "\\x1b]0;title\\x07", "\\x9b31m", "\\x1b[31mred"):
        assert shown in done.stdout, (shown, done.stdout)


MALFORMED: list[dict[str, Any]] = [
    {"t": T0 + 30, "b": 60 * MB, "lo": "x"},
    {"t": 1e308, "b": 60 * MB},
    {"t": T0 + 31, "b": 60 * MB, "p": 5},
    {"t": T0 + 32, "b": 60 * MB, "p": [[1, "x"], "y", [2], None]},
    {"t": T0 + 33, "b": "big"},
    {"t": "now", "b": 1},
    {"t": T0 + 34, "b": 60 * MB, "g": "fast", "r": -5, "sys": "x", "lv": 3},
    {"t": T0 + 35, "b": -1},
    {"t": T0 + 36, "b": 10**30},
    {"k": "proc", "pid": "p", "name": 5},
    {"k": "proc", "pid": 1000, "name": ["x"], "cmd": {"a": 1}},
    [1, 2, 3],
    "text",
]


def test_malformed_fields_are_skipped_not_a_crash(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    meta = {**META, "thresholds": {"warning": "x", "critical": -5},
            "ram_total": "lots"}  # fmt: skip
    events = [
        {"event": "restart_requested", "t": T0 + 5, "reason": "critical", "memory_bytes": "x"},
        {"event": "level_changed", "t": T0 + 6, "level": "critical", "memory_bytes": 1e300},
        {"event": 5, "t": T0 + 7},
    ]
    write_run(runs, [meta, *points(), *MALFORMED], events)
    with (runs / f"{RUN}.samples.ndjson").open("a") as f:
        f.write('{"t": Infinity, "b": 1}\n{"t": NaN, "b": 1}\n{"t": 1e400, "b": 1}\n')
    for args in (["report", "--text"], ["report", "-o", str(tmp_path / "r.html")]):
        done = guardrun(project, state, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "internal error" not in done.stderr
    text = guardrun(project, state, "report", "--text").stdout
    assert "peak 69.0 MB" in text  # the good points are all there


def test_a_fifo_or_a_link_to_dev_zero_never_hangs_the_report(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    write_run(runs, [META, *points()], [{"event": "started", "t": T0}])
    samples = runs / f"{RUN}.samples.ndjson"
    samples.unlink()
    samples.symlink_to("/dev/zero")
    events = runs / f"{RUN}.jsonl"
    keep = events.read_text()
    events.unlink()
    os.mkfifo(events)
    start = time.monotonic()
    done = guardrun(project, state, "report", "--text", RUN, timeout=20)
    assert time.monotonic() - start < 15 and done.returncode == 0, done.stderr
    assert f"{samples}: not read" in done.stderr and f"{events}: not read" in done.stderr
    events.unlink()
    events.write_text(keep)


def test_a_huge_history_is_read_within_bounds_and_the_cut_is_said(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    write_run(runs, [META, *points()], [{"event": "started", "t": T0}])
    samples = runs / f"{RUN}.samples.ndjson"
    line = json.dumps({"t": T0 + 100, "b": 70 * MB, "p": [[1000, 60 * MB]]}) + "\n"
    with samples.open("a") as f:
        f.write(line * (40 * (1 << 20) // len(line)))  # 40 MiB
    done = guardrun(project, state, "report", "--text", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "read 32 MiB of 40 MiB" in done.stderr, done.stderr


_MAXRSS = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)\n"
    "sys.stderr.write(done.stderr)\n"
    "sys.stdout.write(done.stdout)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
)


def test_status_reads_a_bounded_tail_of_a_huge_history(tmp_path: Path) -> None:
    """A live run's history planted at 40 MiB: status reads a few MiB of it (the sparkline
    needs five minutes), says so, and stays small (it took 800 MB for 260 MB)."""
    state = tmp_path / "state"
    run_id = "20250131T080000Z-beefed"
    target = named_guardrun(tmp_path, CHILDREN / "live_target.py")
    proc = subprocess.Popen([PY, str(target), str(state), str(tmp_path / "m"), run_id],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        runs = state / "projects" / "p-12345678" / "runs"
        runs.mkdir(parents=True)
        now = time.time()
        line = json.dumps({"t": now - 400, "b": 70 * MB}) + "\n"
        with (runs / f"{run_id}.samples.ndjson").open("w") as f:
            f.write(line * (40 * (1 << 20) // len(line)))
            for i in range(100):
                f.write(json.dumps({"t": now - 100 + i, "b": (50 + i) * MB}) + "\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GUARDRUN_STATE_DIR": str(state)}
        start = time.monotonic()
        done = subprocess.run([PY, "-c", _MAXRSS, PY, "-m", "guardrun", "status"],
                              capture_output=True, text=True, env=env, timeout=90)  # fmt: skip
        took = time.monotonic() - start
        assert run_id in done.stdout, done
        maxrss_mb = int(done.stdout.split()[-1])
        assert "read 4 MiB of 40 MiB" in done.stderr, done.stderr
        assert maxrss_mb < 120 and took < 8, (maxrss_mb, took)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_refused_restarts_are_not_counted_as_asked(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    events = [
        {"event": "restart_requested", "t": T0 + 1, "reason": "critical"},
        {"event": "restart_refused", "t": T0 + 1, "reason": "critical", "why": "3 in 1h"},
        {"event": "restart_requested", "t": T0 + 5, "reason": "emergency"},
        {"event": "restarted", "t": T0 + 6, "attempt": 1},
        {"event": "restart_requested", "t": T0 + 9, "reason": "critical"},
        {"event": "restart_refused", "t": T0 + 9, "reason": "critical", "why": "3 in 1h"},
    ]
    write_run(runs, [META, *points()], events)
    text = guardrun(project, state, "report", "--text").stdout
    assert "restarts asked: 1" in text, text
    done = guardrun(project, state, "report", "-o", str(tmp_path / "r.html"))
    assert done.returncode == 0
    page = (tmp_path / "r.html").read_text()
    assert "1 restart asked" in page and page.count("restart at ") == 1


def test_the_report_page_is_written_for_its_owner_only(tmp_path: Path) -> None:
    project, state, runs = runs_dir(tmp_path)
    write_run(runs, [META, *points()], [{"event": "started", "t": T0}])
    os.umask(old := os.umask(0o022))
    try:
        done = guardrun(project, state, "report")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    page = project / f"guardrun-report-{RUN}.html"
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    (tmp_path / "target").write_text("keep")
    (tmp_path / "link.html").symlink_to(tmp_path / "target")
    done = guardrun(project, state, "report", "-o", str(tmp_path / "link.html"))
    assert done.returncode == 2 and (tmp_path / "target").read_text() == "keep"
    os.mkfifo(tmp_path / "fifo.html")  # no reader: the write would wait for one forever
    done = guardrun(project, state, "report", "-o", str(tmp_path / "fifo.html"), timeout=20)
    assert done.returncode == 2 and "fifo.html" in done.stderr, done.stderr


_NAMED = r"""
import ctypes, os, sys, time
name = b"\x1b]0;pwned\x07\x1b[2J"  # a title and a clear-screen, 15 bytes: comm's limit
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
if os.fork() == 0:  # the child has the name from its first moment, and the memory
    held = b"x" * 30_000_000
    time.sleep(float(sys.argv[1]))
    os._exit(0)
os.wait()
"""


def test_a_process_name_set_with_prctl_is_shown_not_obeyed(tmp_path: Path) -> None:
    """A real child renames itself with ESC sequences; the report (text) shows them as
    ``\\x1b``. It is also named while it runs: at the history's flush it is gone."""
    project = tmp_path / "proj"
    project.mkdir()
    state = tmp_path / "state"
    run = guardrun(project, state, "--no-pty", "--interval", "250ms", "--",
                   PY, "-c", _NAMED, "2")  # fmt: skip
    assert run.returncode == 0, run.stderr
    done = guardrun(project, state, "report", "--text")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in done.stdout, done.stdout


def test_processes_killed_by_a_restart_are_named_in_the_report(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    state = tmp_path / "state"
    leak = ROOT / "examples" / "leaky.py"
    run = guardrun(project, state, "--no-pty", "--warning", "60MB", "--critical", "90MB",
                   "--emergency", "130MB", "--cooldown", "0s", "--max-restarts", "1",
                   "--on-exhausted", "stop", "--interval", "250ms",
                   "--", sys.executable, str(leak), timeout=60)  # fmt: skip
    assert run.returncode == 75, run.stderr
    done = guardrun(project, state, "report", "-o", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r.html").read_text()
    table = page[page.index('<table class="procs">') :]
    rows = [r for r in table.split("<tr>") if r.startswith("<td>restart at")]
    assert rows, table[:2000]
    assert all("<td>?</td>" not in r for r in rows), rows
    assert all("leaky.py" in r for r in rows), rows  # its command line too, taken while it ran
