"""The agent's steps beside a run's memory, for ``guardrun report``: which transcripts are
the run's, their steps (``state.steps``), the growth credited to them (``state.attribution``),
and how the text summary and the HTML page show it.

The run's transcripts are named by its saved states (each ``state_captured`` event names a
state, whose ``conversation.transcript`` holds the path, and the state's own copy when the
original is gone); for Claude Code a session id of the event log is looked up in its
projects directory when no state names a transcript. Parsed only here and at capture, never
while a run samples.
"""

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from guardrun.state.attribution import CAVEAT, IDLE, Attribution, attribute
from guardrun.state.steps import AGENTS_WITH_STEPS, COMPACTION, MODEL, SUBAGENT, Step, parse
from guardrun.units import format_bytes, format_duration

if TYPE_CHECKING:
    from guardrun.commands.report_data import RunData
    from guardrun.state.store import Store

# A restart: the tree is stopped after the first two and replaced by the last.
STOPPING, STARTED = ("restart_requested", "child_exited"), "restarted"


class AgentSteps(NamedTuple):
    agent: str
    steps: list[Step]
    version: str | None
    transcripts: int  # how many were read
    attribution: Attribution | None
    note: str  # why there is nothing, when there is nothing


def restarts(data: "RunData") -> list[tuple[float, float]]:
    """Each restart of the run, from the request (or the child's exit) to the new child."""
    out: list[tuple[float, float]] = []
    begun: float | None = None
    for e in sorted(data.events, key=lambda e: float(e["t"])):
        kind = e.get("event")
        if kind in STOPPING and begun is None:
            begun = float(e["t"])
        elif kind == STARTED:
            out.append((float(e["t"]) if begun is None else begun, float(e["t"])))
            begun = None
    if begun is not None:
        out.append((begun, begun))
    return out


def transcripts(data: "RunData", store: "Store") -> list[Path]:
    """The run's transcripts, oldest session first, each once."""
    from guardrun.errors import GuardrunError

    found: list[Path] = []
    for e in data.events:
        if e.get("event") != "state_captured" or not isinstance(e.get("state_id"), str):
            continue
        try:
            state = store.load(e["state_id"])
        except (GuardrunError, OSError):
            continue  # pruned or unreadable: another state may still name it
        conv = state.get("conversation")
        info = conv.get("transcript") if isinstance(conv, dict) else None
        if not isinstance(info, dict):
            continue
        path = Path(str(info.get("path") or ""))
        copy = info.get("copy")
        if not path.is_file() and isinstance(copy, dict) and isinstance(copy.get("file"), str):
            path = store.states_dir / Path(copy["file"]).name  # a name, never a path
            if path.is_symlink():  # the store holds no links: one planted is not followed
                continue
        if path.is_file() and path not in found:
            found.append(path)
    if not found and data.meta.get("agent") == "claude":
        found = _claude_sessions(data)
    return found


def _claude_sessions(data: "RunData") -> list[Path]:
    from guardrun.state.agents.base import is_uuid
    from guardrun.state.agents.claude import config_dir

    root = config_dir(os.environ) / "projects"
    found: list[Path] = []
    for e in data.events:
        sid = e.get("session_id")
        if is_uuid(sid):
            found += [p for p in root.glob(f"*/{sid}.jsonl") if p not in found]
    return found


def agent_steps(data: "RunData", store: "Store") -> AgentSteps:
    agent = str(data.meta.get("agent") or "generic")
    if agent not in AGENTS_WITH_STEPS:
        note = f"{agent} writes no times in its files: no step can be lined up with memory"
        return AgentSteps(agent, [], None, 0, None, note)
    paths = transcripts(data, store)
    if not paths:
        return AgentSteps(agent, [], None, 0, None, "no transcript of this run was found")
    steps: list[Step] = []
    version = None
    read = 0
    cuts = restarts(data)
    for path in paths:
        try:
            parsed = parse(path, agent, [c[0] for c in cuts], since=data.span[0])
        except OSError:
            continue
        read += 1
        steps += parsed.steps
        version = parsed.version or version
    att = attribute(data.points, steps, cuts) if steps else None
    note = "" if att else ("no steps in the transcript" if not steps else "too few samples")
    return AgentSteps(agent, steps, version, read, att, note)


