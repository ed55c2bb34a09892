"""Which agent steps the tree's memory grew during (pure: no I/O).

The growth of the tree's floor between two samples (the lowest reading of a coarse point,
the reading of a raw one) is spread evenly over the time between them, and each stretch of
that time is credited to the steps active in it (``guardrun.state.steps``), shared equally
when several overlap, or to *idle* when none is. A gap that holds a restart is credited to
nothing: the tree was replaced, its drop is not any step's doing.

This is correlation, not cause: memory that a step's own process allocates is credited to
it, but so is a leak that merely runs at the same time (a timer in the agent, an MCP
server's cache), and growth between two samples is assumed even over the gap. A leak that
grows during a step of one kind and not otherwise stands out; one that grows at the same
rate whatever the agent does shows as the same rate per minute in every row, idle included.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from guardrun.state.steps import Step

IDLE = "idle"
CAVEAT = (
    "correlation, not cause: growth is credited to whatever the agent was doing while it "
    "happened (overlapping steps share it; between samples it is assumed even)"
)


class Row(NamedTuple):
    name: str  # a tool's name, "model turn", "compaction", "sub-agent" or "idle"
    n: int  # steps of this kind within the samples (idle: stretches)
    growth: float  # bytes credited (negative: the floor fell)
    seconds: float  # time the steps of this kind were active within the samples

    @property
    def per_minute(self) -> float | None:
        return self.growth / self.seconds * 60 if self.seconds > 0 else None


class Credited(NamedTuple):
    step: Step
    growth: float


class Attribution(NamedTuple):
    rows: list[Row]  # by growth, largest first; idle among them
    top: list[Credited]  # every step within the samples, by growth, largest first
    idle: Row
    working: Row  # every moment at least one step was active
    start: float
    end: float
    steps: int  # steps within the samples

    def as_dict(self, top: int = 10) -> dict[str, Any]:
        """The form a saved state keeps (``memory.attribution``, docs/state-format.md)."""
        return {
            "caveat": CAVEAT,
            "from": round(self.start, 3),
            "to": round(self.end, 3),
            "steps": self.steps,
            "idle": _row_dict(self.idle),
            "working": _row_dict(self.working),
            "by_kind": [_row_dict(r) for r in self.rows],
            "top": [
                {
                    "name": c.step.name,
                    "kind": c.step.kind,
                    "start": round(c.step.start, 3),
                    "end": round(c.step.end, 3) if math.isfinite(c.step.end) else None,
                    "open": c.step.open,
                    "detail": c.step.detail or None,
                    "growth_bytes": round(c.growth),
                }
                for c in self.top[:top]
            ],
        }


def _row_dict(r: Row) -> dict[str, Any]:
    rate = r.per_minute
    return {
        "name": r.name,
        "count": r.n,
        "growth_bytes": round(r.growth),
        "seconds": round(r.seconds, 3),
        "bytes_per_minute": None if rate is None else round(rate),
    }


def _number(value: object, default: float) -> float:
    """A field of a history point as a number (a hand-edited or damaged file may hold
    anything: read_history checks only ``t`` and ``b``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def floor_of(p: Mapping[str, Any]) -> float:
    return _number(p.get("lo"), float(p["b"]))


def width_of(p: Mapping[str, Any]) -> float:
    return max(_number(p.get("r"), 0.0), 0.0)


def time_of(p: Mapping[str, Any]) -> float:
    """A point's moment: the middle of its bucket for a coarse one (as the report draws it)."""
    return float(p["t"]) + width_of(p) / 2


def attribute(
    points: Sequence[Mapping[str, Any]],
    steps: Sequence[Step],
    cuts: Iterable[tuple[float, float]] = (),
) -> Attribution | None:
    """Credit the floor's growth between consecutive ``points`` (oldest first, as
    ``read_history`` returns them) to ``steps``; None with fewer than two points.
    ``cuts``: restarts, each from its request to the new child's start: a gap between two
    points that touches one, the buckets of coarse points included (a bucket's floor is its
    lowest reading, maybe one after the kill), is credited to nothing."""
    if len(points) < 2:
        return None
    start, end = time_of(points[0]), time_of(points[-1])
    inside = [s for s in steps if s.end >= start and s.start <= end]
    # Boundaries: at one moment every start comes before every end (0 before 1), so that a
    # step of no length (an unanswered cue) opens and closes there and holds no share after.
    bounds = sorted(
        [(max(s.start, start), 0, i) for i, s in enumerate(inside)]
        + [(min(s.end, end), 1, i) for i, s in enumerate(inside)]
    )
    grown = [0.0] * len(inside)
    active_time = [0.0] * len(inside)
    idle_growth = idle_time = work_growth = work_time = 0.0
    idle_count, was_idle = 0, False
    cut_list = sorted(cuts, key=lambda c: c[1])
    ci = 0
    active: set[int] = set()
    bi = 0
    cur = start
    for a, b in zip(points, points[1:], strict=False):
        t0, t1 = time_of(a), time_of(b)
        if t1 <= t0:
            continue
        # The time these two points stand for: from a's bucket's start to b's bucket's end.
        since, until = float(a["t"]), float(b["t"]) + width_of(b)
        while ci < len(cut_list) and cut_list[ci][1] <= since:
            ci += 1
        # Restarts do not overlap: the first not ended before ``since`` is the only candidate.
        skip = ci < len(cut_list) and cut_list[ci][0] <= until  # a restart touches the gap
        rate = 0.0 if skip else (floor_of(b) - floor_of(a)) / (t1 - t0)
        cur = t0
        while cur < t1:
            while bi < len(bounds) and bounds[bi][0] <= cur:
                _, closes, i = bounds[bi]
                (active.discard if closes else active.add)(i)
                bi += 1
            nxt = min(t1, bounds[bi][0]) if bi < len(bounds) else t1
            dt = nxt - cur
            if dt > 0 and not skip:  # a restart's gap: neither growth nor time
                share = rate * dt
                if active:
                    each = share / len(active)
                    for i in active:
                        grown[i] += each
                        active_time[i] += dt
                    work_growth += share
                    work_time += dt
                    was_idle = False
                else:
                    idle_growth += share
                    idle_time += dt
                    if not was_idle:
                        idle_count += 1
                    was_idle = True
            cur = nxt
    rows: dict[str, list[float]] = {}
    for i, s in enumerate(inside):
        row = rows.setdefault(s.name, [0, 0.0, 0.0])
        row[0] += 1
        row[1] += grown[i]
        row[2] += active_time[i]
    idle = Row(IDLE, idle_count, idle_growth, idle_time)
    table = [Row(name, int(c), g, sec) for name, (c, g, sec) in rows.items()] + [idle]
    table.sort(key=lambda r: (-r.growth, r.name))
    credited = sorted(
        (Credited(s, grown[i]) for i, s in enumerate(inside)), key=lambda c: -c.growth
    )
    working = Row("working", len(inside), work_growth, work_time)
    return Attribution(table, credited, idle, working, start, end, len(inside))
