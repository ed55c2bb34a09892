"""What guardrun says when it restarts: the reason in words, from the facts (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrun.supervisor import decide
from guardrun.supervisor.levels import CRITICAL, EMERGENCY
from guardrun.supervisor.signals import name_of
from guardrun.units import format_bytes, format_duration, format_eta, format_rate

if TYPE_CHECKING:
    from guardrun.platform.types import TreeSample
    from guardrun.supervisor.levels import Thresholds
    from guardrun.supervisor.trend import Estimate


def restart(
    reason: str,
    sample: TreeSample | None,
    metric: str,
    thresholds: Thresholds,
    est: Estimate,
    max_growth: float | None,
    idle: float,
) -> str:
    """Why a restart is asked for: the memory over a level, a growth rate, a planned
    moment, or the user's signal."""
    if reason in (CRITICAL, EMERGENCY) and sample is not None:
        value = sample.total(metric)
        n = len(sample.procs)
        return (
            f"memory {format_bytes(value)} over {reason} "
            f"{format_bytes(thresholds.of(reason))} "
            f"({n} process{'es' if n != 1 else ''})"
        )
    if reason == "signal":
        return "asked to restart (SIGUSR1)"
    if reason in (decide.PLANNED, decide.GROWTH) and sample is not None:
        size = format_bytes(sample.total(metric))
        rate = format_rate(est.rate) if est.rate is not None else "no trend"
        if reason == decide.GROWTH and max_growth is not None:
            return f"memory {size} growing {rate}, faster than max_growth {format_rate(max_growth)}"
        ahead = (
            f"emergency in {format_eta(est.eta_emergency)}"
            if est.eta_emergency is not None
            else "critical"
        )
        return f"planned at an idle moment ({format_duration(idle)}): memory {size} {rate}, {ahead}"
    return reason


def exited(name: str, returncode: int | None, sig: int | None, kind: str) -> str:
    """How the child ended: ``claude exited with code 1``, ``... was killed by SIGKILL
    (out of memory)``."""
    how = f"exited with code {returncode}" if sig is None else f"was killed by {name_of(sig)}"
    return f"{name} {how}" + (" (out of memory)" if kind == "oom" else "")
