"""budget: who gives way when the runs together are over the budget, every tie broken."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrun.fleet.budget import Member, judge, ranking

MB = 1_000_000


def test_under_the_budget_nobody_gives_way() -> None:
    runs = [Member(1, memory=100 * MB), Member(2, memory=100 * MB)]
    v = judge(runs, 300 * MB, machine_critical=False)
    assert not v.over and v.chosen is None and v.total == 200 * MB and v.pids == (1, 2)
    assert judge(runs, None, machine_critical=False).chosen is None


def test_lowest_priority_first_then_idle_longest_then_largest_then_oldest() -> None:
    low = Member(1, priority=0, idle_since=500.0, memory=10 * MB, started="2026-01-01T00:00:03Z")
    high = Member(2, priority=5, idle_since=100.0, memory=900 * MB, started="2026-01-01T00:00:01Z")
    v = judge([high, low], 100 * MB, False)
    assert v.over and v.chosen == low and v.why == "lowest priority (0)"
    idle = Member(3, idle_since=100.0, memory=10 * MB)
    busy = Member(4, idle_since=900.0, memory=500 * MB)
    assert judge([busy, idle], 1, False).chosen == idle
    assert judge([busy, idle], 1, False).why == "idle for longest"
    big, small = Member(5, idle_since=1.0, memory=9 * MB), Member(6, idle_since=1.0, memory=1 * MB)
    assert judge([small, big], 1, False).chosen == big
    old = Member(7, memory=MB, started="2026-01-01T00:00:00Z")
    new = Member(8, memory=MB, started="2026-01-01T00:00:09Z")
    assert (
        judge([new, old], 1, False).chosen == old
        and judge([new, old], 1, False).why == "oldest run"
    )
    # Idleness unknown (no terminal): never ahead of one known idle.
    assert ranking([Member(9), Member(10, idle_since=5.0)])[0].pid == 10


def test_a_run_that_passed_its_turn_is_skipped() -> None:
    first, second = Member(1, 0, memory=MB, passed=True), Member(2, 1, memory=MB)
    assert judge([first, second], 0, False).chosen == second
    v = judge([first], 0, False)
    assert v.chosen is None and v.why.startswith("no run can give way")


def test_a_run_whose_agent_is_stopped_is_skipped() -> None:
    # Ctrl-Z: the idlest of all by its silence, but its guardrun is stopped with it.
    stopped = Member(1, 0, idle_since=0.0, memory=MB, stopped=True)
    busy = Member(2, 0, idle_since=100.0, memory=MB)
    assert judge([stopped, busy], 0, False).chosen == busy
    assert judge([stopped], 0, True).chosen is None


def test_the_machine_critical_chooses_even_without_a_budget() -> None:
    v = judge([Member(1, memory=MB), Member(2, memory=2 * MB)], None, machine_critical=True)
    assert not v.over and v.chosen is not None and v.chosen.pid == 2


members = st.builds(
    Member,
    pid=st.integers(1, 10_000),
    priority=st.integers(-3, 3),
    idle_since=st.one_of(st.none(), st.floats(0, 1e6)),
    memory=st.integers(0, 10**10),
    started=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]),
)


@given(st.lists(members, min_size=1, max_size=6, unique_by=lambda m: m.pid))
def test_every_run_computes_the_same_choice_whatever_the_order(runs: list[Member]) -> None:
    """Each run lists the live files in its own order: the choice must not depend on it."""
    chosen = {judge(list(order), 0, False).chosen for order in itertools.permutations(runs)}
    assert len(chosen) == 1


@pytest.mark.parametrize("budget", [0, None])
def test_a_run_that_cannot_restart_is_never_chosen(budget: int | None) -> None:
    # priority -1000 with restarts off (or monitor-only): it would be first, and every
    # other run would wait forever for a restart that never comes.
    stuck = Member(1, -1000, idle_since=0.0, memory=9 * MB, can_restart=False)
    other = Member(2, 5, idle_since=100.0, memory=MB)
    verdict = judge([stuck, other], budget, True)
    assert verdict.chosen == other
    assert judge([stuck], budget, True).chosen is None
    assert "cannot restart" in judge([stuck], budget, True).why


def test_the_live_file_says_whether_a_run_can_restart() -> None:
    from guardrun.fleet.machine import member

    assert member({"pid": 3, "can_restart": False}).can_restart is False
    assert member({"pid": 3, "can_restart": True}).can_restart is True
    assert member({"pid": 3}).can_restart is True  # an older guardrun's file
