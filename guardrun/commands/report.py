"""``guardrun report [RUN...|latest] [--since D] [-o FILE] [--open] [--text]``.

What happened in a run, from its event log (``runs/<run-id>.jsonl``) and its sample
history (``runs/<run-id>.samples.ndjson``, see ``guardrun.observe.history``): one
self-contained HTML file (``report_html``), or with ``--text`` a compact summary for
a terminal. Several runs of the project can be given; each gets its own chart.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.commands.report_data import (
    RunData,
    asked_restarts,
    checked_event,
    clock,
    describe,
    top_at,
)
from guardrun.commands.report_steps import text_section, with_steps
from guardrun.errors import StateNotFound, UsageError
from guardrun.escape import visible
from guardrun.observe.events import is_run_id, read_events
from guardrun.observe.history_read import read_history
from guardrun.state.project import project_root
from guardrun.state.store import Store
from guardrun.units import format_bytes, format_duration, parse_duration

if TYPE_CHECKING:
    from typing import Any

_REF_RE = re.compile(r"^[0-9A-Za-z-]{1,40}$")  # checked before it is compared to file names


def add_report_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="a memory timeline of a run: HTML, or --text")
    p.add_argument(
        "runs", metavar="RUN", nargs="*", help="run id (or a unique prefix), or latest (default)"
    )
    p.add_argument("--since", metavar="DURATION", help="only the last DURATION of each run")
    p.add_argument("-o", "--output", metavar="FILE", help="where the HTML goes")
    p.add_argument("--open", action="store_true", help="open the report in a browser")
    p.add_argument("--text", action="store_true", help="a compact summary on stdout instead")
    p.add_argument(
        "--for-issue",
        action="store_true",
        help="Markdown for an agent's bug tracker (no prompt, output or file content)",
    )


def run_ids(runs_dir: Path) -> list[str]:
    """The runs with an event log, oldest first (ids sort by start time)."""
    try:
        names = [p.name for p in runs_dir.iterdir()]
    except OSError:
        return []
    ids = [n.removesuffix(".jsonl") for n in names if n.endswith(".jsonl")]
    return sorted(i for i in ids if is_run_id(i))


def pick(refs: list[str], known: list[str]) -> list[str]:
    if not known:
        raise StateNotFound("no runs recorded for this project yet")
    chosen: list[str] = []
    for ref in refs or ["latest"]:
        if ref == "latest":
            chosen.append(known[-1])
            continue
        if not _REF_RE.match(ref):
            raise UsageError(f"{ref!r} is not a run id")
        found = [i for i in known if i.startswith(ref)]
        if not found:
            raise StateNotFound(f"no run {ref!r} in this project (guardrun report --text lists)")
        if len(found) > 1:
            raise UsageError(f"{ref!r} matches {len(found)} runs: give more of the id")
        chosen.append(found[0])
    return list(dict.fromkeys(chosen))


def load_run(runs_dir: Path, run_id: str, since: float | None = None) -> RunData:
    """The run's event log and history, read with bounds (what was cut is said on stderr)
    and each field checked: a malformed one is dropped, never a crash."""
    cuts: list[str] = []
    events = []
    for e in read_events(runs_dir / f"{run_id}.jsonl", cuts):
        checked = checked_event(e)
        if checked is not None:
            events.append(checked)
    hist = read_history(runs_dir / f"{run_id}.samples.ndjson")
    if hist.cut:
        cuts.append(f"{runs_dir / run_id}.samples.ndjson: {hist.cut}")
    for what in cuts:
        sys.stderr.write(f"guardrun: report: {visible(what)}\n")
    data = RunData(run_id, hist.meta, hist.procs, hist.points, events)
    if since is None:
        return data
    cut = data.span[1] - since
    return data._replace(
        points=[p for p in data.points if p["t"] >= cut],
        events=[e for e in data.events if e["t"] >= cut],
    )


def text_summary(data: RunData) -> str:
    lines = [f"run {data.run_id}  {data.meta.get('name') or '?'} (agent {data.meta.get('agent')})"]
    start, end = data.span
    if end > start:
        lines.append(f"  {time.strftime('%Y-%m-%d %H:%M', time.localtime(start))}, "
                     f"{format_duration(end - start)}, {len(data.points)} points")  # fmt: skip
    th = data.meta.get("thresholds") or {}
    if th:
        lines.append("  thresholds " + " / ".join(format_bytes(v) for v in th.values()))
    peak = data.peak()
    if peak is not None:
        sw = f", {format_bytes(peak['sw'])} swapped" if peak.get("sw") else ""
        lines.append(
            f"  peak {format_bytes(peak['b'])}{sw} at {clock(peak['t'])} ({peak.get('lv')})"
        )
        lines.append(f"  top at the peak: {top_at(data, peak)}")
    lines.append(f"  restarts asked: {len(asked_restarts(data))}")
    for e in data.markers:
        if e.get("event") in ("restart_requested", "state_captured", "degraded", "child_exited",
                              "sentinel_stopped"):  # fmt: skip
            mem = f" {format_bytes(e['memory_bytes'])}" if e.get("memory_bytes") else ""
            lines.append(f"    {clock(e['t'])}{mem}  {describe(e)}")
    lines += text_section(data)
    # Names, commands and reasons come from files and processes: shown, never obeyed.
    return "\n".join(visible(line) for line in lines)


def run_report(args: argparse.Namespace, state_dir: Path, cwd: Path) -> int:
    store = Store(state_dir, project_root(cwd))
    runs_dir = store.runs_dir
    try:
        since = parse_duration(args.since) if args.since else None
    except ValueError as err:
        raise UsageError(f"--since: {err}") from err
    data = [load_run(runs_dir, i, since) for i in pick(list(args.runs), run_ids(runs_dir))]
    data = [with_steps(d, store) for d in data]
    if args.for_issue:
        from guardrun.commands.report_issue import for_issue

        sys.stdout.write("\n\n".join(for_issue(d) for d in data))
        return 0
    if args.text:
        sys.stdout.write("\n\n".join(text_summary(d) for d in data) + "\n")
        return 0
    from guardrun.commands.report_html import render

    out = Path(args.output) if args.output else cwd / f"guardrun-report-{data[-1].run_id}.html"
    page = render(data).encode("utf-8", "backslashreplace")
    try:
        write_private(out, page)
    except OSError as err:
        raise UsageError(f"-o {visible(out)}: {err.strerror or err}") from err
    sys.stdout.write(f"{visible(out)} ({len(page) // 1024} KB)\n")
    if args.open:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())
    return 0


def write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path``, readable by its owner only (0600: the page shows command
    lines and paths, and often lands in a shared repository), not through a symlink, and
    only into a regular file (a FIFO planted at the default name would block the write)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.ftruncate(fd, 0)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
