"""Any other command: no session to find, and a restart reruns the same argv.

The config's ``restart.resume_args`` (arguments a generic agent adds when resuming) are the
supervisor's to append; this adapter knows nothing of the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from guardrun.state.agents.base import Message
    from guardrun.state.agents.session import Session


class GenericAgent:
    name = "generic"

    def matches(self, argv: Sequence[str]) -> bool:
        return bool(argv)

    def launch_argv(self, argv: Sequence[str], again: bool = False) -> list[str]:
        return list(argv)

    def resume_refused(self, exit_code: int) -> bool:
        return False  # no command of its own to refuse a session

    def find_session(
        self,
        argv: Sequence[str],
        pids: Sequence[int],
        cwd: Path,
        started_at: float,
        env: Mapping[str, str],
    ) -> Session | None:
        return None

    def resume_argv(self, argv: Sequence[str], session: Session | None) -> list[str] | None:
        return list(argv)

    def last_messages(self, session: Session, n: int = 10) -> list[Message]:
        return []
