"""``Session``: the conversation a supervised child is in, as an adapter finds it.

A module of its own because its fields are paths: it imports ``pathlib`` (with
``urllib.parse``, milliseconds a start does not pay), and only the adapters that find
sessions, and what saves them, import it. Its annotations are evaluated (no ``from
__future__ import annotations``), as in every module that defines a NamedTuple: typing
turns a string field annotation into a ``ForwardRef``, compiled, the first at the cost of
the interpreter's AST types (docs/benchmarks.md).
"""

from pathlib import Path
from typing import NamedTuple

# The source of a Session that names no conversation on purpose: the files did not prove
# which one is this run's, so a restart starts the agent's own new conversation.
UNCERTAIN = "uncertain"


class Session(NamedTuple):
    """The conversation a supervised child is in, as far as its files tell."""

    agent: str
    session_id: str | None
    transcript: Path | None
    cwd: Path
    source: str  # how it was found: "argv", "sessions file", "open file", ... or UNCERTAIN
    # Why this session is the run's (or, with source UNCERTAIN, why none is taken): for the
    # event log and the saved state, so a fresh conversation after a restart is explained.
    note: str = ""


def uncertain(agent: str, cwd: Path, note: str) -> Session:
    """A session that names no conversation on purpose (``UNCERTAIN``), and says why."""
    return Session(agent, None, None, cwd, UNCERTAIN, note)