def with_steps(data: "RunData", store: "Store") -> "RunData":
    return data._replace(agent_steps=agent_steps(data, store))


# ---------------------------------------------------------------------------------- text


def signed(n: float) -> str:
    return ("+" if n >= 0 else "-") + format_bytes(abs(n))


def rate(n: float | None) -> str:
    return "" if n is None else f"{signed(n)}/min"


UNITS = {IDLE: ("stretch", "stretches"), MODEL: ("turn", "turns"), SUBAGENT: ("run", "runs"),
         COMPACTION: ("time", "times")}  # fmt: skip


def rows_text(att: Attribution) -> list[str]:
    """One line per step kind: ``Bash  14 calls  +2.1 GB  (+150 MB/min over 14m)``."""
    width = max(len(r.name) for r in att.rows)
    out = []
    for r in att.rows:
        unit = UNITS.get(r.name, ("call", "calls"))[r.n != 1]
        out.append(
            f"{r.name:<{width}}  {r.n:>4} {unit:<9} {signed(r.growth):>9}  "
            f"({rate(r.per_minute) or 'n/a'} over {format_duration(r.seconds)})"
        )
    return out


def top_text(att: Attribution, n: int = 5) -> list[str]:
    from guardrun.commands.report_data import clock

    out = []
    for c in att.top[:n]:
        if c.growth <= 0:
            break
        s = c.step
        took = "still going" if not math.isfinite(s.end) else format_duration(s.end - s.start)
        extra = f" [{s.detail}]" if s.detail else ""
        mark = ", unanswered" if s.open else ""
        out.append(f"{signed(c.growth):>9}  {s.name}{extra} at {clock(s.start)} ({took}{mark})")
    return out


def text_section(data: "RunData") -> list[str]:
    found: AgentSteps | None = data.agent_steps
    if found is None:
        return []
    lines = ["  Growth by agent step:"]
    if found.attribution is None:
        return lines + [f"    none: {found.note}"]
    lines += ["    " + line for line in rows_text(found.attribution)]
    top = top_text(found.attribution)
    if top:
        lines += ["  Steps the tree grew most during:"] + ["    " + line for line in top]
    lines.append(f"  ({CAVEAT})")
    return lines


# ---------------------------------------------------------------------------------- HTML

LANE_H = 56
STEP_COLOURS = {"model turn": "#7e57c2", "compaction": "#ef6c00", "sub-agent": "#00897b"}
TOOL_COLOURS = ("#1e88e5", "#43a047", "#8d6e63", "#00acc1", "#f9a825", "#546e7a")
MERGED = "#9e9e9e"
MIN_PX = 3.0  # steps narrower than this are drawn together, one bar per MIN_PX of the axis


def _colour(s: Step) -> str:
    if s.kind in STEP_COLOURS:
        return STEP_COLOURS[s.kind]
    return TOOL_COLOURS[sum(s.name.encode()) % len(TOOL_COLOURS)]  # the same tool, one colour


