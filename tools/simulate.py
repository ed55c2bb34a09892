"""Replay memory traces through guardrun's real decision code, with a fake clock.

python tools/simulate.py                      # every trace in tests/traces/, a table
python tools/simulate.py TRACE... [--json]    # these traces; --json: one object per trace

What runs is the package's own code, as ``Supervisor.watch`` and ``_supervise`` drive it:
``decide.step`` (the one per-sample decision the run loop calls too) over ``MemoryWatch``
(levels with sustain and hysteresis, the trend, ``next_delay``) on a tree whose sample is
the trace's memory at that moment, ``decide.Decider`` (acting level, planned / critical /
emergency), and ``Protection`` (breaker, cooldown, refusals) on the simulated clock.
Only what cannot exist here is modelled: the PTY (the trace's ``busy``
column is the agent's output and the user's keys), the stop (``STOP`` seconds from the
decision to the old child's exit) and the cooldown (the clock jumps over it).

A restarted child is a fresh process: it replays the trace's memory from its own start
(age 0: the baseline, then the same leak), while activity follows the wall clock (the
user and the task go on). The run ends at the trace's last row.

Trace format (``docs/benchmarks.md``): JSON lines, gzip when the name ends in ``.gz``.
The first line is a header object::

    {"trace": 1, "name": "leak-10MB-min", "description": "...",
     "thresholds": {"warning": B, "critical": B, "emergency": B},   # bytes
     "baseline": B, "leaks": true, "rate": B_per_s | null,          # the true rate
     "leak_start": s | null, "leak_end": s | null,                  # child-age seconds
     "steady": true,                         # one rate all along (false: e.g. in stairs)
     "settings": {"idle": 30.0, ...}}                               # optional overrides
                                                                    # (RunSettings fields)

then one row per line, ``[t, bytes, busy]``: seconds since the child's start (rising,
about 1 s apart), the tree's bytes at ``t`` (interpolated linearly in between), and
``busy`` 1 when the agent wrote output or the user typed during ``[t, next t)``.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guardrun.config.load import default_config  # noqa: E402
from guardrun.platform.cgroup import MemoryLimit  # noqa: E402
from guardrun.platform.types import ProcSample, TreeSample  # noqa: E402
from guardrun.runner import settings_from_config  # noqa: E402
from guardrun.supervisor import decide, degrade  # noqa: E402
from guardrun.supervisor.levels import CRITICAL, EMERGENCY  # noqa: E402
from guardrun.supervisor.memory import MemoryWatch  # noqa: E402
from guardrun.supervisor.protection import Protection  # noqa: E402
from guardrun.supervisor.settings import RunSettings  # noqa: E402
from guardrun.supervisor.tree import Tree  # noqa: E402
from guardrun.units import Threshold  # noqa: E402

TRACES = ROOT / "tests" / "traces"
STOP = 1.0  # decision to the old child's exit: capture and SIGTERM (Claude Code: < 1 s)
LEAK_RUN = 120.0  # the ETA is judged once the leak has run this long ...
ETA_WAY = 0.9  # ... up to this much of the way from the leak's start to critical ...
ETA_LEFT = 60.0  # ... and while the true time left is at least this ("<1 min" in the title)
MB = 1_000_000


# ------------------------------------------------------------------ traces
class Trace:
    """One trace: the header's facts and the rows, with memory and activity lookups."""

    def __init__(self, header: dict[str, Any], rows: Sequence[Sequence[float]]) -> None:
        if header.get("trace") != 1:
            raise ValueError("not a trace (version 1 header expected)")
        if len(rows) < 2:
            raise ValueError("a trace needs at least two rows")
        self.header = header
        self.name: str = header["name"]
        th = header["thresholds"]
        self.warning, self.critical, self.emergency = (
            int(th["warning"]),
            int(th["critical"]),
            int(th["emergency"]),
        )
        self.baseline = int(header.get("baseline", rows[0][1]))
        self.leaks = bool(header.get("leaks", False))
        self.rate: float | None = header.get("rate")
        self.leak_start: float | None = header.get("leak_start")
        self.steady = bool(header.get("steady", self.leaks))  # one rate all along
        self.settings: dict[str, Any] = dict(header.get("settings", {}))
        self.times = [float(r[0]) for r in rows]
        self.values = [float(r[1]) for r in rows]
        self.busy = [bool(r[2]) for r in rows]
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError(f"{self.name}: row times must rise")
        self.duration = self.times[-1]
        self._peak: list[float] = []  # the highest memory up to each row
        for v in self.values:
            self._peak.append(max(v, self._peak[-1]) if self._peak else v)
        # For each row, when the last busy row before it ended (-inf: none yet).
        self._busy_end: list[float] = []
        end = -math.inf
        for i, busy in enumerate(self.busy):
            self._busy_end.append(end)
            if busy:
                end = self.times[i + 1] if i + 1 < len(self.times) else self.times[i]

    def memory(self, age: float) -> int:
        """The tree's bytes at ``age`` seconds after a child's start."""
        times, values = self.times, self.values
        if age <= times[0]:
            return int(values[0])
        i = bisect.bisect_right(times, age) - 1
        if i >= len(times) - 1:
            return int(values[-1])
        t0, t1 = times[i], times[i + 1]
        return int(values[i] + (values[i + 1] - values[i]) * (age - t0) / (t1 - t0))

    def peak_to(self, i: int) -> int:
        """The highest memory from the first row to row ``i``."""
        return int(self._peak[max(0, min(i, len(self._peak) - 1))])

    def last_activity(self, t: float) -> float:
        """The latest moment at or before ``t`` with output or keys (-inf: none)."""
        i = max(0, bisect.bisect_right(self.times, t) - 1)
        return t if self.busy[i] else self._busy_end[i]

    def crossing(self, level: int) -> float | None:
        """The first child-age at which memory reaches ``level`` (interpolated)."""
        times, values = self.times, self.values
        for i, v in enumerate(values):
            if v >= level:
                if i == 0:
                    return times[0]
                v0 = values[i - 1]
                return times[i - 1] + (times[i] - times[i - 1]) * (level - v0) / (v - v0)
        return None

    def idle_gaps(self, every: float = 900.0, gap: float = 60.0) -> bool:
        """True when every stretch of ``every`` seconds holds ``gap`` seconds or more in a
        row with no output and no keys."""
        idle: list[tuple[float, float]] = []  # idle stretches: (start, end)
        start: float | None = None
        for t, busy in zip(self.times, self.busy, strict=True):
            if busy and start is not None:
                idle.append((start, t))
                start = None
            elif not busy and start is None:
                start = t
        if start is not None:
            idle.append((start, self.duration))
        # The window [x, x + every] holds ``gap`` of the idle stretch (s, e) when
        # x is in [s - every + gap, e - gap]: those must cover [0, duration - every].
        need = max(0.0, self.duration - every)
        point = 0.0  # covered up to here, once ``point`` is itself covered
        for s, e in sorted((s - every + gap, e - gap) for s, e in idle if e - s >= gap):
            if s > point:
                return False
            if e >= point:
                point = e
                if point >= need:
                    return True
        return False


