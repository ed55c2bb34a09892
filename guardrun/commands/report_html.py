"""The report as one self-contained HTML file: hand-made SVG, no script, no network.

Why hand-made SVG and not a charting library: the page must open offline and stay
under 1 MB for a day-long run; the smallest libraries worth having (uPlot ~50 KB,
Chart.js ~200 KB) would be vendored into every file and need a script to draw, and a
Python plotting package costs hundreds of ms of start-up and a dependency. A polyline
of ~3,000 points is ~40 KB. Hover details are SVG ``<title>`` elements (the browser's
own tooltip); a Content-Security-Policy forbids every fetch, so the file provably
makes no request.
"""

from __future__ import annotations

import math
import time
from html import escape
from typing import TYPE_CHECKING

from guardrun.commands.report_chart import BOTTOM, LEFT, RIGHT, TOP, Chart, H, W, nice, tick_step
from guardrun.commands.report_data import asked_restarts, clock, describe
from guardrun.commands.report_steps import lane_svg, table_html
from guardrun.units import format_bytes, format_duration

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from guardrun.commands.report_data import RunData

COLOURS = {"normal": "#3c8d40", "warning": "#e0a800", "critical": "#ef6c00", "emergency": "#c62828"}
MARKER_COLOURS = {
    "level_changed": None,  # the colour of the level reached
    "state_captured": "#1565c0",
    "capture_failed": "#6a1b9a",
    "restart_requested": "#c62828",
    "restart_refused": "#6a1b9a",
    "resume_refused": "#6a1b9a",
    "restarted": "#2e7d32",
    "degraded": "#6a1b9a",
    "recovered": "#2e7d32",
    "child_exited": "#424242",
}
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1040px}
h1{font-size:20px}h2{font-size:16px;margin-top:32px}
svg{background:#fff;border:1px solid #ddd}
.axis{font-size:11px;fill:#555}.grid{stroke:#eee}
.tree{fill:none;stroke:#1a237e;stroke-width:1.5}.range{fill:#1a237e;opacity:.15}
.sys{fill:none;stroke:#999;stroke-dasharray:4 3}.swap{fill:#8e24aa;opacity:.35}
.proj{fill:none;stroke:#1a237e;stroke-dasharray:6 4}
.marker line{stroke-width:1;stroke-dasharray:2 2}.marker:hover circle{r:7}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 10px;border-bottom:1px solid #eee;
text-align:left;font-variant-numeric:tabular-nums}.legend span{margin-right:16px}
"""


def _mid(p: dict[str, Any]) -> float:
    return float(p["t"]) + float(p.get("r", 0.0)) / 2


def chart_svg(data: RunData) -> str:
    pts = data.points
    th: dict[str, int] = data.meta.get("thresholds") or {}
    t0, t1 = data.span
    top = max([p["b"] for p in pts] + list(th.values()) + [1])
    growth = pts[-1].get("g") if pts else None
    rising = isinstance(growth, (int, float)) and growth > 0
    # A rising trend is projected a tenth of the run ahead: the chart makes room for it.
    c = Chart(t0, t1 + ((t1 - t0) / 10 if rising else 0.0), top * 1.08)
    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'role="img" aria-label="memory of run {escape(data.run_id)}">']  # fmt: skip
    # threshold bands: warning to critical, critical to emergency, emergency and up
    bounds = [th.get("warning"), th.get("critical"), th.get("emergency"), c.ymax]
    for i, level in enumerate(("warning", "critical", "emergency")):
        lo, hi = bounds[i], bounds[i + 1]
        if lo is None or hi is None or lo >= c.ymax:
            continue
        out.append(
            f'<rect class="band" x="{LEFT}" width="{W - LEFT - RIGHT}" y="{c.y(hi):.1f}" '
            f'height="{c.y(lo) - c.y(hi):.1f}" fill="{COLOURS[level]}" opacity=".12">'
            f"<title>{level}: {format_bytes(lo)} and up</title></rect>"
        )
    step = tick_step(c.ymax, 6, nice(c.ymax))
    v = 0.0
    while v <= c.ymax:
        y = c.y(v)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{format_bytes(v)}</text>")  # fmt: skip
        v += step
    tstep = tick_step(c.t1 - c.t0, 8, (10, 30, 60, 300, 600, 1800, 3600, 7200, 10800, 21600))
    t = math.ceil(c.t0 / tstep) * tstep
    while t <= c.t1:
        x = c.x(t)
        label = time.strftime("%H:%M:%S" if tstep < 60 else "%H:%M", time.localtime(t))
        out.append(
            f'<text class="axis" x="{x:.1f}" y="{H - 8}" text-anchor="middle">{label}</text>'
        )
        t += tstep
    ram = data.meta.get("ram_total")
    sys_pts = [(_mid(p), p["sys"]) for p in pts if "sys" in p]
    if sys_pts and isinstance(ram, int) and ram > 0:
        # The machine's RAM in use on its own scale (the right axis: share of all RAM),
        # since it is usually far above the tree's.
        scale = c.ymax / ram
        out.append(f'<polyline class="sys" points="{c.path([(t, v * scale) for t, v in sys_pts])}">'
                   f"<title>the machine's RAM in use (right axis, of {format_bytes(ram)})</title>"
                   "</polyline>")  # fmt: skip
        for share in (0.5, 1.0):
            out.append(f'<text class="axis" x="{W - RIGHT - 2}" y="{c.y(c.ymax * share) + 12:.1f}" '
                       f'text-anchor="end">RAM {share:.0%}</text>')  # fmt: skip
    ranged = [p for p in pts if "lo" in p]
    if ranged:
        upper = [(_mid(p), p["b"]) for p in ranged]
        lower = [(_mid(p), p["lo"]) for p in reversed(ranged)]
        out.append(f'<polygon class="range" points="{c.path(upper + lower)}"/>')
    swapped = [p for p in pts if p.get("sw")]
    if swapped:
        # The part of the tree out of RAM, as a band under the tree's line: from the
        # resident part (b - sw) up to the whole (b).
        upper = [(_mid(p), p["b"]) for p in pts]
        lower = [(_mid(p), p["b"] - p.get("sw", 0)) for p in reversed(pts)]
        out.append(f'<polygon class="swap" points="{c.path(upper + lower)}">'
                   "<title>swapped or compressed (out of RAM)</title></polygon>")  # fmt: skip
    if pts:
        out.append(f'<polyline class="tree" points="{c.path([(_mid(p), p["b"]) for p in pts])}">'
                   "<title>the tree's memory</title></polyline>")  # fmt: skip
        last = pts[-1]
        if rising:
            assert isinstance(growth, (int, float))
            ahead = c.t1 - last["t"]
            end = (c.t1, last["b"] + growth * ahead)
            out.append(
                f'<polyline class="proj" points="{c.path([(last["t"], last["b"]), end])}">'
                f"<title>trend: {format_bytes(growth * 60)}/min</title></polyline>"
            )
    for e in data.markers:
        out.append(_marker(c, e))
    out.append("</svg>")
    return "".join(out)


def _marker(c: Chart, e: dict[str, Any]) -> str:
    kind = escape(str(e["event"]))  # one of MARKERS: escaped all the same
    colour = MARKER_COLOURS.get(kind) or COLOURS.get(str(e.get("level")), "#424242")
    x = c.x(e["t"])
    mem = e.get("memory_bytes")
    y = c.y(mem) if isinstance(mem, (int, float)) else TOP + 6
    details = [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["t"])), describe(e)]
    if isinstance(mem, (int, float)):
        details.append(f"memory {format_bytes(mem)}")
    for key in ("state_id", "mode", "session_id", "path"):
        if e.get(key):
            details.append(f"{key}: {e[key]}")
    tip = escape("\n".join(details))
    line = ""
    if kind != "level_changed":
        line = f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{colour}"/>'
    return (f'<g class="marker" data-kind="{kind}">{line}<circle cx="{x:.1f}" cy="{y:.1f}" r="4" '
            f'fill="{colour}" stroke="#fff"/><title>{tip}</title></g>')  # fmt: skip


def _procs_table(data: RunData) -> str:
    rows = []
    peak = data.peak()
    moments: list[tuple[str, dict[str, Any] | None]] = [("peak", peak)]
    for e in asked_restarts(data):
        if e.get("event") == "restart_requested":
            moments.append(
                (f"restart at {clock(e['t'])} ({e.get('reason')})", data.point_at(e["t"]))
            )
    for label, point in moments:
        if point is None:
            continue
        for pid, rss in point.get("p", []):
            info = data.procs.get(pid, {})
            rows.append(
                f"<tr><td>{escape(label)}</td><td>{escape(str(info.get('name') or '?'))}</td>"
                f"<td>{escape(str(pid))}</td><td>{format_bytes(rss)}</td>"
                f"<td>{escape(str(info.get('cmd') or '')[:120])}</td></tr>"
            )
    if not rows:
        return "<p>No samples recorded.</p>"
    head = "<tr><th>when</th><th>process</th><th>pid</th><th>RSS</th><th>command</th></tr>"
    return f'<table class="procs">{head}{"".join(rows)}</table>'


def _events_table(data: RunData) -> str:
    rows = [
        f"<tr><td>{clock(e['t'])}</td><td>{escape(describe(e))}</td>"
        f"<td>{format_bytes(e['memory_bytes']) if e.get('memory_bytes') else ''}</td></tr>"
        for e in data.markers
    ]
    return f'<table class="events">{"".join(rows)}</table>' if rows else ""


def section(data: RunData) -> str:
    start, end = data.span
    peak = data.peak()
    name = escape(str(data.meta.get("name") or "?"))
    summary = (
        f"{name} (agent {escape(str(data.meta.get('agent')))}), "
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(start))}, "
        f"{format_duration(max(end - start, 0.0))}"
    )
    if peak is not None:
        summary += f"; peak {format_bytes(peak['b'])} at {clock(peak['t'])}"
    restarts = len(asked_restarts(data))
    summary += f"; {restarts} restart{'s' if restarts != 1 else ''} asked"
    legend = (
        '<p class="legend"><span>── tree memory (band: range within a bucket)</span>'
        "<span>- - machine RAM in use (right axis)</span><span>- - - trend</span>"
        '<span style="color:#8e24aa">▇ swapped or compressed (out of RAM)</span>'
        "<span>● level change</span><span>│ capture, restart, exit</span></p>"
    )
    return (
        f'<section class="run" id="run-{escape(data.run_id)}"><h2>Run {escape(data.run_id)}</h2>'
        f"<p>{summary}</p>{chart_svg(data)}{lane_svg(data)}{legend}{table_html(data)}"
        f"<h3>Events</h3>{_events_table(data)}"
        f"<h3>Processes at the peak and at each restart</h3>{_procs_table(data)}</section>"
    )


def render(runs: Sequence[RunData]) -> str:
    body = "".join(section(d) for d in runs)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>guardrun report</title><style>{CSS}</style></head><body>"
        f"<h1>guardrun report</h1>{body}"
        f'<p class="axis">Generated {time.strftime("%Y-%m-%d %H:%M %Z")}.</p></body></html>\n'
    )