def lane_svg(data: "RunData") -> str:
    """The steps as bars under the chart, on the chart's time axis (sub-agents on a row of
    their own); each bar's ``<title>`` (the browser's tooltip) names the step, its time and
    the growth credited to it. A day holds tens of thousands of steps: those narrower than
    ``MIN_PX`` share one bar per ``MIN_PX`` (grey, its title counting what it holds), so the
    page stays small whatever the run."""
    from html import escape

    from guardrun.commands.report_chart import LEFT, RIGHT, Chart, W
    from guardrun.commands.report_data import clock

    found: AgentSteps | None = data.agent_steps
    if found is None or not found.steps or not data.points:
        return ""
    t0, last = data.span  # a property that walks every point: once
    growth = data.points[-1].get("g")
    t1 = last + (last - t0) / 10 if isinstance(growth, (int, float)) and growth > 0 else last
    c = Chart(t0, t1, 1.0)  # as chart_svg's, with the room it makes for the trend
    credit = {id(x.step): x.growth for x in (found.attribution.top if found.attribution else [])}
    out = [
        f'<svg class="lane" viewBox="0 0 {W} {LANE_H}" width="{W}" height="{LANE_H}" '
        'role="img" aria-label="agent steps">',
        f'<text class="axis" x="{LEFT - 6}" y="16" text-anchor="end">steps</text>',
        f'<text class="axis" x="{LEFT - 6}" y="36" text-anchor="end">sub-agents</text>',
    ]
    merged: dict[tuple[int, int], list[Step]] = {}
    for s in found.steps:
        start, end = max(s.start, t0), min(s.end, last)
        if end < t0 or start > last:
            continue
        x0, x1 = c.x(start), c.x(end)
        y = 26 if s.kind == "sub-agent" else 6
        if x1 - x0 < MIN_PX:
            merged.setdefault((y, int((x0 - LEFT) // MIN_PX)), []).append(s)
            continue
        took = format_duration(s.end - s.start) if math.isfinite(s.end) else "still going"
        tip = [f"{s.name}{f' ({s.detail})' if s.detail else ''}", f"{clock(s.start)}, {took}"]
        if s.open:
            tip.append("never answered: its end is a guess")
        if id(s) in credit:
            tip.append(f"memory {signed(credit[id(s)])}")
        out.append(_bar(escape(s.kind), x0, x1 - x0, y, _colour(s), escape("\n".join(tip))))
    for (y, slot), group in sorted(merged.items()):
        x = LEFT + slot * MIN_PX
        names: dict[str, int] = {}
        for s in group:
            names[s.name] = names.get(s.name, 0) + 1
        ranked = sorted(names.items(), key=lambda kv: -kv[1])
        tip = [f"{len(group)} short steps from {clock(group[0].start)}"]
        tip += [f"{n} ×{k}" for n, k in ranked[:5]]
        total = sum(credit.get(id(s), 0.0) for s in group)
        tip.append(f"memory {signed(total)}")
        colour = _colour(group[0]) if len(names) == 1 else MERGED
        out.append(_bar("merged", x, MIN_PX, y, colour, escape("\n".join(tip))))
    out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="46" y2="46"/>')
    legend = [("tool", TOOL_COLOURS[0]), *STEP_COLOURS.items(), ("several", MERGED)]
    x = float(LEFT)
    for name, colour in legend:
        out.append(f'<rect x="{x:.0f}" y="{LANE_H - 8}" width="8" height="8" fill="{colour}"/>'
                   f'<text class="axis" x="{x + 11:.0f}" y="{LANE_H}">{name}</text>')  # fmt: skip
        x += 24 + 6.5 * len(name)
    out.append("</svg>")
    return "".join(out)


def _bar(kind: str, x: float, width: float, y: int, colour: str, tip: str) -> str:
    return (f'<rect class="step" data-kind="{kind}" x="{x:.1f}" y="{y}" '
            f'width="{max(width, 1.0):.1f}" height="14" fill="{colour}" stroke="#fff" '
            f'stroke-width=".5"><title>{tip}</title></rect>')  # fmt: skip


def table_html(data: "RunData") -> str:
    from html import escape

    from guardrun.commands.report_data import clock

    found: AgentSteps | None = data.agent_steps
    if found is None:
        return ""
    head = "<h3>Growth by agent step</h3>"
    att = found.attribution
    if att is None:
        return f"{head}<p>None: {escape(found.note)}.</p>"
    rows = "".join(
        f"<tr><td>{escape(r.name)}</td><td>{r.n}</td><td>{escape(signed(r.growth))}</td>"
        f"<td>{escape(rate(r.per_minute))}</td><td>{escape(format_duration(r.seconds))}</td></tr>"
        for r in att.rows
    )
    table = (
        '<table class="steps"><tr><th>step</th><th>count</th><th>growth</th>'
        f"<th>per minute</th><th>time</th></tr>{rows}</table>"
    )
    tops = "".join(
        f"<tr><td>{escape(c.step.name)}</td><td>{escape(c.step.detail)}</td>"
        f"<td>{clock(c.step.start)}</td><td>{escape(signed(c.growth))}</td></tr>"
        for c in att.top[:10]
        if c.growth > 0
    )
    if tops:
        table += (
            '<h3>Steps the tree grew most during</h3><table class="top-steps"><tr>'
            "<th>step</th><th>its tools</th><th>at</th><th>growth</th></tr>"
            f"{tops}</table>"
        )
    return f"{head}{table}<p><em>{escape(CAVEAT[:1].upper() + CAVEAT[1:])}.</em></p>"
