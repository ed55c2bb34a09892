"""The tree stop signals the child's group and every member by pid (supervisor/stop.py).

A tree that spans groups and sessions is ended by SIGTERM within the grace, not by the
SIGKILL after it: each member records the SIGTERM it got (tests/children/term_tree.py).
A stop that signalled only the root (or only its group) would still end the tree, by
SIGKILL once the whole grace had passed; the records and the time taken tell them apart.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import Guarded, child, is_alive, levels, wait_for

GRACE = 30.0  # long, so that "within the grace" and "SIGKILL after it" are far apart


def marks(path: Path, kind: str) -> dict[str, int]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == kind:
            out[parts[1]] = int(parts[2])
    return out


def test_every_member_of_a_tree_across_groups_and_sessions_gets_sigterm(
    tmp_path: Path, reaper: list[int]
) -> None:
    path = tmp_path / "marks"
    with Guarded(
        "--no-pty", "--grace", f"{GRACE:g}s", *levels("8GB", "9GB", "10GB"), "-v",
        "--", *child("term_tree.py", str(path)), cwd=tmp_path,
    ) as g:  # fmt: skip
        ready = wait_for(lambda: (r := marks(path, "ready")) and len(r) == 3 and r, timeout=15)
        assert isinstance(ready, dict)
        reaper.extend(ready.values())  # whatever happens, nothing outlives the test
        assert all(is_alive(pid) for pid in ready.values())
        t0 = time.monotonic()
        # Generous: a SIGKILL would come only after GRACE, and the stop itself is a few
        # polls of 50 ms; half the grace leaves room for a loaded machine either way.
        try:
            err = g.stop(signal.SIGTERM, timeout=GRACE / 2)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the stop took over {GRACE / 2:g}s (waiting for SIGKILL after the grace?); "
                f"members that got SIGTERM: {sorted(marks(path, 'TERM'))} of {sorted(ready)}"
            )
        took = time.monotonic() - t0
    assert took < GRACE / 2
    termed = marks(path, "TERM")
    assert termed == ready, f"members without SIGTERM: {set(ready) - set(termed)}\n{err}"
    assert "SIGKILL" not in err and "still running" not in err, err
    assert not any(is_alive(pid) for pid in ready.values())
