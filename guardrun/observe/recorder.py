"""What the teller keeps of each sample in the run's sample history
(``observe.history``): the tree's figure, level, mode and growth, its largest processes
(each named once, its command line scrubbed), the thresholds as they change, and the
machine's RAM in use at each flush for the report's background."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from guardrun.observe.history import TOP, History, history_path
from guardrun.platform.types import RSS

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from guardrun.observe.writer import Writer
    from guardrun.supervisor.status import RunStatus


class Recorder:
    def __init__(
        self,
        log_path: str | None,
        meta: dict[str, Any],
        safe_argv: Callable[[list[str] | None], list[str]],
        writer: Writer | None,
    ) -> None:
        self._safe_argv = safe_argv
        self.history = History(
            history_path(log_path) if log_path is not None else None,
            {**meta, "ram_total": _ram_total()},
            describe=self.describe,
            system=_system_used,
            writer=writer,
        )
        self._thresholds: object = None
        self._top_of: object = None  # the procs the history's top was last taken from ...
        self._top: list[tuple[int, int]] = []  # ... and that top

    def record(self, st: RunStatus) -> None:
        """The sample into the history (buffered: ``History`` writes every few seconds)."""
        sample, value = st.sample, st.memory_bytes
        if sample is None or value is None:
            return
        if st.thresholds is not self._thresholds and st.thresholds is not None:
            self._thresholds = st.thresholds
            self.history.set_meta(
                thresholds=st.thresholds.as_dict(), name=st.name, argv=self._safe_argv(None)
            )
        procs = sample.procs
        if procs is not self._top_of:  # a tree that stood still comes as the same tuple
            top = procs if len(procs) <= TOP else sorted(procs, key=RSS, reverse=True)[:TOP]
            self._top_of, self._top = procs, [(p.pid, p.rss) for p in top]
        t = st.history[-1][0] if st.history else time.time()
        self.history.add(t, value, st.level, st.mode, st.growth, self._top, sample.swapped)

    def describe(self, pid: int) -> dict[str, Any]:
        """A process of the history's top, named once: its name and (scrubbed) command line."""
        from guardrun.platform import process_argv, process_name

        argv = self._safe_argv(process_argv(pid))
        return {"name": process_name(pid), "cmd": " ".join(argv)[:200]}


def _ram_total() -> int | None:
    from guardrun.platform import physical_memory

    try:
        return physical_memory()
    except Exception:
        return None


_meminfo: Any = None  # a KeptReader on meminfo, opened at the first flush


def _system_used() -> int | None:
    """The machine's RAM in use (total less available), for the report's background:
    at every history flush, so meminfo is read with ``pread`` on a kept fd."""
    global _meminfo
    from guardrun.platform import pressure

    if _meminfo is None:
        _meminfo = pressure.KeptReader(pressure.MEMINFO)
    text = _meminfo.read()
    try:
        parsed = pressure.parse_meminfo(text) if text is not None else None
        _, total, available = parsed if parsed is not None else pressure.system_memory()
    except Exception:  # psutil missing or failing: the history does without
        return None
    return total - available
