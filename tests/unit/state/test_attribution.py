"""guardrun.state.attribution: known growth during known steps is credited exactly."""

from __future__ import annotations

import math
from typing import Any

import pytest

from guardrun.state.attribution import IDLE, attribute
from guardrun.state.steps import MODEL, TOOL, Step

MB = 1_000_000


def pts(values: list[float], t0: float = 1000.0, step: float = 1.0) -> list[dict[str, Any]]:
    return [{"t": t0 + i * step, "b": int(v)} for i, v in enumerate(values)]


def tool(name: str, a: float, b: float) -> Step:
    return Step(TOOL, name, 1000.0 + a, 1000.0 + b)


def rows(att: Any) -> dict[str, tuple[int, float, float]]:
    return {r.name: (r.n, round(r.growth), round(r.seconds, 6)) for r in att.rows}


def test_growth_during_one_tool_is_its_own() -> None:
    # 10 MB/s from 2 s to 5 s (during Bash), flat otherwise; Read runs 6-9 s.
    values = [0, 0, 0, 10, 20, 30, 30, 30, 30, 30, 30]
    att = attribute(
        pts([100 * MB + v * MB for v in values]), [tool("Bash", 2, 5), tool("Read", 6, 9)]
    )
    assert att is not None
    got = rows(att)
    assert got["Bash"] == (1, 30 * MB, 3.0)
    assert got["Read"] == (1, 0, 3.0)
    assert got[IDLE] == (3, 0, 4.0)  # 0-2, 5-6, 9-10
    assert att.rows[0].name == "Bash"
    assert att.top[0].step.name == "Bash" and round(att.top[0].growth) == 30 * MB
    assert att.rows[0].per_minute == pytest.approx(600 * MB)


def test_overlapping_steps_share_the_growth() -> None:
    values = [0, 0, 10, 20, 20]  # 20 MB during 1-3 s, when both run
    att = attribute(pts([v * MB for v in values]), [tool("Bash", 1, 3), tool("Grep", 1, 3)])
    assert att is not None
    got = rows(att)
    assert got["Bash"] == (1, 10 * MB, 2.0) and got["Grep"] == (1, 10 * MB, 2.0)
    assert att.working.growth == pytest.approx(20 * MB)


def test_partial_overlap_splits_each_moment() -> None:
    # 1 MB/s throughout 0-4 s; A runs 0-3, B 2-4: A alone 2 s, both 1 s, B alone 1 s.
    att = attribute(pts([0, MB, 2 * MB, 3 * MB, 4 * MB]), [tool("A", 0, 3), tool("B", 2, 4)])
    assert att is not None
    got = rows(att)
    assert got["A"][1] == round(2.5 * MB) and got["B"][1] == round(1.5 * MB)
    assert got[IDLE] == (0, 0, 0.0)


def test_a_step_of_no_length_takes_no_share() -> None:
    # An unanswered cue ends where it began: it must not stay active and dilute the rest.
    steps = [tool("Cue", 1, 1), tool("Bash", 1, 3), Step(MODEL, MODEL, 1002.0, 1002.0)]
    att = attribute(pts([0, 0, 10 * MB, 20 * MB]), steps)
    assert att is not None
    got = rows(att)
    assert got["Bash"] == (1, 20 * MB, 2.0)
    assert got["Cue"] == (1, 0, 0.0) and got[MODEL] == (1, 0, 0.0)


def test_idle_growth_is_idle() -> None:
    values = [0, 5, 10, 10, 10, 15]  # growth only where nothing runs
    att = attribute(pts([v * MB for v in values]), [tool("Bash", 2, 4)])
    assert att is not None
    got = rows(att)
    assert got["Bash"] == (1, 0, 2.0)
    assert got[IDLE] == (2, 15 * MB, 3.0)
    assert att.idle.per_minute == pytest.approx(300 * MB)
    assert att.working.growth == 0


