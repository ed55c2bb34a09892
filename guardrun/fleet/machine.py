"""The runs of this user on this machine, together: their live files read at a sample,
and who gives way (``supervisor.budget``) when they are over ``machine.budget`` or the
machine is critical. No daemon: every run reads the same files and decides alike."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

if TYPE_CHECKING:  # imported when first needed: most runs share nothing
    from guardrun.fleet.budget import Member, Verdict


def member(run: dict[str, Any]) -> Member:
    """A live file's run as the ranking sees it (anything malformed reads as a default)."""
    from guardrun.fleet.budget import Member

    def number(name: str) -> float | None:
        value = run.get(name)
        return (
            float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )

    priority = run.get("priority")
    return Member(
        pid=int(run["pid"]),
        priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
        idle_since=number("idle_since"),
        memory=int(number("memory_bytes") or 0),
        started=str(run.get("started_at", "")),
        passed=run.get("passed") is True,
        stopped=run.get("stopped") is not None,
        can_restart=run.get("can_restart") is not False,  # absent: an older guardrun's file
    )


class MachineWatch:
    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        budget: int | None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.budget = budget  # bytes, or None: no budget (only the machine's pressure)
        self.warn = warn
        self._warned: set[str] = set()  # a planted file is named once, not every sample

    def check(self, machine_critical: bool) -> Verdict | None:
        """The verdict from the live files now; None when nothing is shared (no budget and
        the machine not critical: then no file is read at all)."""
        if self.budget is None and not machine_critical:
            return None
        from guardrun.fleet.budget import judge
        from guardrun.observe.live_read import list_live

        problems: list[str] = []
        runs = list_live(self.state_dir, problems)
        for problem in problems:
            if problem not in self._warned and self.warn is not None:
                self._warned.add(problem)
                self.warn(problem)
        return judge([member(r) for r in runs], self.budget, machine_critical)
