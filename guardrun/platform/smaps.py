"""PSS and USS from ``/proc/<pid>/smaps_rollup`` (Linux 4.14+), read only to confirm.

RSS counts every shared page (libraries, the interpreter, shared memory) once
in *each* process that maps it, so the RSS of a tree of processes that share
libraries overstates what the tree costs the machine. PSS divides each shared
page among the processes sharing it, so the PSS of a tree sums to what the tree
really holds; USS is what would be freed if the process exited.

Cost (docs/benchmarks.md, "Costs"): it grows with the memory mapped, because the
kernel walks every page table entry on each read, where a ``statm`` pread does not. So
PSS/USS are read only to confirm before acting. Since USS <= PSS <= RSS for
every process, a tree whose RSS is under a threshold has its PSS and USS under
it too, and :class:`PssConfirmer` reads nothing then.

``smaps_rollup`` lines used ("Key:   N kB", sizes in KiB):
    Pss               proportional set size: pages shared by k processes count 1/k
    Private_Clean     pages mapped only by this process, unchanged since read
    Private_Dirty     pages mapped only by this process, written
    Private_Hugetlb   hugetlbfs pages mapped only by this process (not in the two above)
    uss = Private_Clean + Private_Dirty + Private_Hugetlb   (as psutil computes it)
Swapped-out pages (Swap, SwapPss) are not resident and are left out of both.
"""

from __future__ import annotations

import os

from guardrun.platform.types import ProcSample, TreeSample

_USS_KEYS = (b"Private_Clean:", b"Private_Dirty:", b"Private_Hugetlb:")


def parse_rollup(data: bytes) -> tuple[int, int] | None:
    """(pss, uss) in bytes from the text of a ``smaps_rollup`` file; None when it has no Pss."""
    pss: int | None = None
    uss = 0
    for line in data.splitlines():
        key, _, rest = line.partition(b" ")
        if key == b"Pss:":
            pss = int(rest.split()[0]) * 1024
        elif key in _USS_KEYS:
            uss += int(rest.split()[0]) * 1024
    return None if pss is None else (pss, uss)


def read_rollup(pid: int, proc: str = "/proc") -> tuple[int, int] | None:
    """(pss, uss) bytes of ``pid``; None when ``smaps_rollup`` is absent, unreadable or gone."""
    try:
        fd = os.open(f"{proc}/{pid}/smaps_rollup", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)  # the rollup is ~900 bytes: one read holds it
    except OSError:
        return None  # the process exited (ESRCH) or became unreadable
    finally:
        os.close(fd)
    try:
        return parse_rollup(data)
    except (ValueError, IndexError):
        return None


def supported(proc: str = "/proc") -> bool:
    """Whether this system has ``smaps_rollup`` (Linux 4.14+ with /proc mounted)."""
    return read_rollup(os.getpid(), proc) is not None


class PssConfirmer:
    """Fills pss/uss into a sample, counting reads so tests can see when PSS was read."""

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc
        self.reads = 0  # smaps_rollup files opened, over the life of this confirmer

    def with_pss(self, sample: TreeSample) -> TreeSample:
        """The same sample with pss/uss set wherever ``smaps_rollup`` could be read."""
        procs: list[ProcSample] = []
        for p in sample.procs:
            self.reads += 1
            got = read_rollup(p.pid, self._proc)
            procs.append(p if got is None else p._replace(pss=got[0], uss=got[1]))
        return TreeSample(sample.taken_at, tuple(procs))

    def confirm(self, sample: TreeSample, metric: str, threshold: int) -> TreeSample:
        """``sample`` with pss/uss read only when ``metric`` needs them and they could matter.

        With metric ``rss``, or a tree RSS under ``threshold`` (the lowest level
        about to be entered), PSS and USS cannot change the decision, so the
        sample is returned as it is and nothing is read.
        """
        if metric == "rss" or sample.rss < threshold:
            return sample
        return self.with_pss(sample)


def with_pss(sample: TreeSample, proc: str = "/proc") -> TreeSample:
    """One-off form of :meth:`PssConfirmer.with_pss`."""
    return PssConfirmer(proc).with_pss(sample)