def header(path: Path) -> dict[str, Any]:
    """A trace's header alone (its first line)."""
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        head: dict[str, Any] = json.loads(f.readline())
    return head


def load(path: Path) -> Trace:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = iter(f)
        header = json.loads(next(lines))
        rows = [json.loads(line) for line in lines if line.strip()]
    return Trace(header, rows)


def dump(header: dict[str, Any], rows: Iterable[Sequence[float]], path: Path) -> None:
    """Write a trace (gzip when ``path`` ends in ``.gz``, with no timestamp in it, so
    the same trace is the same bytes)."""
    text = json.dumps(header, separators=(",", ":")) + "\n"
    text += "".join(f"[{_num(t)},{int(b)},{int(busy)}]\n" for t, b, busy in rows)
    data = text.encode()
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)


def _num(t: float) -> str:
    return str(int(t)) if float(t).is_integer() else f"{t:.3f}".rstrip("0")


# ------------------------------------------------------------- the replay
def default_settings() -> RunSettings:
    """The config's defaults, as ``runner.settings_from_config`` builds them."""
    return settings_from_config(default_config(), ["claude"], argparse.Namespace(no_pty=False))


def settings_for(trace: Trace, base: RunSettings | None = None) -> RunSettings:
    s = base if base is not None else default_settings()
    s = s._replace(
        warning=Threshold(trace.warning, False),
        critical=Threshold(trace.critical, False),
        emergency=Threshold(trace.emergency, False),
    )
    return s._replace(**trace.settings) if trace.settings else s


