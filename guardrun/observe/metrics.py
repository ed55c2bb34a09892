"""``metrics.textfile``: a run's figures in the Prometheus text exposition format (0.0.4),
for node_exporter's textfile collector.

node_exporter reads every ``*.prom`` file of its ``--collector.textfile.directory`` at
each scrape, so the file is written whole to ``.<name>.<hex>.tmp`` in the same directory
(a name the collector skips) and renamed over the old one: a reader sees the previous
file or the new one, never half of either. It is not fsynced: after a power cut a
stale or missing metrics file is harmless, and an fsync would be most of the cost.

The file is 0644, whatever the umask: node_exporter runs as its own user and must read
it, and it holds numbers and three labels (the run id, the project as the state
directory names it, ``<dir name>-<hash8>``, and the agent), nothing a state file
guards. Every series carries those labels, so several runs can share a directory (the
setting names a directory: ``guardrun-<run id>.prom`` each).

Cost (docs/benchmarks.md): a write (create, write, rename) is a large share of the
idle budget of 1 ms of CPU per second for the whole run; rendering is not. So the text is
rendered at most every ``INTERVAL`` seconds from the samples and written only when it
differs from the file's (an idle tree's memory often stands still), or every
``HEARTBEAT`` seconds so that ``guardrun_last_update_timestamp_seconds`` tells a live
run from a killed one; and at once (at most every ``MIN_GAP``) when something a person
alerts on happens: a start or restart, a level or mode change, a capture.

At exit the file is removed, except after an emergency stop: then it stays,
``guardrun_up 0`` with the exit code, so that the alert on it fires (a scrape every
15 s to 1 min would miss a file that lived for the seconds of a stop).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.supervisor.degrade import EMERGENCY_STOP, MODES
from guardrun.supervisor.status import RunStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from guardrun.observe.writer import Writer

INTERVAL = 5.0  # seconds between renders from samples
HEARTBEAT = 60.0  # an unchanged text is written again after this long
MIN_GAP = 0.25  # forced rewrites closer than this are folded into the next sample's
PREFIX = "guardrun_"
LEVELS = ("normal", "warning", "critical", "emergency")  # guardrun_level is the index
# Seeded at 0 so the series exist before the first one: increase() over a counter that
# appears at 1 counts nothing. Others are added as they happen.
RESTART_REASONS = ("critical", "emergency", "planned", "growth", "budget", "system",
                   "signal", "crash", "oom", "resume_refused")  # fmt: skip
CAPTURE_REASONS = ("warning", *RESTART_REASONS[:-1], "manual", "stop", "exit")
# Events after which the file is rewritten at once.
NEWS = frozenset({"started", "restarted", "level_changed", "degraded", "recovered",
                  "state_captured", "passed_turn"})  # fmt: skip

# name -> (type, help); the order of the file. A test checks alerts.yml against these.
METRICS: dict[str, tuple[str, str]] = {
    "up": ("gauge", "1 while the run supervises its command; 0 in a file kept after an "
           "emergency stop."),
    "info": ("gauge", "Always 1: the run's version and command."),
    "start_time_seconds": ("gauge", "When the run started, Unix time."),
    "last_update_timestamp_seconds": ("gauge", "When this file was written, Unix time."),
    "tree_memory_bytes": ("gauge", "The command's whole process tree, in the run's metric."),
    "tree_swapped_bytes": ("gauge", "The part of the tree's memory out of RAM: swapped, "
                           "compressed (macOS) or paged out (Windows)."),
    "tree_processes": ("gauge", "Processes in the tree."),
    "level": ("gauge", "The tree's level: 0 normal, 1 warning, 2 critical, 3 emergency."),
    "threshold_bytes": ("gauge", "The tree's thresholds."),
    "mode": ("gauge", "1 for the run's degradation mode, 0 for the others."),
    "restarts_total": ("counter", "Restarts of the command by reason."),
    "captures_total": ("counter", "States saved by reason."),
    "growth_bytes_per_second": ("gauge", "The tree's growth rate over the trend window."),
    "eta_critical_seconds": ("gauge", "Time until critical at that rate."),
    "eta_emergency_seconds": ("gauge", "Time until emergency at that rate."),
    "machine_level": ("gauge", "The machine's pressure (RAM, PSI, GPU): 0 to 3 as level."),
    "machine_budget_bytes": ("gauge", "machine.budget: all runs of this user together."),
    "exit_code": ("gauge", "guardrun's exit code, in a file kept after an emergency stop."),
}  # fmt: skip


def target(setting: os.PathLike[str], run_id: str) -> Path:
    """The file a run writes: the setting itself when it ends in ``.prom``, else a file of
    its own in that directory."""
    path = Path(setting)
    return path if path.suffix == ".prom" else path / f"guardrun-{run_id}.prom"


def escape(value: str) -> str:
    """A label value as the text format quotes it: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(x: float) -> str:
    if isinstance(x, int):
        return str(x)
    return repr(float(x))  # shortest exact; inf/nan never reach here


