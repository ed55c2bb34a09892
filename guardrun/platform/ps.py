"""The ``ps`` backend: one ``ps -axo pid=,ppid=,rss=`` per poll, parsed into the tree.

For macOS and the BSDs when psutil is not importable, and selectable everywhere
(``--probe ps``); on Linux it runs against procps ``ps`` in the tests. Spawning
``ps`` costs milliseconds (docs/benchmarks.md, "Costs"), so it is never the
first choice where ``/proc`` or psutil work, and it is spawned once per poll,
never once per process.

Output columns, the same in procps (Linux), BSD and macOS ``ps``; the ``=``
suffix blanks the header:
    pid   process id
    ppid  parent process id
    rss   resident set size in KiB (1024 bytes)
``ps`` lists itself too: its own pid is dropped, since it is a child of the
process that polls and would otherwise show up in a tree rooted there.

On macOS the footprint comes from libproc (``platform.darwin``, one call per process of
the tree, no more spawns); ``ps`` RSS stays the figure where libproc fails.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import TYPE_CHECKING

from guardrun.errors import ProbeError
from guardrun.platform.types import ProcSample, TreeSample, charged

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

PS_ARGS = ("-axo", "pid=,ppid=,rss=")
_TIMEOUT = 10.0  # seconds; ps that hangs this long is a broken system, not a slow one


def parse_ps(text: str) -> dict[int, tuple[int, int]]:
    """Map pid to (ppid, rss bytes) from ``ps -o pid=,ppid=,rss=`` output."""
    table: dict[int, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue  # blank line, or a header some ps versions print anyway
        try:
            pid, ppid, rss_kib = (int(f) for f in fields)
        except ValueError:
            continue
        table[pid] = (ppid, rss_kib * 1024)
    return table


def tree_from_table(
    table: dict[int, tuple[int, int]], roots: Iterable[int]
) -> tuple[ProcSample, ...]:
    """The processes under ``roots``; each root gets ppid 0, as in the other backends."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _rss) in table.items():
        children.setdefault(ppid, []).append(pid)
    procs: list[ProcSample] = []
    seen: set[int] = set()
    stack = [(pid, 0) for pid in roots]
    while stack:
        pid, ppid = stack.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        procs.append(ProcSample(pid, ppid, table[pid][1]))
        stack.extend((kid, pid) for kid in children.get(pid, ()))
    return tuple(procs)


class PsProbe:
    """The ``ps`` backend. Stateless between polls apart from the path of ``ps``."""

    name = "ps"

    def __init__(
        self,
        ps: str | None = None,
        timeout: float = _TIMEOUT,
        footprint: Callable[[int], int | None] | None = None,
    ) -> None:
        self._footprint = footprint
        path = ps or shutil.which("ps")
        if path is None:
            raise ProbeError("the ps command is not on PATH")
        self._argv = [path, *PS_ARGS]
        self._timeout = timeout

    def _run(self) -> tuple[int, str]:
        try:
            proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as err:
            raise ProbeError(f"cannot run {self._argv[0]}: {err}") from err
        try:
            out, err_text = proc.communicate(timeout=self._timeout)
        except subprocess.TimeoutExpired as err:
            proc.kill()
            proc.communicate()
            raise ProbeError(f"{self._argv[0]} did not answer in {self._timeout:g}s") from err
        if proc.returncode != 0:
            detail = err_text.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            raise ProbeError(f"{' '.join(self._argv)} failed: {detail[0]}")
        return proc.pid, out

    def sample(self, roots: Iterable[int]) -> TreeSample:
        ps_pid, out = self._run()
        table = parse_ps(out)
        if not table:
            raise ProbeError(f"{' '.join(self._argv)} printed no processes")
        table.pop(ps_pid, None)
        procs = tree_from_table(table, roots)
        foot = self._footprint
        if foot is not None:
            procs = tuple(charged(p.pid, p.ppid, p.rss, foot(p.pid)) for p in procs)
        return TreeSample(time.monotonic(), procs)

    def close(self) -> None:
        pass
