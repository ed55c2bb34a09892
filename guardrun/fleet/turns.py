"""This run's place among the runs of this user that share the machine: whether it gives
way now (``"budget"``/``"system"``), another run does (``"wait"``), or nothing is shared
(None). The choice itself is ``budget.judge``'s, from the live files ``Shared`` reads;
here is what this run makes of it, and the events when that changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from guardrun.fleet.budget import Verdict
from guardrun.supervisor.decide import BUDGET, SYSTEM, WAIT
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BUDGET", "SYSTEM", "WAIT", "Shared", "Turns"]


class Shared(Protocol):
    """The runs of this user together: ``machine.MachineWatch``."""

    budget: int | None

    def check(self, machine_critical: bool) -> Verdict | None: ...


class Turns:
    def __init__(
        self,
        shared: Shared,
        pid: int,
        name: str,
        tell: Callable[..., None],
        warn: Callable[[str], None],
    ) -> None:
        self.shared, self.pid, self.name = shared, pid, name
        self._tell, self._warn = tell, warn  # tell(kind, **fields): an event
        self.over = False  # the runs together are over the budget (as last seen)
        self.chosen = False  # ... and this run is the one that gives way
        self.passed = False  # its restart protection refused the turn: the next one's

    @property
    def budget(self) -> int | None:
        return self.shared.budget

    def turn(self, machine_critical: bool) -> str | None:
        verdict = self.shared.check(machine_critical)
        if verdict is not None and self.pid not in verdict.pids:
            return None  # this run's own live file is not there (unwritable): act alone
        if verdict is None or (not verdict.over and not machine_critical):
            self.over = self.chosen = self.passed = False  # the episode is over
            return None
        if verdict.over and not self.over:
            self._tell(
                "budget_over", total_bytes=verdict.total, budget_bytes=verdict.budget,
                next_pid=verdict.chosen.pid if verdict.chosen else None, why=verdict.why,
            )  # fmt: skip
        self.over = verdict.over
        mine = verdict.chosen is not None and verdict.chosen.pid == self.pid
        if mine and not self.chosen:
            why = "over the machine budget" if verdict.over else "the machine is critical"
            self._warn(
                f"{why} ({format_bytes(verdict.total)} in all runs): {self.name} gives way "
                f"({verdict.why}), at its next quiet moment"
            )
            self._tell("chosen", total_bytes=verdict.total, budget_bytes=verdict.budget,
                       why=verdict.why)  # fmt: skip
        self.chosen = mine
        if not mine:
            return WAIT
        return BUDGET if verdict.over else SYSTEM

    def pass_turn(self, reason: str) -> None:
        """Restart protection refused: the next run in the ranking gives way instead."""
        self.passed = True
        self._tell("passed_turn", reason=reason)
