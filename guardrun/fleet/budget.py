"""Several runs, one machine: who gives way (pure: the runs' facts in, a choice out).

Every run reads the same live files and computes the same ranking, so exactly one run
restarts when the runs together are over ``machine.budget`` or the machine is critical:
the lowest ``priority`` first, then the one idle for longest (no output, no keys), then
the largest tree, then the oldest start (then the lowest pid, so there is no tie). A run
whose restart protection refused has *passed its turn* and is skipped, and so is a run
whose agent is stopped (Ctrl-Z): only its own emergency restarts it, and while its job
is stopped guardrun itself is stopped too. A run that cannot restart at all (restarts
off, or monitor-only) is never chosen, whatever its priority: the next one is.
"""

from collections.abc import Iterable, Sequence
from typing import NamedTuple


class Member(NamedTuple):
    """One live run, as its live file tells it."""

    pid: int  # guardrun's own pid
    priority: int = 0
    idle_since: float | None = None  # wall time of its last output or keys (None: unknown)
    memory: int = 0  # its tree's bytes
    started: str = ""  # ISO-8601 UTC of the run's start: sorts by time
    passed: bool = False  # its protection refused a turn: skip it
    stopped: bool = False  # its agent is stopped (job control): it cannot give way
    can_restart: bool = True  # False: restarts off or monitor-only: it never gives way


class Verdict(NamedTuple):
    total: int  # all runs' trees together
    budget: int | None  # bytes (None: no budget)
    over: bool  # total over the budget
    chosen: Member | None  # the run that gives way (over or machine critical), else None
    why: str  # why that one, for status and events
    pids: tuple[int, ...] = ()  # the runs it judged


def ranking(members: Iterable[Member]) -> list[Member]:
    """Who gives way first, first. An unknown idleness counts as idle since never (a
    run without a terminal cannot be judged: it does not jump the queue)."""
    return sorted(
        members,
        key=lambda m: (
            m.priority,
            m.idle_since if m.idle_since is not None else float("inf"),
            -m.memory,
            m.started,
            m.pid,
        ),
    )


def judge(members: Sequence[Member], budget: int | None, machine_critical: bool) -> Verdict:
    total = sum(max(0, m.memory) for m in members)
    over = budget is not None and total > budget
    pids = tuple(m.pid for m in members)
    if not (over or machine_critical):
        return Verdict(total, budget, over, None, "", pids)
    # A run that cannot restart (restart.enabled off, or monitor-only after its protection
    # refused) is never chosen: the others would wait forever on a turn it cannot take.
    ranked = [m for m in ranking(members) if m.can_restart and not (m.passed or m.stopped)]
    if not ranked:
        why = "no run can give way (each cannot restart, has passed its turn or is stopped)"
        return Verdict(total, budget, over, None, why, pids)
    first = ranked[0]
    return Verdict(total, budget, over, first, _why(first, ranked[1:]), pids)


def _why(first: Member, rest: Sequence[Member]) -> str:
    if not rest:
        return "the only run that can give way"
    second = rest[0]
    if first.priority != second.priority:
        return f"lowest priority ({first.priority})"
    if first.idle_since != second.idle_since:
        return "idle for longest"
    if first.memory != second.memory:
        return "largest tree"
    return "oldest run"
