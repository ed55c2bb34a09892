"""What the sentinel left when it stopped a tree itself (``supervisor/sentinel.py``).

When guardrun's loop had not sampled for a while (SIGSTOP, a debugger, a hung system
call) and the tree was at or over emergency, the sentinel stopped the tree and wrote
``<run-id>.sentinel.json`` beside the run's event log (and a ``sentinel_stopped``
event in it, which ``guardrun report`` lists). The next start in the project says so
once, and renames the record ``<run-id>.sentinel.seen.json``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from guardrun.escape import visible
from guardrun.units import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SUFFIX = ".sentinel.json"
SEEN = ".sentinel.seen.json"


def describe(record: dict[str, Any]) -> str:
    """One line: what the sentinel did, when and why."""
    mem, limit = record.get("memory_bytes"), record.get("emergency_bytes")
    over = (
        f"memory {format_bytes(mem)} at or over emergency {format_bytes(limit)}"
        if isinstance(mem, int) and isinstance(limit, int)
        else "memory over emergency"
    )
    # The record is a file of the state directory: shown, never obeyed (ESC included).
    return visible(
        f"the sentinel stopped run {record.get('run_id', '?')}'s tree at "
        f"{record.get('time', '?')}: {record.get('reason', 'guardrun was not sampling')}, {over}"
    )


def tell(runs_dir: str | os.PathLike[str], say: Callable[[str], None]) -> int:
    """Say each record not said yet, and mark it said; how many there were."""
    try:
        names = [n for n in os.listdir(runs_dir) if n.endswith(SUFFIX) and not n.endswith(SEEN)]
    except OSError:
        return 0
    if not names:
        return 0
    from guardrun.untrusted import Unreadable, read_json_object  # a stranger's: when there

    for name in sorted(names):
        path = os.path.join(runs_dir, name)
        try:  # a FIFO or a link planted there is refused at once, never waited on
            record = read_json_object(path)
            os.replace(path, path[: -len(SUFFIX)] + SEEN)
        except (OSError, Unreadable):
            continue
        say(describe(record))
    return len(names)