class TraceTree(Tree):
    """The tree as the trace draws it: one process whose memory the replay sets."""

    def __init__(self) -> None:
        super().__init__("trace", set, lambda *a: None)
        self.value = 0
        self.now = 0.0

    def new_child(self, pid: int) -> None:
        self.child_pid = pid

    def sample(self) -> TreeSample | None:
        return TreeSample(self.now, (ProcSample(self.child_pid, 0, self.value),))

    def close(self) -> None:
        pass


class Restart(NamedTuple):
    at: float  # the decision's time (trace seconds)
    reason: str
    idle_for: float  # seconds since the last output or key
    value: int  # memory at the decision
    child_age: float
    allowed: bool  # restart protection's answer


class Seen(NamedTuple):
    """One sample of the first child, for the ETA's error."""

    t: float
    value: int
    eta_critical: float | None
    rate: float | None


class Replay:
    """``Supervisor._run`` / ``_supervise`` / ``watch`` over a trace, on a fake clock."""

    def __init__(self, trace: Trace, settings: RunSettings) -> None:
        self.trace = trace
        self.s = settings
        self.t = 0.0
        self.protection = Protection(
            settings.policy, settings.interval, settings.on_exhausted, lambda: self.t
        )
        self.tree = TraceTree()
        limit = MemoryLimit(max(trace.emergency, 1), "trace")
        self.mem = MemoryWatch(settings, limit, self.tree, None, lambda message: None)
        self.pty = settings.pty is not False
        self.started = 0.0  # the current child's start (trace seconds)
        self.attached = 0.0  # the relay's attach: last_in = last_out = clock()
        self.children = 0
        self.requests: list[Restart] = []
        self.seen: list[Seen] = []  # the first child's samples
        self.peak = 0  # the most memory the trace reached while a child lived
        self.samples = 0
        self.stopped = False  # emergency_stop: guardrun exits 75
        self.end = trace.duration

    def run(self, until: float | None = None) -> Replay:
        """Replay to the trace's end (or ``until``, trace seconds)."""
        self.end = self.trace.duration if until is None else min(until, self.trace.duration)
        while not self.stopped and self.t <= self.end:
            self._start()
            if not self._supervise():
                break
        return self

    def _start(self) -> None:
        self.children += 1
        self.started = self.attached = self.t
        self.mem.new_child(self.children)

    def _supervise(self) -> bool:
        """True: restarted (the next child starts now); False: the trace is over."""
        while True:
            reason = self._watch()
            if reason is None:
                return False
            v = self.protection.ask(reason, False, "agent")
            self._request(reason, v.allowed)
            if self.protection.mode == degrade.EMERGENCY_STOP:
                self.stopped = True
                return False
            if not v.allowed:
                continue  # monitor-only: watched again, with a fresh Decider
            # Capture reads the tree (not judged), then the stop, then the cooldown.
            self.t += STOP
            self._lived_until(self.t)
            _, wait = self.protection.announce("agent", reason, False)
            self.t += wait
            self.protection.record_restart()
            return True

    def _watch(self) -> str | None:
        s, mem, trace = self.s, self.mem, self.trace
        decider = decide.Decider(
            decide.Moment(s.idle_quiet, s.idle_wait, s.plan_ahead, s.idle), s.max_growth
        )
        next_sample = self.t
        while True:
            now = self.t = max(self.t, next_sample)  # relay.pump(next_sample)
            if now > self.end:
                self._lived_until(self.end)
                return None
            value = trace.memory(now - self.started)
            self.tree.value, self.tree.now = value, now
            sample = mem.sample()
            assert sample is not None
            self.samples += 1
            step = decide.step(
                decider, mem, self.protection, sample, now,
                restart=s.restart, last_io=self._last_io(now),
            )  # fmt: skip
            if self.children == 1:
                est = mem.estimate
                self.seen.append(Seen(now, step.tick.value, est.eta_critical, est.rate))
            next_sample = now + step.delay
            if step.restart is not None:
                return step.restart

    def _last_io(self, now: float) -> float | None:
        if not self.pty:
            return None  # --no-pty: no terminal to judge idleness by
        return max(self.attached, self.trace.last_activity(now))

    def _request(self, reason: str, allowed: bool) -> None:
        now = self.t
        last = max(self.attached, self.trace.last_activity(now))
        value = self.trace.memory(now - self.started)
        self.requests.append(Restart(now, reason, now - last, value, now - self.started, allowed))

    def _lived_until(self, end: float) -> None:
        """The child lived until ``end``: the most memory its trace reached till then
        (between samples and during the stop too)."""
        i = bisect.bisect_right(self.trace.times, end - self.started) - 1
        self.peak = max(self.peak, self.trace.peak_to(i))


