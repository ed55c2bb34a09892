"""Reading a sample history back (``observe.history`` writes it): for ``guardrun report``,
``guardrun status`` and a state's memory curve. The file is a stranger's as much as
ours (``guardrun.untrusted``): read without blocking or following a link, bounded, and
every field checked for its type and range.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from guardrun.untrusted import (
    MAX_BYTES,
    MAX_LINES,
    MAX_LOG,
    MAX_TIME,
    PARSE_SECONDS,
    Unreadable,
    integer,
    number,
    parse_lines,
    read_lines,
)

if TYPE_CHECKING:
    from typing import Any

    from guardrun.observe.history import Point

__all__ = ["Loaded", "checked_point", "read_history"]


class Loaded:
    """A history file as read back: its meta, process names, and points (oldest first);
    ``cut`` says what was left out when the file was over the bounds (None: nothing)."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.procs: dict[int, dict[str, Any]] = {}
        self.points: list[Point] = []
        self.cut: str | None = None


def read_history(
    path: str | os.PathLike[str],
    since: float | None = None,
    limit: int = MAX_LOG,
    max_lines: int = MAX_LINES,
) -> Loaded:
    """The history at ``path``; a torn last line (a crash mid-write) or a bad one is skipped.
    ``since``: only points at or after that wall time. A stranger's file as much as ours
    (see ``guardrun.untrusted``): read without blocking or following a link, at most
    ``limit`` bytes, ``max_lines`` lines and ``PARSE_SECONDS`` of parsing (``cut`` says
    what was left out), and a field of the wrong type or out of range is dropped (a point
    without a usable ``t`` and ``b`` is skipped)."""
    out = Loaded()
    try:
        lines, out.cut = read_lines(path, limit, max_lines)
    except Unreadable as err:
        if os.path.lexists(path):
            out.cut = f"not read: {err}"
        return out
    objs, late = parse_lines(lines)
    if late:
        out.cut = (out.cut + "; " if out.cut else "") + f"parsed for {PARSE_SECONDS:.0f} s only"
    for obj in objs:
        kind = obj.get("k")
        if kind == "meta":
            out.meta.update(_meta(obj))
        elif kind == "proc":
            pid = integer(obj.get("pid"), 0, 1 << 31)
            if pid is not None:
                out.procs[pid] = {k: v for k, v in obj.items() if k == "pid" or isinstance(v, str)}
        else:
            point = checked_point(obj)
            if point is not None and (since is None or point["t"] >= since):
                out.points.append(point)
    out.points.sort(key=lambda p: p["t"])
    return out


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj)
    th = meta.get("thresholds")
    if th is not None:
        ok = isinstance(th, dict)
        meta["thresholds"] = {
            str(k): v for k, v in (th.items() if ok else ()) if integer(v, 0, MAX_BYTES) is not None
        }
    if meta.get("ram_total") is not None and integer(meta["ram_total"], 1, MAX_BYTES) is None:
        del meta["ram_total"]
    return meta


_INTS = {"b": MAX_BYTES, "lo": MAX_BYTES, "sys": MAX_BYTES, "n": 1 << 40}


def checked_point(obj: dict[str, Any]) -> Point | None:
    """A point with every field of the right type and range (others dropped), or None
    when its time or its bytes are not usable."""
    t = number(obj.get("t"), 0.0, float(MAX_TIME))
    b = integer(obj.get("b"), 0, MAX_BYTES)
    if t is None or b is None:
        return None
    point: Point = {"t": t, "b": b}
    for name, high in _INTS.items():
        if name != "b" and integer(obj.get(name), 0, high) is not None:
            point[name] = obj[name]
    r = number(obj.get("r"), 0.0, float(MAX_TIME))
    if r is not None:
        point["r"] = r
    g = number(obj.get("g"), -float(MAX_BYTES), float(MAX_BYTES))
    if g is not None:
        point["g"] = g
    for name in ("lv", "m"):
        if isinstance(obj.get(name), str):
            point[name] = obj[name]
    procs = obj.get("p")
    if isinstance(procs, list):
        point["p"] = [
            [pid, rss]
            for pid, rss in (e for e in procs if isinstance(e, list) and len(e) == 2)
            if integer(pid, 0, 1 << 31) is not None and integer(rss, 0, MAX_BYTES) is not None
        ]
    return point
