"""Pure decisions of the run loop, with the clock's value passed in (no I/O).

What level to act on (the tree's, or the machine's when that is worse), when a
critical tree is restarted (at a quiet moment, or after ``idle_wait`` at most),
and whether an exit was clean, a crash or an out-of-memory death.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from typing import NamedTuple

from guardrun.supervisor.levels import CRITICAL, EMERGENCY, RANK

# What runtimes print when they die of memory (V8, CPython, glibc, Go, Rust).
OOM_MESSAGES = (
    b"JavaScript heap out of memory",
    b"FATAL ERROR: Reached heap limit",
    b"MemoryError",
    b"out of memory",
    b"Out of memory",
    b"memory allocation of",
)


class Acting(NamedTuple):
    level: str  # the level that decides what is done
    reason: str  # what it is named after: the level, or "system"/"gpu"


def acting_level(tree_level: str, external_level: str, external_source: str) -> Acting:
    """The tree's level, raised to critical when the machine (RAM, PSI, GPU) is critical."""
    if external_level == CRITICAL and RANK[tree_level] < RANK[CRITICAL]:
        return Acting(CRITICAL, external_source or "system")
    return Acting(tree_level, tree_level)


def critical_since(acting: str, since: float | None, now: float) -> float | None:
    """When the current stretch at critical or above began (None: not there now)."""
    if RANK[acting] < RANK[CRITICAL]:
        return None
    return now if since is None else since


def restart_now(
    acting: Acting,
    since: float | None,
    now: float,
    last_io: float | None,
    idle_quiet: float,
    idle_wait: float,
) -> str | None:
    """The reason to restart now, or None. Emergency restarts at once; critical at the
    first moment output and keys have been quiet ``idle_quiet`` seconds (``last_io``
    None: no terminal to judge by, the stretch's start is used), or after ``idle_wait``
    at critical whatever the agent is doing."""
    if acting.level == EMERGENCY:
        return EMERGENCY
    if acting.level != CRITICAL or since is None:
        return None
    quiet = now - (since if last_io is None else last_io)
    if quiet >= idle_quiet or now - since >= idle_wait:
        return acting.reason
    return None


def retry_at(now: float, wait: float, interval: float) -> float:
    """When to ask restart protection again after a refusal (never sooner than a poll)."""
    return now + max(wait, interval)


def clean_exit(returncode: int | None, term_signal: int | None, sent: Iterable[int]) -> bool:
    """True when an exit is the user's or guardrun's doing, not a crash."""
    if returncode == 0:
        return True
    if term_signal in (signal.SIGINT, signal.SIGQUIT) or returncode in (130, 131):
        return True  # the user's Ctrl-C or Ctrl-\
    return term_signal is not None and term_signal in set(sent)


def exit_kind(
    returncode: int | None,
    term_signal: int | None,
    sent: Iterable[int],
    oom_kills: int,
    output_tail: bytes,
) -> str | None:
    """None for a clean exit; "oom" when the kernel's OOM killer or the runtime's own
    message says memory; else "crash"."""
    if clean_exit(returncode, term_signal, sent):
        return None
    if term_signal == signal.SIGKILL and oom_kills > 0:
        return "oom"
    if any(m in output_tail for m in OOM_MESSAGES):
        return "oom"
    return "crash"


def start_failure(ran: float, min_uptime: float) -> bool:
    """A command that fails this soon has a start problem (a bad flag, a missing login),
    not a crash: restarting it would only burn attempts."""
    return ran < min_uptime