def test_growth_between_samples_is_spread_evenly() -> None:
    att = attribute(pts([0, 10 * MB], step=10.0), [Step(MODEL, MODEL, 1002.5, 1005.0)])
    assert att is not None
    assert rows(att)[MODEL] == (1, round(2.5 * MB), 2.5)
    assert rows(att)[IDLE] == (2, round(7.5 * MB), 7.5)


def test_coarse_points_use_their_floor_at_their_middle() -> None:
    points = [{"t": 1000.0, "r": 10.0, "b": 50 * MB, "lo": 0}, {"t": 1010.0, "r": 10.0,
              "b": 90 * MB, "lo": 20 * MB}]  # fmt: skip
    att = attribute(points, [tool("Bash", 5, 15)])
    assert att is not None
    assert (att.start, att.end) == (1005.0, 1015.0)
    assert rows(att)["Bash"] == (1, 20 * MB, 10.0)  # the floor: 0 -> 20 MB, not the peaks


def test_a_restart_is_nobodys_doing() -> None:
    values = [50, 60, 10, 20]  # a restart between 1 s and 2 s drops the tree
    att = attribute(pts([v * MB for v in values]), [tool("Bash", 0, 3)], [(1001.4, 1001.6)])
    assert att is not None
    assert rows(att)["Bash"] == (1, 20 * MB, 2.0)


def test_a_restart_in_a_bucket_is_nobodys_doing_either() -> None:
    # 10 s buckets: the restart asked at 1026 (the kill just after) falls in the third
    # bucket, whose floor (its lowest reading, after the kill) stands at its middle, 1025:
    # before the request. The buckets' spans, not their middles, say what a gap holds.
    points = [
        {"t": 1000.0 + 10 * i, "r": 10.0, "b": b, "lo": lo}
        for i, (b, lo) in enumerate([(50, 40), (70, 60), (80, 5), (15, 10), (25, 20)])
    ]
    att = attribute([{**p, "b": p["b"] * MB, "lo": p["lo"] * MB} for p in points],
                    [tool("Bash", 0, 50)], [(1026.0, 1029.0)])  # fmt: skip
    assert att is not None
    assert rows(att)["Bash"] == (1, 30 * MB, 20.0)  # 40 -> 60 and 10 -> 20; no drop


def test_steps_outside_the_samples_do_not_count_and_open_ends_are_clipped() -> None:
    steps = [tool("Old", -100, -50), Step(TOOL, "Bash", 1001.0, math.inf, True)]
    att = attribute(pts([0, 0, 10 * MB, 20 * MB]), steps)
    assert att is not None
    assert att.steps == 1
    assert rows(att)["Bash"] == (1, 20 * MB, 2.0)
    top = att.as_dict()["top"][0]
    assert top["end"] is None and top["open"] is True and top["growth_bytes"] == 20 * MB


def test_too_few_samples_claim_nothing() -> None:
    assert attribute(pts([MB]), [tool("Bash", 0, 1)]) is None
    assert attribute([], []) is None


def test_the_saved_form() -> None:
    att = attribute(pts([0, MB, 2 * MB]), [tool("Bash", 0, 1)])
    assert att is not None
    d = att.as_dict()
    assert d["caveat"].startswith("correlation")
    assert d["by_kind"][0] == {"name": "Bash", "count": 1, "growth_bytes": MB, "seconds": 1.0,
                               "bytes_per_minute": 60 * MB}  # fmt: skip
    assert d["idle"]["growth_bytes"] == MB and d["working"]["growth_bytes"] == MB


def test_damaged_fields_of_a_point_are_read_as_absent() -> None:
    points = [{"t": 1000.0, "b": 0, "lo": "x", "r": None}, {"t": 1001.0, "b": MB, "lo": [1],
              "r": "10"}, {"t": 1002.0, "b": 2 * MB, "lo": math.nan}]  # fmt: skip
    att = attribute(points, [tool("Bash", 0, 2)])
    assert att is not None
    assert rows(att)["Bash"] == (1, 2 * MB, 2.0)
