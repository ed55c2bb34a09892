"""Which processes are the child's tree, and their memory, with backend fallback.

The tree is the child and its descendants, plus the orphans the kernel handed
to guardrun as subreaper (a daemon that double-forked away from the child).
guardrun's own children that are not the tree (hooks, git, notify-send, the
sentinel) must not be counted or killed: an orphan is the tree's when it was
seen in the tree before, or when its environment carries the marker every
process of the tree inherits (``GUARDRUN_TREE=<nonce>``). The verdict is taken
once per pid, so the environment is read once per newcomer, not per poll.
"""

from __future__ import annotations

import os
from operator import itemgetter
from typing import TYPE_CHECKING

from guardrun.errors import ProbeError
from guardrun.platform import (
    Probe,
    ProcSample,
    TreeSample,
    alive,
    environ_has,
    open_next,
    own_children,
    probe_names,
    start_time,
)

if TYPE_CHECKING:
    from collections.abc import Callable

TREE_MARKER = "GUARDRUN_TREE"
LOOK_EVERY = 10  # samples without looking for the roots, at most (``Tree.sample``)
_PID, _PPID = itemgetter(0), itemgetter(1)  # ProcSample.pid, .ppid


class Tree:
    def __init__(
        self,
        nonce: str,
        not_ours: Callable[[], set[int]],
        on_fallback: Callable[[str, str, str], None],
    ) -> None:
        self.nonce = nonce
        self.marker = f"{TREE_MARKER}={nonce}".encode()
        self._not_ours = not_ours  # guardrun's own helpers: hooks, sentinel
        self._on_fallback = on_fallback  # (failed, using, error)
        self.probes: list[Probe] = []
        self.probe: Probe | None = None
        self.child_pid = -1
        self.adopted: list[int] = []
        self._known: set[int] = set()
        self._verdicts: dict[int, bool] = {}
        self._fallbacks: list[str] = []
        self._child_start: int | None = None
        # The roots as last looked for, whether the look before found the same, and how
        # many samples may still go without looking (``sample``).
        self._roots: tuple[int, ...] = ()
        self._steady = False
        self._looks_in = 0
        self._raw: tuple[ProcSample, ...] | None = None  # the probe's last procs ...
        self._procs: tuple[ProcSample, ...] = ()  # ... with the roots' ppid set
        self._alive: set[int] = set()  # ... and those with memory (not exited)

    def open_probes(self, name: str) -> None:
        """Open the first backend that works; the others are opened only if it fails
        (importing psutil is a share of start-up of its own: docs/benchmarks.md)."""
        self._fallbacks = probe_names(name)
        errors: list[str] = []
        self.probe = open_next(self._fallbacks, errors)
        if self.probe is None:
            raise ProbeError("no memory probe works here (" + "; ".join(errors) + ")")
        self.probes = [self.probe]

    def new_child(self, pid: int) -> None:
        self.child_pid = pid
        self._child_start = start_time(pid)
        self._known = {pid}
        self._verdicts = {}
        self.adopted = []
        self._alive = set()
        self._changed()

    def _changed(self) -> None:
        """The roots may have changed: the next two samples look for them."""
        self._steady = False

    def _adopted_roots(self) -> list[int]:
        out: list[int] = []
        skip: set[int] | None = None  # built only when there is more than the child
        for pid in own_children():
            if pid == self.child_pid:
                continue
            if skip is None:
                skip = self._not_ours()
            if pid in skip:
                continue
            ours = self._verdicts.get(pid)
            if ours is None:
                # An orphan reparented to us comes from our descendants: from the tree
                # (hooks' orphans are in ``skip``), whatever its environment says. A
                # daemon that double-forked with an empty environment carries no marker
                # and must still be counted and stopped.
                ours = pid in self._known or environ_has(pid, self.marker) or self._orphan(pid)
                self._verdicts[pid] = ours
            if ours:
                out.append(pid)
        return out

    def _orphan(self, pid: int) -> bool:
        """Born after the child (so not one of our own helpers started before it)."""
        return self._child_start is not None and (start_time(pid) or 0) >= self._child_start

    def reap(self) -> None:
        """Collect orphans that exited (we are their parent now), at every SIGCHLD.

        Not only the adopted ones of the last sample: an orphan that is adopted and exits
        between two samples is a zombie nobody else will reap (a child that double-forks
        short-lived processes left dozens). Orphans are reparented to our main thread, so
        its ``children`` file lists them; what the other threads fork (hooks, git during
        capture) is listed under those threads and reaped by them. The child and our own
        helpers (sentinel, hooks) are left to their owners."""
        self._changed()  # one of our children ended: an adopted root, maybe
        skip = self._not_ours() | {self.child_pid}
        for pid in own_children():
            if pid in skip:
                continue
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._verdicts.pop(pid, None)
                if pid in self.adopted:
                    self.adopted.remove(pid)

    def members(self, child_alive: bool) -> list[int]:
        """Every pid of the tree now (for stopping it); never raises."""
        self.adopted = self._adopted_roots()
        roots = ([self.child_pid] if child_alive else []) + self.adopted
        if self.probe is not None:
            try:
                return self.probe.sample(roots).pids
            except ProbeError:
                pass
        return [p for p in roots if alive(p)]

    def sample(self) -> TreeSample | None:
        """The tree's memory; falls back to the next backend on failure; None when none works.

        Adopted roots are guardrun's own children, which change only by guardrun's own
        forks (the child, the sentinel, hooks: none of them an adopted root), the end of
        one of them (SIGCHLD: ``reap``) or an orphan handed over when a process of the
        tree ends. So the roots are looked for when the last two looks did not find the
        same, when a process of the last sample is gone or has lost its memory (then at
        once, and the tree sampled again if they changed), after ``reap``, and every
        ``LOOK_EVERY`` samples anyway; not at every sample (docs/benchmarks.md, idle CPU)."""
        look = not self._steady or self._looks_in <= 0
        roots = self._find_roots() if look else self._roots
        sample = self._sample(roots)
        if sample is None:
            return None
        sample, exited = self._own_roots(sample)
        if exited and not look:
            # A process of the tree ended: its children may be ours now, as they would
            # have been found had the roots been looked for first.
            look, found = True, self._find_roots()
            if found != roots:
                roots, again = found, self._sample(found)
                if again is None:
                    return None
                sample, _ = self._own_roots(again)
        if look:
            self._steady = roots == self._roots and not exited
            self._roots, self._looks_in = roots, LOOK_EVERY
        else:
            self._looks_in -= 1
        return sample

    def _find_roots(self) -> tuple[int, ...]:
        self.adopted = self._adopted_roots()
        return (self.child_pid, *self.adopted)

    def _sample(self, roots: tuple[int, ...]) -> TreeSample | None:
        while self.probe is not None:
            try:
                return self.probe.sample(roots)
            except ProbeError as err:
                failed = self.probe
                self.probes.remove(failed)
                failed.close()
                self.probe = open_next(self._fallbacks, [])
                if self.probe is not None:
                    self.probes.append(self.probe)
                self._on_fallback(failed.name, self.probe.name if self.probe else "", str(err))
        return None

    def _own_roots(self, sample: TreeSample) -> tuple[TreeSample, bool]:
        """Backends give roots ppid 0; every root is guardrun's own child here. With it,
        whether a process of the last sample is gone or without memory (exited). Both
        made once per tuple of procs: a tree that stood still comes back as the same."""
        procs = sample.procs
        exited = False
        if procs is not self._raw:
            self._raw = procs
            alive = {p[0] for p in procs if p[2]}
            exited = not self._alive <= alive
            self._alive = alive
            self._known.update(map(_PID, procs))
            ppids = list(map(_PPID, procs))  # C speed: the roots are found by index
            if 0 in ppids:
                me, fixed = os.getpid(), list(procs)
                at = ppids.index(0)
                while True:
                    fixed[at] = procs[at]._replace(ppid=me)
                    try:
                        at = ppids.index(0, at + 1)
                    except ValueError:
                        break
                procs = tuple(fixed)
            self._procs = procs
        return TreeSample(sample.taken_at, self._procs), exited

    def close(self) -> None:
        for probe in self.probes:
            probe.close()
