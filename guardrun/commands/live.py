"""``guardrun status|restart|capture``: see and steer live runs from another terminal.

Live runs are found through their status files (:mod:`guardrun.observe.live`). A run is
asked to act by signal, which its supervisor loop records and acts on:
SIGUSR1 restarts the child (through restart protection), SIGUSR2 captures
state. rich is imported only when a table is drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.errors import Refused, UsageError
from guardrun.escape import visible
from guardrun.observe.live_read import is_guardrun, list_live
from guardrun.platform import is_same_process
from guardrun.units import format_bytes, format_eta, format_rate

if TYPE_CHECKING:
    from typing import Any

# A run id (``20250131T120000Z-a1b2c3``) or a prefix of one; a pid is all digits.
_RUN_REF_RE = re.compile(r"^[0-9A-Za-z-]{1,32}$")
ACTIONS = {"restart": "restart", "capture": "capture state"}


def add_live_parsers(subparsers: Any) -> None:
    """Add ``status``, ``restart`` and ``capture`` to the CLI's subparsers."""
    p = subparsers.add_parser("status", help="live guardrun runs on this machine")
    p.add_argument("--watch", action="store_true", help="refresh every second until Ctrl-C")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(live_command="status")
    for name, what in (("restart", "restart its command now"), ("capture", "capture state now")):
        p = subparsers.add_parser(name, help=f"ask a live run to {what}")
        p.add_argument(
            "run",
            metavar="RUN",
            nargs="?",
            default=None,
            help="pid or run id (or a unique prefix); default: the one run in this directory",
        )
        p.set_defaults(live_command=name)


def run_live(args: argparse.Namespace, state_dir: Path, cwd: Path) -> int:
    """Dispatch on ``args.live_command``."""
    command = args.live_command
    if command == "status":
        return run_status(args, state_dir, cwd)
    if command == "restart":
        return run_signal(args, state_dir, cwd, _signal("SIGUSR1"))
    if command == "capture":
        return run_signal(args, state_dir, cwd, _signal("SIGUSR2"))
    raise UsageError(f"unknown command {command!r}")


def _signal(name: str) -> int:
    sig = getattr(signal, name, None)
    if sig is None:
        raise UsageError(f"{name} does not exist on this system: live runs cannot be signalled")
    return int(sig)


def _live(state_dir: Path) -> list[dict[str, Any]]:
    problems: list[str] = []
    runs = list_live(state_dir, problems)
    for p in problems:
        print(f"guardrun: {p}", file=sys.stderr)
    for run in runs:  # null when unknown, also from a run of an older guardrun
        for name in TREND_FIELDS:
            run.setdefault(name, None)
    plan = machine_plan(runs)
    for run in runs:
        run["machine"] = plan
    return runs