# ---------------------------------------------------------------- the report
class Report(NamedTuple):
    name: str
    leaks: bool
    crosses_critical: bool  # the trace's memory reaches critical at some point
    idle_gaps: bool  # an idle gap of >= 1 min in every 15 min of the trace
    leak_from_start: bool
    steady: bool
    restarts: dict[str, int]  # by reason: planned, critical, emergency, other
    refused: int
    idle_fraction: float | None  # restarts with no output/keys for restart.idle
    planned_at_idle: int
    false_restarts: int | None  # on a trace that never crosses critical (None: it does)
    true_critical: float | None  # child-age at which the trace crosses critical
    eta_half_error: float | None  # relative, at half the way from the leak's start
    eta_worst_error: float | None  # the largest |relative error| once the leak ran 2 min
    eta_unknown: int  # samples in that stretch with no ETA at all
    eta_judged: int  # samples in that stretch
    eta_settled: float | None  # seconds into the leak from which the ETA stays within 25%
    eta_end_error: float | None  # the worst in the last 10% of the way (to a minute left)
    peak_over_emergency: bool  # the tree reached emergency (between samples included)
    samples: int
    children: int

    @property
    def total(self) -> int:
        return sum(self.restarts.values())


def simulate(trace: Trace, base: RunSettings | None = None) -> Report:
    settings = settings_for(trace, base)
    replay = Replay(trace, settings).run()
    allowed = [r for r in replay.requests if r.allowed]
    counts = {"planned": 0, "critical": 0, "emergency": 0, "other": 0}
    for r in allowed:
        key = r.reason if r.reason in (decide.PLANNED, CRITICAL, EMERGENCY) else "other"
        counts[key] += 1
    idle = [r for r in allowed if r.idle_for >= settings.idle]
    crossing = trace.crossing(trace.critical)
    # The ETA is judged on a replay of the first child that never restarts, so the whole
    # approach to critical is seen (the first replay may restart it before).
    watched = Replay(trace, settings._replace(restart=False)).run(until=crossing or 0.0)
    eta = eta_errors(trace, watched.seen, crossing)
    return Report(
        name=trace.name,
        leaks=trace.leaks,
        crosses_critical=crossing is not None,
        idle_gaps=trace.idle_gaps(),
        leak_from_start=trace.leaks and not trace.leak_start,
        steady=trace.steady,
        restarts=counts,
        refused=len(replay.requests) - len(allowed),
        idle_fraction=len(idle) / len(allowed) if allowed else None,
        planned_at_idle=sum(1 for r in idle if r.reason == decide.PLANNED),
        false_restarts=None if crossing is not None else len(allowed),
        true_critical=crossing,
        eta_half_error=eta.half,
        eta_worst_error=eta.worst,
        eta_unknown=eta.unknown,
        eta_judged=eta.judged,
        eta_settled=eta.settled,
        eta_end_error=eta.end,
        peak_over_emergency=replay.peak >= trace.emergency,
        samples=replay.samples + watched.samples,
        children=replay.children,
    )


ETA_GOAL = 0.25  # the ETA within this relative error (issue 10)


class EtaError(NamedTuple):
    half: float | None = None  # relative error at half the way (None: no ETA there)
    worst: float | None = None  # the largest |relative error| of the ETAs judged
    unknown: int = 0  # judged samples with no ETA at all
    judged: int = 0
    settled: float | None = None  # seconds into the leak from which every ETA is good
    end: float | None = None  # the worst after the judged stretch, to ETA_LEFT before


