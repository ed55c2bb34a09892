"""``guardrun report --for-issue [RUN]``: a run's memory story as Markdown for an agent's
bug tracker.

What it holds: versions (guardrun, Python, the agent as its transcript records it, Node.js
when one is on PATH), the OS and its RAM, the run's length and peak, the processes of the
tree at the peak (names, never command lines), the growth rate idle vs working, the growth by
agent step, restarts and their reasons, and the memory over time as a text chart. What it
never holds: a prompt, a response, a tool's input or output, a file's content, a path, an
argv. Times are offsets from the run's start (no clock time, no time zone). Every line is
built from names and numbers, and the whole text then passes through the redactor anyway.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from guardrun.commands.report_steps import AgentSteps, rate, signed
from guardrun.state.attribution import CAVEAT, IDLE
from guardrun.units import format_bytes, format_duration

if TYPE_CHECKING:
    from typing import Any

    from guardrun.commands.report_data import RunData

CHART_W, CHART_H = 60, 8
EVENTS_SHOWN = ("restart_requested", "restart_refused", "child_exited", "degraded")


_redactor: Any = None


def _cell(text: object) -> str:
    """A free-text field as a table cell: redacted as it is (a secret's context, such as
    the line end after ``password: X``, is still there), then made one line with no pipe
    (it would end the cell)."""
    global _redactor
    if _redactor is None:
        from guardrun.state.redact import Redactor

        _redactor = Redactor()
    return " ".join(str(_redactor.redact(str(text))).split()).replace("|", "/")


def _at(data: RunData, t: float) -> str:
    return "+" + format_duration(max(t - data.span[0], 0.0))


def _versions(found: AgentSteps | None, agent: str) -> list[tuple[str, str]]:
    import platform

    from guardrun import __version__

    rows = [("guardrun", f"{__version__} (Python {platform.python_version()})")]
    version = found.version if found is not None else None
    rows.append(("agent", f"{agent} {version}" if version else f"{agent} (version not recorded)"))
    node = _node_version()
    if node:
        rows.append(("Node.js on PATH", node))
    system = f"{platform.system()} {platform.release()} {platform.machine()}"
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME")
    except (OSError, AttributeError):
        name = None
    rows.append(("OS", f"{system} ({name})" if name else system))
    return rows


def _node_version() -> str | None:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        return None
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out.startswith("v") and len(out) < 20 else None


def chart_text(data: RunData, width: int = CHART_W, height: int = CHART_H) -> list[str]:
    """The tree's memory as columns of blocks (each column the highest reading in its slice
    of the run), restarts marked under it with ``R``."""
    pts = data.points
    if not pts:
        return ["(no samples)"]
    t0, t1 = data.span
    span = max(t1 - t0, 1e-9)
    cols = [0.0] * width
    for p in pts:
        i = min(int((p["t"] - t0) / span * width), width - 1)
        cols[i] = max(cols[i], float(p["b"]))
    for i in range(1, width):  # a slice with no sample shows its neighbour's level
        if cols[i] == 0.0:
            cols[i] = cols[i - 1]
    top = max(cols) or 1.0
    levels = [v / top * height for v in cols]
    label = max(len(format_bytes(top)), len(format_bytes(top * (height // 2) / height)))
    out = []
    for row in range(height, 0, -1):
        line = "".join("█" if v >= row else ("▄" if v >= row - 0.5 else " ") for v in levels)
        axis = format_bytes(top * row / height) if row in (height, height // 2) else ""
        out.append(f"{axis:>{label}} │{line}")
    marks = [" "] * width
    for e in data.events:
        if e.get("event") == "restart_requested":
            marks[min(int((e["t"] - t0) / span * width), width - 1)] = "R"
    out.append(f"{'':>{label}} └{''.join(marks)}")
    out.append(f"{'':>{label}}  +0{' ' * (width - 2 - len(_at(data, t1)))}{_at(data, t1)}")
    return out


def for_issue(data: RunData) -> str:
    from guardrun.state.redact import Redactor

    found: AgentSteps | None = data.agent_steps
    agent = str(data.meta.get("agent") or "generic")
    start, end = data.span
    peak = data.peak()
    lines = [f"### Memory of `{_cell(agent)}` under guardrun", "", "| | |", "|---|---|"]
    for key, value in _versions(found, agent):
        lines.append(f"| {key} | {_cell(value)} |")
    ram = data.meta.get("ram_total")
    if isinstance(ram, int) and ram > 0:
        lines.append(f"| RAM | {format_bytes(ram)} |")
    lines.append(
        f"| run | {format_duration(max(end - start, 0.0))}, {len(data.points)} "
        f"samples, metric {_cell(data.meta.get('metric') or '?')} |"
    )
    if peak is not None:
        lines.append(
            f"| peak | {format_bytes(peak['b'])} at {_at(data, peak['t'])} "
            f"({_cell(peak.get('lv') or '?')}) |"
        )
    att = found.attribution if found is not None else None
    if att is not None:
        for row, what in ((att.idle, "idle (agent waiting)"), (att.working, "working")):
            if row.seconds > 0:
                lines.append(
                    f"| growth {what} | {rate(row.per_minute)} over "
                    f"{format_duration(row.seconds)} |"
                )
    lines += ["", "**Processes of the tree at the peak**", ""]
    if peak is not None and peak.get("p"):
        lines += ["| process | RSS |", "|---|---:|"]
        for pid, rss in peak["p"]:
            name = data.procs.get(pid, {}).get("name") or "?"
            lines.append(f"| {_cell(name)} | {format_bytes(rss)} |")
    else:
        lines.append("(not recorded)")
    lines += ["", "**Growth by agent step**", ""]
    if att is None:
        lines.append(f"(none: {_cell(found.note if found is not None else 'not read')})")
    else:
        lines += ["| step | count | growth | per minute | time |", "|---|---:|---:|---:|---:|"]
        for r in att.rows:
            lines.append(
                f"| {_cell(r.name)} | {r.n} | {signed(r.growth)} | "
                f"{rate(r.per_minute) or 'n/a'} | {format_duration(r.seconds)} |"
            )
        tops = [c for c in att.top[:5] if c.growth > 0 and c.step.name != IDLE]
        if tops:
            lines += [
                "",
                "| step the tree grew most during | at | took | growth |",
                "|---|---:|---:|---:|",
            ]
            for c in tops:
                s = c.step
                took = format_duration(s.end - s.start) if math.isfinite(s.end) else "still going"
                name = f"{s.name} ({s.detail})" if s.detail else s.name
                lines.append(
                    f"| {_cell(name)} | {_at(data, s.start)} | {took} | {signed(c.growth)} |"
                )
        lines += ["", f"_{CAVEAT[:1].upper() + CAVEAT[1:]}._"]
    lines += ["", "**Restarts**", ""]
    shown = [e for e in data.events if e.get("event") in EVENTS_SHOWN]
    for e in shown:
        mem = f" at {format_bytes(e['memory_bytes'])}" if e.get("memory_bytes") else ""
        why = f": {_cell(e['why'])}" if e.get("why") else ""
        kind = str(e.get("event")).replace("_", " ")
        lines.append(f"- {_at(data, e['t'])} {kind} ({_cell(e.get('reason') or '?')}){mem}{why}")
    if not shown:
        lines.append("(none)")
    lines += ["", "**Memory of the tree over the run**", "", "```", *chart_text(data), "```", ""]
    lines.append(
        "_From `guardrun report --for-issue`: no prompt, response, file content, path "
        "or command line is included; times are from the run's start._"
    )
    return str(Redactor().redact("\n".join(lines))) + "\n"  # and the whole, once more