def machine_plan(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """All runs together, as each of them judges it: the total, the budget, the machine's
    level, and when over (or the machine critical) which run gives way next and why."""
    from guardrun.fleet.budget import judge
    from guardrun.fleet.machine import member

    budgets = [r["budget_bytes"] for r in runs if isinstance(r.get("budget_bytes"), int)]
    levels = [str(r.get("machine_level") or "normal") for r in runs]
    level = max(levels, key=_LEVELS.index, default="normal") if levels else "normal"
    budget = min(budgets) if budgets else None
    verdict = judge([member(r) for r in runs], budget, level == "critical")
    return {
        "runs": len(runs),
        "total_bytes": verdict.total,
        "budget_bytes": budget,
        "over": verdict.over,
        "machine_level": level,
        "next_pid": verdict.chosen.pid if verdict.chosen else None,
        "why": verdict.why or None,
    }


_LEVELS = ["normal", "warning", "critical", "emergency"]


def _plan_line(plan: dict[str, Any]) -> str:
    budget = plan["budget_bytes"]
    text = (
        f"{plan['runs']} run{'s' if plan['runs'] != 1 else ''}, {format_bytes(plan['total_bytes'])}"
    )
    if budget is not None:
        text += f" of a {format_bytes(budget)} budget" + (" (over)" if plan["over"] else "")
    text += f"; machine {plan['machine_level']}"
    if plan["next_pid"] is not None:
        text += f"; next to give way: {plan['next_pid']} ({plan['why']})"
    return text


def _command(run: dict[str, Any]) -> str:
    argv = run.get("argv")
    if isinstance(argv, list) and argv:
        return " ".join(visible(a) for a in argv)
    return "?"


BARS = "▁▂▃▄▅▆▇█"


def sparkline(
    points: list[tuple[float, int]], now: float, span: float = 300.0, width: int = 20
) -> str:
    """The tree's memory over the last ``span`` seconds in ``width`` characters, each the
    highest sample of its slice, scaled from the lowest to the highest shown ("" if none)."""
    slots: list[int | None] = [None] * width
    start = now - span
    for t, value in points:
        if t < start or t > now:
            continue
        i = min(width - 1, int((t - start) / span * width))
        old = slots[i]
        slots[i] = value if old is None else max(old, value)
    known = [v for v in slots if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    out = []
    for v in slots:
        if v is None:
            out.append(" ")
        elif high == low:
            out.append(BARS[0])
        else:
            out.append(BARS[round((v - low) / (high - low) * (len(BARS) - 1))])
    return "".join(out).rstrip()


def _recent(state_dir: Path, run: dict[str, Any], now: float) -> str:
    """The run's last 5 minutes from its sample history, as a sparkline ("" if none)."""
    from guardrun.observe.events import is_run_id
    from guardrun.observe.history_read import read_history

    run_id = run.get("run_id")
    if not isinstance(run_id, str) or not is_run_id(run_id):
        return ""  # never a path from an unchecked id
    for path in state_dir.glob(f"projects/*/runs/{run_id}.samples.ndjson"):
        # Five minutes of samples are a few KB at the file's end: a planted 260 MB file
        # cost status 8.5 s and 800 MB when it was read whole.
        loaded = read_history(path, since=now - SPAN, limit=STATUS_READ, max_lines=20_000)
        if loaded.cut:
            print(f"guardrun: {visible(path)}: {loaded.cut}", file=sys.stderr)
        return sparkline([(p["t"], p["b"]) for p in loaded.points], now, SPAN)
    return ""


SPAN = 300.0  # seconds of history in a status sparkline
STATUS_READ = 4 << 20  # bytes of a history read for it


_COLUMNS = (("PID", 8), ("RUN", 25), ("MEMORY", 9), ("TREND", 13), ("LEVEL", 11), ("RESTARTS", 0))
_LEVEL_STYLE = {"warning": "yellow", "critical": "red", "emergency": "bold red"}
TREND_FIELDS = ("growth_bytes_per_second", "eta_critical_seconds", "eta_emergency_seconds")


def _table(runs: list[dict[str, Any]], state_dir: Path | None = None) -> Any:
    """Two lines per run so it reads in 80 columns: the numbers (memory, its growth
    rate, level), then the last 5 minutes as a sparkline, command, child, cwd, the mode
    when not normal and the time left until the next threshold at the current rate."""
    from rich.text import Text

    def line(cells: list[str]) -> str:
        pairs = zip(cells, _COLUMNS, strict=True)
        return "".join((c + "  ").ljust(w) if w else c for c, (_, w) in pairs).rstrip()

    out = Text()
    if runs and isinstance(runs[0].get("machine"), dict):
        plan = runs[0]["machine"]
        out.append(_plan_line(plan) + "\n", style="red" if plan["next_pid"] else "dim")
    out.append(line([name for name, _ in _COLUMNS]) + "\n", style="bold")
    for run in runs:
        mem = run.get("memory_bytes")
        rate = run.get("growth_bytes_per_second")
        cells = [
            visible(run.get("pid", "?")),
            visible(run.get("run_id", "?")),
            format_bytes(mem) if isinstance(mem, (int, float)) else "-",
            format_rate(rate) if isinstance(rate, (int, float)) else "-",
            visible(run.get("level", "-")),
            visible(run.get("restarts", 0)),
        ]
        out.append(line(cells) + "\n", style=_LEVEL_STYLE.get(cells[4]))
        child = run.get("child_pid")
        # Every field of a live file is shown visibly: a cwd or argv may hold ESC sequences.
        detail = (
            f"{_command(run)}  (child {visible(child or '-')})  in {visible(run.get('cwd', '?'))}"
        )
        swapped = run.get("swapped_bytes")
        if isinstance(swapped, int) and swapped > 0 and isinstance(mem, (int, float)):
            detail = f"{format_bytes(mem)}, {format_bytes(swapped)} swapped  {detail}"
        recent = _recent(state_dir, run, time.time()) if state_dir is not None else ""
        if recent:
            detail = f"{recent}  {detail}"
        if run.get("mode") not in (None, "normal"):
            detail += f" · mode {visible(run.get('mode'))}"
        if isinstance(run.get("sentinel"), dict):
            from guardrun.observe.lastresort import describe as last_resort

            detail += f" · {visible(last_resort(run['sentinel']))}"
        if run.get("stopped"):
            detail += f" · stopped ({visible(run.get('stopped'))}: fg brings it back)"
        for level in ("critical", "emergency"):
            eta = run.get(f"eta_{level}_seconds")
            if isinstance(eta, (int, float)):
                detail += f" · {level} in {format_eta(eta)}"
                break
        out.append(" " * _COLUMNS[0][1] + detail + "\n", style="dim")
    out.rstrip()
    return out


def run_status(args: argparse.Namespace, state_dir: Path, cwd: Path) -> int:
    """Print live runs as a table or JSON; ``--watch`` refreshes each second until Ctrl-C."""
    as_json = bool(getattr(args, "json", False))
    if not getattr(args, "watch", False):
        runs = _live(state_dir)
        if as_json:
            print(json.dumps(runs, indent=2, default=str))
        elif not runs:
            print("no live guardrun runs")
        else:
            from rich.console import Console

            Console(highlight=False).print(_table(runs, state_dir))
        return 0
    try:
        if as_json:
            # One JSON document per line per second: easy to follow with jq.
            while True:
                print(json.dumps(_live(state_dir), default=str), flush=True)
                time.sleep(1.0)
        from rich.console import Group
        from rich.live import Live
        from rich.text import Text

        def view() -> Any:
            runs = _live(state_dir)
            stamp = Text(time.strftime("%H:%M:%S") + "  Ctrl-C to stop", style="dim")
            return Group(_table(runs, state_dir) if runs else Text("no live guardrun runs"), stamp)

        with Live(view(), auto_refresh=False, transient=False) as live:
            while True:
                time.sleep(1.0)
                live.update(view(), refresh=True)
    except KeyboardInterrupt:
        return 0


def _describe(runs: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"pid {visible(r.get('pid'))} run {visible(r.get('run_id', '?'))} "
        f"in {visible(r.get('cwd', '?'))}"
        for r in runs
    )


def resolve_run(ref: str | None, runs: list[dict[str, Any]], cwd: Path) -> dict[str, Any]:
    """The run ``ref`` names: a pid, a run id or a unique prefix, or (None) the one in ``cwd``."""
    if not runs:
        raise UsageError("no live guardrun runs on this machine")
    if ref is None:
        here = os.path.realpath(cwd)
        local = [r for r in runs if os.path.realpath(str(r.get("cwd", ""))) == here]
        if len(local) == 1:
            return local[0]
        if not local:
            raise UsageError(f"no live run in {cwd}; name one: {_describe(runs)}")
        raise UsageError(f"{len(local)} live runs in {cwd}; name one: {_describe(local)}")
    if not _RUN_REF_RE.match(ref):
        raise UsageError(f"{ref!r} is not a pid or run id")
    if ref.isdigit():
        by_pid = [r for r in runs if r.get("pid") == int(ref)]
        if by_pid:
            return by_pid[0]
    matches = [r for r in runs if str(r.get("run_id", "")).startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no live run {ref!r}; live: {_describe(runs)}")
    raise UsageError(f"{ref!r} matches {len(matches)} runs: {_describe(matches)}")


def run_signal(args: argparse.Namespace, state_dir: Path, cwd: Path, sig: int) -> int:
    """Send ``sig`` (SIGUSR1 restart, SIGUSR2 capture) to the run ``args.run`` names."""
    ref = getattr(args, "run", None)
    runs = _live(state_dir)
    if ref is not None and ref.isdigit() and not any(r.get("pid") == int(ref) for r in runs):
        if os.path.lexists(os.path.join(state_dir, "live", f"{int(ref)}.json")):
            # Its live file was not believed (said above): a refusal, not a typo.
            raise Refused(f"the live file of pid {int(ref)} is not believed: not signalling it")
    run = resolve_run(ref, runs, cwd)
    pid = int(run["pid"])
    # The file was checked a moment ago; check again right before signalling so a pid
    # reused in between never gets a signal meant for a guardrun. A file without an
    # identity, or naming a process that is not a guardrun (a forged live file), gets
    # nothing: SIGUSR1 kills most programs.
    identity = run.get("identity") or {}
    if not identity or not is_same_process(pid, identity):
        raise Refused(
            f"run {visible(run.get('run_id', pid))} (pid {pid}) has ended, or its live file "
            "does not say which process it is: not signalling it"
        )
    if not is_guardrun(pid):
        raise Refused(f"pid {pid} is not a guardrun (its live file is forged?): not signalling it")
    try:
        os.kill(pid, sig)
    except ProcessLookupError as err:
        raise Refused(f"run {visible(run.get('run_id', pid))} (pid {pid}) has just ended") from err
    except PermissionError as err:
        raise Refused(f"not allowed to signal pid {pid}: {err.strerror}") from err
    what = ACTIONS["restart" if sig == getattr(signal, "SIGUSR1", None) else "capture"]
    print(f"asked run {visible(run.get('run_id', '?'))} (pid {pid}) to {what}")
    return 0