def eta_errors(trace: Trace, seen: list[Seen], crossing: float | None) -> EtaError:
    """The ETA to critical against the truth (``crossing - t``), as a relative error
    ``eta / (crossing - t) - 1``: at half the way (the first sample at or after the
    middle of [leak start, crossing]), and the worst over the judged stretch: from
    ``LEAK_RUN`` seconds into the leak to ``ETA_WAY`` of the way to the crossing, and
    while the true time left is at least ``ETA_LEFT``. A sample there with no ETA
    counts as unknown (``worst`` is of the ETAs given). ``settled``: how long into the
    leak from which every ETA of the stretch is given and within ``ETA_GOAL``. ``end``:
    the worst in the last stretch, from ``ETA_WAY`` to ``ETA_LEFT`` before crossing,
    where the tree's own ripple (its height over the rate: a 48 MB ripple is 4 minutes
    of a 12 MB/min leak) weighs on the time left more than any estimate can help."""
    if crossing is None or not trace.leaks:
        return EtaError()
    start = trace.leak_start or 0.0
    middle = start + (crossing - start) / 2
    way = start + ETA_WAY * (crossing - start)
    half: float | None = None
    seen_half = False
    worst: float | None = None
    end: float | None = None
    unknown = judged = 0
    settled: float | None = None
    for s in seen:
        left = crossing - s.t
        if left < ETA_LEFT or s.value >= trace.critical:
            break
        err = None if s.eta_critical is None else s.eta_critical / left - 1
        if s.t > way:
            if err is not None and (end is None or abs(err) > abs(end)):
                end = err
            continue
        if not seen_half and s.t >= middle:
            half, seen_half = err, True
        if err is None or abs(err) > ETA_GOAL:
            settled = None
        elif settled is None:
            settled = max(s.t - start, LEAK_RUN)
        if s.t >= start + LEAK_RUN:
            judged += 1
            if err is None:
                unknown += 1
            elif worst is None or abs(err) > abs(worst):
                worst = err
    return EtaError(half, worst, unknown, judged, settled, end)


# ------------------------------------------------------------------- output
def traces_in(paths: Sequence[str]) -> list[Path]:
    if not paths:
        return sorted(TRACES.glob("*.jsonl*"))
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.jsonl*")) if p.is_dir() else [p])
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:+.0f}%"


def table(reports: Sequence[Report]) -> str:
    head = (
        "| trace | leaks | crosses critical | idle gaps | restarts: planned/critical/"
        "emergency/other | at idle | reached emergency | false | ETA error at 50% | "
        "worst ETA error | "
        "ETA within 25% from | worst ETA error, last 10% |"
    )
    lines = [head, "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in reports:
        c = r.restarts
        idle = "–" if r.idle_fraction is None else f"{r.idle_fraction * 100:.0f}%"
        false = "–" if r.false_restarts is None else str(r.false_restarts)
        worst = _pct(r.eta_worst_error)
        if r.eta_unknown:
            worst += f" ({r.eta_unknown} of {r.eta_judged} unknown)"
        settled = "–" if r.eta_settled is None else f"{r.eta_settled / 60:.1f} min"
        kind = "no" if not r.leaks else "yes" if r.steady else "unsteady"
        if r.leaks and not r.leak_from_start:
            kind += ", late"
        half = _pct(r.eta_half_error)
        if r.leaks and r.crosses_critical and r.eta_half_error is None:
            half = "unknown"
        lines.append(
            f"| {r.name} | {kind} | {'yes' if r.crosses_critical else 'no'} | "
            f"{'yes' if r.idle_gaps else 'no'} | "
            f"{r.total}: {c['planned']}/{c['critical']}/{c['emergency']}/{c['other']}"
            f"{f', {r.refused} refused' if r.refused else ''} | {idle} | "
            f"{'yes' if r.peak_over_emergency else 'no'} | {false} | "
            f"{half} | {worst} | {settled} | {_pct(r.eta_end_error)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("traces", nargs="*", help="trace files or folders (default tests/traces)")
    p.add_argument("--json", action="store_true", help="one JSON object per trace")
    ns = p.parse_args(argv)
    out = out if out is not None else sys.stdout
    paths = traces_in(ns.traces)
    if not paths:
        print("no traces found", file=sys.stderr)
        return 2
    reports = [simulate(load(path)) for path in paths]
    if ns.json:
        for r in reports:
            print(json.dumps(r._asdict()), file=out)
    else:
        print(table(reports), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
