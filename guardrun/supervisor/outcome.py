"""The run as data: what one watch of a child ends with (``Outcome``), what follows a
child run (``Next``), and a crash's state to save once the next child is up (``Later``).

``Supervisor.watch`` returns an ``Outcome``; ``_supervise`` and ``_exited`` turn it into a
``Next`` that ``_run`` follows: exit with a code, restart after a cooldown, or start a new
conversation at once. Nothing is handed between methods through attributes.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from guardrun.supervisor.status import RunStatus

# What follows a child run.
EXIT = "exit"  # guardrun exits with ``code``
RESTART = "restart"  # the next child starts after ``cooldown``, resumed where it can be
FRESH = "fresh"  # the agent refused to resume: a new conversation at once, no cooldown

# A crash's state is saved once the new child has drawn its first output, or this long
# after its start: the capture's Python work (and its thread's hold on the GIL) would
# otherwise delay relaying that first output, the end of the user's wait.
CAPTURE_AFTER = 0.1


class Outcome(NamedTuple):
    """How one watch of a child ended."""

    kind: str  # "exited" | "restart" | "stop"
    reason: str = ""
    signal: int = 0


class Later:
    """A crash's state, taken from the snapshot of the moment the crash was seen and
    saved once the next child is up (nothing is lost by starting it first: the old one
    is gone), followed by ``then`` (``on_restart``, whose ``GUARDRUN_STATE_FILE`` names
    this state). ``save`` runs once, whichever caller comes first."""

    def __init__(self, status: "RunStatus", reason: str) -> None:
        self.status = status
        self.reason = reason
        self.then: Callable[[], None] | None = None
        self.done = False

    def due(self, started: float, output: bool, now: float) -> float | None:
        """None when the state is to be saved now (the child drew its first output, or
        ``CAPTURE_AFTER`` passed); else the clock time it will be."""
        at = started + CAPTURE_AFTER
        return None if output or now >= at else at

    def save(self, capture: "Callable[[RunStatus, str], object]") -> None:
        if self.done:
            return
        self.done = True
        capture(self.status, self.reason)
        if self.then is not None:
            self.then()


class Next(NamedTuple):
    """What follows one child run."""

    step: str  # EXIT | RESTART | FRESH
    code: int = 0  # EXIT: guardrun's exit code
    cooldown: float = 0.0  # RESTART: seconds to wait before the next start
    capture: Later | None = None  # RESTART after a crash: its state, saved once the next is up
