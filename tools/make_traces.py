"""Generate the trace corpus in tests/traces/ (deterministic: the same bytes every run).

python tools/make_traces.py           # rewrite tests/traces/
python tools/make_traces.py --check   # exit 1 when the committed corpus is stale

Each trace is one shape of memory (``memory(age)``, child-age seconds) and one pattern
of activity (busy seconds: the agent's output and the user's keys), with a seeded
random generator of its own. The format is described in ``tools/simulate.py``.

Shapes: steady leaks (1, 10, 100 MB/min, thresholds set so critical comes after 60, 45
and 30 minutes); the published Claude Code reports (300 MB -> 6 GB in 8 and in 13 min,
2 -> 12 GB in 30 min, 17 GB after 30 min and after 2 h, growth while idle overnight),
on machines whose RAM gives the default thresholds (50/65/75%) their meaning, with V8's
scavenge noise; GC sawtooths without a leak; a one-off step; a leak that stops; a leak
under an agent that is never idle for long; a leak with idle periods; a leak that grows
only while the agent works; a leak that starts late.

Activity: an agent's turns are busy stretches (the prompt typed, then streamed output
and the spinner: seconds to minutes), with idle gaps between them (the user reading or
away: seconds to minutes). ``idle_every`` guarantees an idle gap of at least a minute in
every stretch of that many seconds; ``max_gap`` caps the gaps (a busy agent).
"""

from __future__ import annotations

import math
import random
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate import TRACES, dump  # noqa: E402

MB = 1_000_000
GIB = 1 << 30
MIN = 60.0
HOUR = 3600.0
PAGE = 4096

Shape = Callable[[random.Random], Callable[[float], float]]  # memory(age), from a seed


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def activity(
    rng: random.Random,
    duration: float,
    *,
    busy: tuple[float, float] = (5.0, 300.0),
    gap: tuple[float, float] = (2.0, 180.0),
    idle_every: float | None = 900.0,
    max_gap: float | None = None,
    quiet_from: float | None = None,
) -> list[int]:
    """1 (busy) or 0 (idle) for each second of ``duration``. ``quiet_from``: no
    activity after it (the user gone for the night)."""
    n = int(duration) + 1
    out = [0] * n
    t, last_long = 0.0, 0.0  # last_long: when the last idle gap of >= 60 s began
    budget = (idle_every - 180.0) if idle_every is not None else math.inf
    while t < duration:
        if quiet_from is not None and t >= quiet_from:
            break
        b = log_uniform(rng, *busy)
        b = min(b, max(2.0, budget - (t - last_long)))  # room for a forced long gap
        for i in range(int(t), min(n, int(t + b))):
            out[i] = 1
        t += b
        g = log_uniform(rng, *gap)
        if max_gap is not None:
            g = min(g, max_gap)
        if t - last_long >= budget - 10.0:
            g = rng.uniform(60.0, 150.0)  # the guaranteed idle minute (and more)
        if g >= 60.0:
            last_long = t
        t += g
    return out


def gc_noise(
    rng: random.Random, amplitude: float, period: tuple[float, float]
) -> Callable[[float], float]:
    """A V8 scavenge-like ripple: the heap rises by up to ``amplitude`` and falls back,
    every ``period`` seconds (irregular)."""
    state = {"start": 0.0, "length": rng.uniform(*period), "height": amplitude}

    def ripple(t: float) -> float:
        while t >= state["start"] + state["length"]:
            state["start"] += state["length"]
            state["length"] = rng.uniform(*period)
            state["height"] = amplitude * rng.uniform(0.5, 1.0)
        return state["height"] * (t - state["start"]) / state["length"]

    return ripple


def sawtooth(
    rng: random.Random, low: float, high: float, period: float, jitter: float
) -> Callable[[float], float]:
    """Memory of a GC runtime without a leak: from ``low`` up to about ``high`` at a
    steady allocation rate, back to about ``low`` at each collection."""
    state = {"start": 0.0, "length": period, "top": high, "floor": low}

    def value(t: float) -> float:
        while t >= state["start"] + state["length"]:
            state["start"] += state["length"]
            state["length"] = period * rng.uniform(1 - jitter, 1 + jitter)
            state["top"] = low + (high - low) * rng.uniform(0.9, 1.0)
            state["floor"] = low + (high - low) * rng.uniform(0.0, 0.03)
        frac = (t - state["start"]) / state["length"]
        return state["floor"] + (state["top"] - state["floor"]) * frac

    return value


