"""degrade.py: the whole transition table, every mode x event x on_exhausted."""

from __future__ import annotations

import itertools

import pytest

from guardrun.supervisor import degrade as d

EXPECTED = {
    # (mode, event): (monitor -> mode, stop -> mode)
    (d.NORMAL, d.RESTART_REFUSED): (d.MONITOR_ONLY, d.MONITOR_ONLY),
    (d.NORMAL, d.RESTART_ALLOWED): (d.NORMAL, d.NORMAL),
    (d.NORMAL, d.EMERGENCY_REFUSED): (d.MONITOR_ONLY, d.EMERGENCY_STOP),
    (d.NORMAL, d.PROBE_LOST): (d.UNWATCHED, d.UNWATCHED),
    (d.NORMAL, d.PROBE_BACK): (d.NORMAL, d.NORMAL),
    (d.MONITOR_ONLY, d.RESTART_REFUSED): (d.MONITOR_ONLY, d.MONITOR_ONLY),
    (d.MONITOR_ONLY, d.RESTART_ALLOWED): (d.NORMAL, d.NORMAL),
    (d.MONITOR_ONLY, d.EMERGENCY_REFUSED): (d.MONITOR_ONLY, d.EMERGENCY_STOP),
    (d.MONITOR_ONLY, d.PROBE_LOST): (d.UNWATCHED, d.UNWATCHED),
    (d.MONITOR_ONLY, d.PROBE_BACK): (d.MONITOR_ONLY, d.MONITOR_ONLY),
    (d.UNWATCHED, d.RESTART_REFUSED): (d.UNWATCHED, d.UNWATCHED),
    (d.UNWATCHED, d.RESTART_ALLOWED): (d.UNWATCHED, d.UNWATCHED),
    (d.UNWATCHED, d.EMERGENCY_REFUSED): (d.UNWATCHED, d.UNWATCHED),
    (d.UNWATCHED, d.PROBE_LOST): (d.UNWATCHED, d.UNWATCHED),
    (d.UNWATCHED, d.PROBE_BACK): (d.NORMAL, d.NORMAL),
}


@pytest.mark.parametrize(
    "mode,event,on_exhausted",
    list(itertools.product(d.MODES, d.EVENTS, ("monitor", "stop"))),
)
def test_every_transition(mode: str, event: str, on_exhausted: str) -> None:
    t = d.next_mode(mode, event, on_exhausted)
    assert t.previous == mode
    if mode == d.EMERGENCY_STOP:
        assert t == d.Transition(d.EMERGENCY_STOP, False, "none", d.EMERGENCY_STOP)
        return
    want = EXPECTED[(mode, event)][0 if on_exhausted == "monitor" else 1]
    assert t.mode == want
    assert t.changed == (want != mode)
    if want == d.EMERGENCY_STOP:
        assert t.action == "stop"
    elif t.changed and want in (d.MONITOR_ONLY, d.UNWATCHED):
        assert t.action == "warn"
    else:
        assert t.action == "none"  # said once, not on every refused request


def test_unknown_inputs_are_errors() -> None:
    with pytest.raises(ValueError):
        d.next_mode("bogus", d.PROBE_LOST)
    with pytest.raises(ValueError):
        d.next_mode(d.NORMAL, "bogus")
    with pytest.raises(ValueError):
        d.next_mode(d.NORMAL, d.PROBE_LOST, "explode")