class Metrics:
    """The textfile of one run. Never raises: a failed write is reported once through
    ``warn`` and tried again at the next."""

    def __init__(
        self,
        path: Path,
        labels: Mapping[str, str],
        info: Mapping[str, str],
        warn: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._labels = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
        self._info = ",".join(f'{k}="{escape(v)}"' for k, v in info.items())
        self._warn = warn
        self._clock = clock
        self._started = time.time()
        self._last = -INTERVAL  # the last render
        self._written = -HEARTBEAT  # the last write
        self._text = ""  # what the file holds, less its timestamp
        self._dirty = False
        self._failing = False
        self.restarts = dict.fromkeys(RESTART_REASONS, 0)
        self.captures = dict.fromkeys(CAPTURE_REASONS, 0)
        self._pending = "unknown"  # the reason of the restart asked for last
        self.writer: Writer | None = None  # observe.writer: set by the observer

    # ------------------------------------------------------------ what happens
    def note(self, kind: str, fields: Mapping[str, object]) -> bool:
        """An event of the run: counts what needs counting; True when it is news."""
        if kind == "restart_requested":
            self._pending = str(fields.get("reason") or "unknown")
        elif kind == "resume_refused":
            self._pending = "resume_refused"
        elif kind == "state_captured":
            reason = str(fields.get("reason") or "unknown")
            self.captures[reason] = self.captures.get(reason, 0) + 1
        return kind in NEWS

    def _count_restarts(self, st: RunStatus) -> None:
        """``st.restarts`` is the truth; a rise is the restart asked for last."""
        missing = st.restarts - sum(self.restarts.values())
        if missing > 0:
            self.restarts[self._pending] = self.restarts.get(self._pending, 0) + missing

    def update(self, st: RunStatus, force: bool = False) -> bool:
        """Rewrite the file when due (``INTERVAL``), or at once when ``force`` (news)."""
        self._count_restarts(st)
        now = self._clock()
        since = now - self._last
        if force and since < MIN_GAP:
            self._dirty = True  # several events of one moment: one write, soon
            return False
        if not force and not self._dirty and since < INTERVAL:
            return False
        self._last, self._dirty = now, False
        text = self.render(st)
        if not force and text == self._text and now - self._written < HEARTBEAT:
            return False
        if not self._write(text):
            return False
        self._text, self._written = text, now
        return True

    def close(self, st: RunStatus, code: int) -> None:
        """The run is over: the file goes, or after an emergency stop stays, marked gone."""
        self._count_restarts(st)
        if st.mode == EMERGENCY_STOP:
            self._write(self.render(st, code))
            return
        if self.writer is not None:  # after the writes queued before it
            self.writer.submit("metrics textfile", self._unlink)
        else:
            self._unlink()

    def _unlink(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass

    # --------------------------------------------------------------- the text
    def render(self, st: RunStatus, exit_code: int | None = None) -> str:
        lab = self._labels
        out: list[str] = []

        def family(name: str) -> None:
            kind, text = METRICS[name]
            out.append(f"# HELP {PREFIX}{name} {text}\n# TYPE {PREFIX}{name} {kind}\n")

        def one(name: str, value: float | None, extra: str = "") -> None:
            if value is None:
                return
            family(name)
            out.append(f"{PREFIX}{name}{{{lab}{extra}}} {_number(value)}\n")

        def many(name: str, by: str, values: Mapping[str, float]) -> None:
            family(name)
            for key, value in values.items():
                out.append(f'{PREFIX}{name}{{{lab},{by}="{escape(key)}"}} {_number(value)}\n')

        one("up", 0 if exit_code is not None else 1)
        one("info", 1, "," + self._info if self._info else "")
        one("start_time_seconds", round(self._started, 3))
        one("tree_memory_bytes", st.memory_bytes)
        one("tree_swapped_bytes", st.swapped_bytes)
        one("tree_processes", st.processes)
        one("level", _rank(st.level))
        if st.thresholds is not None:
            t = st.thresholds
            bands = {"warning": t.warning, "critical": t.critical, "emergency": t.emergency}
            many("threshold_bytes", "level", bands)
        many("mode", "mode", {m: int(m == st.mode) for m in (*MODES, st.mode)})
        many("restarts_total", "reason", self.restarts)
        many("captures_total", "reason", self.captures)
        one("growth_bytes_per_second", _round(st.growth))
        one("eta_critical_seconds", _round(st.eta_critical))
        one("eta_emergency_seconds", _round(st.eta_emergency))
        one("machine_level", _rank(st.machine_level))
        one("machine_budget_bytes", st.budget)
        one("exit_code", exit_code)
        return "".join(out)

    def _write(self, text: str) -> bool:
        """``text`` and the time now, atomically."""
        family = METRICS["last_update_timestamp_seconds"]
        name = PREFIX + "last_update_timestamp_seconds"
        text += f"# HELP {name} {family[1]}\n# TYPE {name} {family[0]}\n"
        text += f"{name}{{{self._labels}}} {round(time.time(), 3)!r}\n"
        if self.writer is not None:  # the disk in the writer's thread: never the loop's wait
            self.writer.submit("metrics textfile", lambda: self._store(text))
            return True
        return self._store(text)

    def _store(self, text: str) -> bool:
        path = self.path
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(tmp, flags, 0o644)
            try:
                if hasattr(os, "fchmod"):  # not on Windows before Python 3.13
                    os.fchmod(fd, 0o644)  # readable by node_exporter whatever the umask
                os.write(fd, text.encode("utf-8", "backslashreplace"))  # a non-UTF-8 cwd
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as err:
            try:
                tmp.unlink()
            except OSError:
                pass
            if not self._failing:
                self._warn(f"cannot write the metrics file {path}: {err.strerror or err}")
            self._failing = True
            return False
        self._failing = False
        return True


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
