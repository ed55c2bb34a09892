"""What a report shows of one run: its events and sample history, loaded (``RunData``),
and the words for an event; shared by the text summary and the HTML page."""

import calendar
import time
from typing import Any, NamedTuple

from guardrun.observe.history import Point
from guardrun.units import format_bytes

# Events drawn as markers on the chart (and listed under it): what guardrun did and why.
MARKERS = (
    "level_changed",
    "state_captured",
    "capture_failed",
    "restart_requested",
    "restart_refused",
    "resume_refused",
    "restarted",
    "degraded",
    "recovered",
    "child_exited",
    "sentinel_stopped",
)


class RunData(NamedTuple):
    run_id: str
    meta: dict[str, Any]
    procs: dict[int, dict[str, Any]]
    points: list[Point]
    events: list[dict[str, Any]]  # each with "t" (wall time, float) added
    agent_steps: Any = None  # report_steps.AgentSteps, once with_steps has read the transcripts

    @property
    def markers(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") in MARKERS]

    @property
    def span(self) -> tuple[float, float]:
        times = [p["t"] for p in self.points] + [e["t"] for e in self.events]
        return (min(times), max(times)) if times else (0.0, 0.0)

    def peak(self) -> Point | None:
        return max(self.points, key=lambda p: p["b"]) if self.points else None

    def point_at(self, t: float) -> Point | None:
        """The last point at or before ``t`` (the tree as guardrun saw it then)."""
        best = None
        for p in self.points:
            if p["t"] > t:
                break
            best = p
        return best

    def proc_name(self, pid: int) -> str:
        info = self.procs.get(pid, {})
        return str(info.get("name") or f"pid {pid}")


def event_time(event: dict[str, Any]) -> float | None:
    """``2025-01-31T12:00:00.123Z`` as wall time."""
    text = event.get("time")
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        whole = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
        frac = float("0" + text[19:].rstrip("Z")) if text[19:20] == "." else 0.0
    except ValueError:
        return None
    return whole + frac


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def describe(e: dict[str, Any]) -> str:
    """One event as a line: what, and why."""
    kind = str(e.get("event"))
    if kind == "level_changed":
        source = e.get("source")
        text = f"{e.get('previous', '?')} → {e.get('level')}" if not source else ""
        text = text or f"{source}: {e.get('level')}"
        if e.get("reason"):
            text += f" ({e['reason']})"
        return f"level {text}"
    if kind in ("state_captured", "capture_failed"):
        what = f"state {e.get('state_id')}" if kind == "state_captured" else "capture failed"
        return f"{what} ({e.get('reason')})" + (f": {e['error']}" if e.get("error") else "")
    if kind in ("restart_requested", "restart_refused", "child_exited", "degraded", "recovered"):
        extra = f": {e['why']}" if e.get("why") else ""
        return f"{kind.replace('_', ' ')} ({e.get('reason')}){extra}"
    if kind == "restarted":
        return f"restarted, attempt {e.get('attempt')}" + (
            f", session {e['session_id']}" if e.get("session_id") else ""
        )
    if kind == "sentinel_stopped":
        from guardrun.observe.lastresort import describe as last_resort

        return last_resort(e)
    return kind.replace("_", " ")


def top_at(data: RunData, point: Point | None, n: int = 3) -> str:
    if point is None or not point.get("p"):
        return "no sample"
    return ", ".join(f"{data.proc_name(pid)} {format_bytes(rss)}" for pid, rss in point["p"][:n])


def checked_event(e: dict[str, Any]) -> dict[str, Any] | None:
    """An event of the log with its time (``t``) added and the fields a report computes
    with checked (a malformed ``memory_bytes`` is dropped); None without a usable time."""
    from guardrun.untrusted import MAX_BYTES, integer

    t = event_time(e)
    if t is None or not isinstance(e.get("event"), str):
        return None
    out = {**e, "t": t}
    if out.get("memory_bytes") is not None and integer(out["memory_bytes"], 0, MAX_BYTES) is None:
        del out["memory_bytes"]
    return out


def asked_restarts(data: RunData) -> list[dict[str, Any]]:
    """The restarts asked for and allowed: a ``restart_requested`` whose next restart
    event is a ``restart_refused`` was refused by restart protection, and is not one."""
    kinds = ("restart_requested", "restart_refused", "restarted")
    steps = [e for e in data.events if e.get("event") in kinds]
    return [
        e
        for i, e in enumerate(steps)
        if e["event"] == "restart_requested"
        and not (i + 1 < len(steps) and steps[i + 1]["event"] == "restart_refused")
    ]