def machine(ram: int) -> dict[str, int]:
    """The default thresholds on a machine with ``ram`` bytes (50/65/75%)."""
    return {"warning": ram * 50 // 100, "critical": ram * 65 // 100, "emergency": ram * 75 // 100}


def scaled(base: float, rate: float, to_critical: float) -> dict[str, int]:
    """Thresholds for a leak of ``rate`` from ``base`` that reaches critical after
    ``to_critical`` seconds; warning and emergency in the default proportions
    (50 and 75 against critical's 65, of the way from the baseline)."""
    d = rate * to_critical
    return {
        "warning": int(base + d * 50 / 65),
        "critical": int(base + d),
        "emergency": int(base + d * 75 / 65),
    }


def build(
    name: str,
    description: str,
    duration: float,
    shape: Shape,
    thresholds: dict[str, int],
    *,
    leaks: bool,
    rate: float | None = None,
    leak_start: float | None = None,
    leak_end: float | None = None,
    steady: bool | None = None,
    jitter: float = 0.5 * MB,
    on: list[int] | None = None,
    **act: Any,
) -> tuple[dict[str, Any], list[tuple[float, int, int]]]:
    rng = random.Random(zlib.crc32(name.encode()))
    act_rng = random.Random(zlib.crc32(name.encode()) ^ 0x5EED)
    memory = shape(rng)
    on = on if on is not None else activity(act_rng, duration, **act)
    rows = []
    for i in range(int(duration) + 1):
        value = memory(float(i)) + rng.uniform(-jitter, jitter)
        rows.append((float(i), int(value) // PAGE * PAGE, on[i]))
    header = {
        "trace": 1,
        "name": name,
        "description": description,
        "thresholds": thresholds,
        "baseline": rows[0][1],
        "leaks": leaks,
        "rate": rate,
        "leak_start": leak_start if leaks else None,
        "leak_end": leak_end,
        "steady": leaks if steady is None else steady,
    }
    return header, rows


def linear(base: float, rate: float, start: float = 0.0, end: float = math.inf) -> Shape:
    def shape(_rng: random.Random) -> Callable[[float], float]:
        return lambda t: base + rate * max(0.0, min(t, end) - start)

    return shape


def claude(base: float, rate: float) -> Shape:
    """A leak with V8's scavenge ripple on it (tens of MB every few seconds)."""

    def shape(rng: random.Random) -> Callable[[float], float]:
        ripple = gc_noise(rng, 48 * MB, (2.0, 12.0))
        return lambda t: base + rate * t + ripple(t)

    return shape


def corpus() -> list[tuple[dict[str, Any], list[tuple[float, int, int]]]]:
    per_min = MB / MIN
    out = []

    for mb, base, to_crit in (
        (1, 300 * MB, 60 * MIN),
        (10, 500 * MB, 45 * MIN),
        (100, 800 * MB, 30 * MIN),
    ):
        rate = mb * per_min
        out.append(build(
            f"leak-{mb}MB-min",
            f"steady leak of {mb} MB/min from {base // MB} MB; critical after "
            f"{to_crit / MIN:.0f} min; an agent with an idle minute every 15 min",
            max(2 * HOUR, 3 * to_crit), linear(base, rate), scaled(base, rate, to_crit),
            leaks=True, rate=rate, leak_start=0.0,
        ))  # fmt: skip

    # The published Claude Code shapes (issue 10), on machines of 8, 16 and 24 GiB.
    for minutes in (8, 13):
        rate = (6000 - 300) * MB / (minutes * MIN)
        out.append(build(
            f"claude-6GB-in-{minutes}min",
            f"Claude Code 300 MB -> 6 GB in {minutes} min, 8 GiB machine, V8 ripple",
            3 * minutes * MIN, claude(300 * MB, rate), machine(8 * GIB),
            leaks=True, rate=rate, leak_start=0.0,
        ))  # fmt: skip
    rate = 10_000 * MB / (30 * MIN)
    out.append(build(
        "claude-12GB-in-30min",
        "Claude Code 2 -> 12 GB in 30 min, 16 GiB machine, V8 ripple",
        2 * HOUR, claude(2000 * MB, rate), machine(16 * GIB),
        leaks=True, rate=rate, leak_start=0.0,
    ))  # fmt: skip
    for label, minutes in (("30min", 30), ("2h", 120)):
        rate = 16_500 * MB / (minutes * MIN)
        out.append(build(
            f"claude-17GB-after-{label}",
            f"Claude Code 0.5 -> 17 GB after {label}, 24 GiB machine, V8 ripple",
            max(2 * HOUR, 2.5 * minutes * MIN), claude(500 * MB, rate), machine(24 * GIB),
            leaks=True, rate=rate, leak_start=0.0,
        ))  # fmt: skip
    rate = 12 * per_min
    evening = 40 * MIN
    night = 9 * HOUR
    out.append(build(
        "claude-idle-overnight",
        "Claude Code growing 12 MB/min from 600 MB, 8 GiB machine: a 40-min evening "
        "session, then nobody at the keyboard all night",
        night, claude(600 * MB, rate), machine(8 * GIB),
        leaks=True, rate=rate, leak_start=0.0, quiet_from=evening,
    ))  # fmt: skip

    # GC sawtooths without a leak, 16 GiB machine: peaks at 60-90% of critical.
    crit = machine(16 * GIB)["critical"]
    for period, amplitude, peak in (
        (10, 300 * MB, 0.60),
        (30, 1000 * MB, 0.70),
        (45, 500 * MB, 0.90),
        (60, 2000 * MB, 0.80),
        (90, 4000 * MB, 0.75),
        (120, 3000 * MB, 0.90),
    ):
        high = crit * peak
        low = high - amplitude
        out.append(build(
            f"sawtooth-{period}s-{amplitude // MB}MB-peak{int(peak * 100)}",
            f"GC sawtooth, no leak: {amplitude // MB} MB every ~{period} s (+-20%), peaks "
            f"at {peak:.0%} of critical, 16 GiB machine",
            HOUR, lambda rng, lo=low, hi=high, p=period: sawtooth(rng, lo, hi, p, 0.2),
            machine(16 * GIB), leaks=False,
        ))  # fmt: skip

    def step(rng: random.Random) -> Callable[[float], float]:
        ripple = gc_noise(rng, 48 * MB, (2.0, 12.0))
        lift = lambda t: 6000 * MB * min(1.0, max(0.0, (t - 15 * MIN) / 5))  # noqa: E731
        return lambda t: 2500 * MB + lift(t) + ripple(t)

    out.append(build(
        "step-once",
        "a one-off step: 2.5 GB, then +6 GB in 5 s at 15 min (a big file read once), "
        "flat after; 16 GiB machine",
        HOUR, step, machine(16 * GIB), leaks=False,
    ))  # fmt: skip

    rate = 100 * per_min
    out.append(build(
        "leak-stops",
        "100 MB/min from 1 GB for 79 min (to 80% of critical), then flat; 16 GiB machine",
        2 * HOUR, linear(1000 * MB, rate, 0.0, 79 * MIN),
        machine(16 * GIB), leaks=True, rate=rate, leak_start=0.0, leak_end=79 * MIN,
    ))  # fmt: skip

    rate = 20 * per_min
    out.append(build(
        "busy-agent-leak",
        "20 MB/min from 600 MB, critical after 45 min, under an agent never idle for more "
        "than 20 s",
        2 * HOUR, linear(600 * MB, rate), scaled(600 * MB, rate, 45 * MIN),
        leaks=True, rate=rate, leak_start=0.0,
        on=activity(random.Random(7), 2 * HOUR, busy=(30.0, 600.0), gap=(1.0, 20.0),
                      idle_every=None, max_gap=20.0),
    ))  # fmt: skip

    rate = 30 * per_min
    out.append(build(
        "leak-idle-periods",
        "30 MB/min from 700 MB, critical after 40 min, under an agent idle 1-2.5 min at "
        "least every 15 min and often for seconds",
        2 * HOUR, linear(700 * MB, rate), scaled(700 * MB, rate, 40 * MIN),
        leaks=True, rate=rate, leak_start=0.0,
        on=activity(random.Random(11), 2 * HOUR, busy=(20.0, 400.0), gap=(3.0, 40.0)),
    ))  # fmt: skip

    # Memory that grows only while the agent works: stairs, 60 MB per busy minute.
    busy = activity(random.Random(13), 2 * HOUR)
    grown = [0.0]
    for b in busy:
        grown.append(grown[-1] + (MB if b else 0.0))
    mean = grown[-1] / (2 * HOUR)

    def stairs(_rng: random.Random) -> Callable[[float], float]:
        return lambda t: 900 * MB + grown[min(int(t), len(grown) - 1)]

    out.append(build(
        "leak-while-busy",
        "grows 60 MB per busy minute, not at all while idle (stairs), from 900 MB; "
        "critical after about 40 min",
        2 * HOUR, stairs, scaled(900 * MB, mean, 40 * MIN),
        leaks=True, rate=mean, leak_start=0.0, steady=False, on=busy,
    ))  # fmt: skip

    rate = 30 * per_min
    out.append(build(
        "leak-late-start",
        "flat at 800 MB for 20 min, then 30 MB/min; critical 40 min into the leak",
        2 * HOUR, linear(800 * MB, rate, 20 * MIN), scaled(800 * MB, rate, 40 * MIN),
        leaks=True, rate=rate, leak_start=20 * MIN,
    ))  # fmt: skip
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    TRACES.mkdir(parents=True, exist_ok=True)
    stale = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for header, rows in corpus():
            name = f"{header['name']}.jsonl.gz"
            path = Path(tmp) / name
            dump(header, rows, path)
            target = TRACES / name
            if check:
                if not target.exists() or target.read_bytes() != path.read_bytes():
                    stale.append(name)
            else:
                target.write_bytes(path.read_bytes())
    if stale:
        print("stale traces (run python tools/make_traces.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
