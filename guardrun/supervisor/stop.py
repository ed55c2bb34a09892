"""Stopping the child means its whole tree: SIGTERM, a grace period, SIGKILL.

Each step is logged (as watchfiles' ``run.py`` does): who got which signal and
why. The signal goes to the child's process group *and* to every member of the
tree by pid, because a tree spans groups and sessions (shells put pipelines in
groups of their own; daemons call setsid). Members are re-read while waiting,
so a process forked during shutdown is not missed, and the PTY is drained so a
child writing its goodbye never blocks on a full terminal buffer.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from guardrun.platform import alive
from guardrun.platform.signums import signal, signal_name
from guardrun.supervisor.child import Child

if TYPE_CHECKING:
    from collections.abc import Callable

POLL = 0.05
KILL_WAIT = 5.0  # after SIGKILL, how long to wait for the kernel to finish


def _send(child: Child, pids: list[int], sig: int, group: bool = True) -> None:
    if group and child.status is None:
        child.killpg(sig)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_tree(
    child: Child,
    members: Callable[[], list[int]],
    reap: Callable[[], None],
    grace: float,
    log: Callable[[str], None],
    drain: Callable[[], None] = lambda: None,
    first: int = signal.SIGTERM,
) -> None:
    """End ``child`` and everything ``members()`` lists; returns when all are gone."""
    name = os.path.basename(child.argv[0])
    pids = [p for p in members() if alive(p)]
    if child.status is None or pids:
        log(
            f"stopping {name} (pid {child.pid}, {len(pids)} process"
            f"{'es' if len(pids) != 1 else ''}): {signal_name(first)}"
        )
        if child.status is None:
            child.signals_sent.append(first)
        _send(child, pids, first)
        if child.stopped is not None:  # a stopped process acts on SIGTERM once continued
            _send(child, pids, signal.SIGCONT)
    signalled = set(pids)
    deadline = time.monotonic() + grace
    while True:
        drain()
        reap()
        pids = [p for p in members() if alive(p)]
        if child.status is None:
            child.poll()
        if child.status is not None and not pids:
            return
        if time.monotonic() >= deadline:
            break
        # Newcomers forked while stopping get the first signal too; the others are
        # not signalled twice (many CLIs take a second SIGTERM as "quit at once").
        fresh = [p for p in pids if p not in signalled]
        if fresh:
            _send(child, fresh, first, group=False)
            signalled.update(fresh)
        time.sleep(POLL)
    log(
        f"{name}: {len(pids)} process{'es' if len(pids) != 1 else ''} still running "
        f"after {grace:g}s grace: SIGKILL"
    )
    if child.status is None:
        child.signals_sent.append(signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT
    while time.monotonic() < deadline:
        _send(child, pids, signal.SIGKILL)
        drain()
        reap()
        child.poll()
        pids = [p for p in members() if alive(p)]
        if child.status is not None and not pids:
            return
        time.sleep(POLL)
    log(f"{name}: processes {pids} survived SIGKILL (uninterruptible sleep?)")
