"""Every Linux backend (/proc, psutil, ps) sees the same real tree, and fallback works.

The tree is real: a Python root that starts a leaf and a middle process, the
middle one starting a grandchild, each holding a few MB it has written to.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrun.errors import ProbeError
from guardrun.platform import TreeSample, available_probes, backend_order, make_probe

TREE = """
import os, subprocess, sys, time
role, mb = sys.argv[1], int(sys.argv[2])
buf = b"\\x01" * (mb << 20)  # written, so resident (b"\\0" * n would be calloc'd, untouched)
kids = []
if role == "root":
    kids.append(subprocess.Popen([sys.executable, __file__, "leaf", str(mb)]))
    kids.append(subprocess.Popen([sys.executable, __file__, "mid", str(mb)]))
elif role == "mid":
    kids.append(subprocess.Popen([sys.executable, __file__, "leaf", str(mb)]))
sys.stdout.write(f"{os.getpid()} {role}\\n")
sys.stdout.flush()
time.sleep(600)
"""
MB = 8
SIZE = 4  # processes in the tree


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[dict[int, str]]:
    """{pid: role} of a real 4-process tree; killed as a process group afterwards."""
    script = tmp_path / "tree.py"
    script.write_text(TREE)
    root = subprocess.Popen(
        [sys.executable, str(script), "root", str(MB)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert root.stdout is not None
    roles: dict[int, str] = {}
    buf = b""
    deadline = time.monotonic() + 20
    try:
        while len(roles) < SIZE and time.monotonic() < deadline:
            ready, _, _ = select.select([root.stdout], [], [], 0.5)
            if ready:
                buf += os.read(root.stdout.fileno(), 4096)
                for line in buf.decode().splitlines():
                    pid, role = line.split()
                    roles[int(pid)] = role
        assert len(roles) == SIZE, f"tree did not start: {roles}"
        yield roles
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()
        root.stdout.close()


def _root(roles: dict[int, str]) -> int:
    return next(pid for pid, role in roles.items() if role == "root")


def test_backend_order_here() -> None:
    assert backend_order() == ["proc", "psutil", "ps"]


def test_all_backends_agree(tree: dict[int, str]) -> None:
    root = _root(tree)
    samples: dict[str, TreeSample] = {}
    for name in ("proc", "psutil", "ps"):
        probe = make_probe(name)
        try:
            samples[name] = probe.sample([root])
        finally:
            probe.close()
    reference = {p.pid: p for p in samples["proc"].procs}
    assert set(reference) == set(tree)
    mid = next(pid for pid, role in tree.items() if role == "mid")
    assert reference[root].ppid == 0
    assert sum(1 for p in reference.values() if p.ppid == mid) == 1  # the grandchild
    for p in reference.values():
        assert p.rss >= MB << 20, p  # each holds the MB it wrote, plus the interpreter
    for name, sample in samples.items():
        got = {p.pid: p for p in sample.procs}
        assert set(got) == set(reference), name
        for pid, p in got.items():
            assert p.ppid == reference[pid].ppid, (name, pid)
            # Sleeping processes: the same kernel counter read at slightly different
            # moments. 256 KiB is 3% of the MB each one wrote.
            assert abs(p.rss - reference[pid].rss) <= 256 << 10, (name, pid, p, reference[pid])
        assert abs(sample.rss - samples["proc"].rss) <= SIZE * (256 << 10), name


def test_backends_drop_exited_processes(tree: dict[int, str]) -> None:
    root = _root(tree)
    leaf = next(p for p, r in tree.items() if r == "leaf" and p in _kids_of(root))
    probes = [make_probe(n) for n in ("proc", "psutil", "ps")]
    try:
        for probe in probes:
            assert leaf in probe.sample([root]).pids
        os.kill(leaf, signal.SIGKILL)
        deadline = time.monotonic() + 5
        # The root never reaps it (it sleeps), so the leaf stays a zombie: RSS 0.
        while time.monotonic() < deadline and _state(leaf) != "Z":
            time.sleep(0.02)
        for probe in probes:
            procs = {p.pid: p for p in probe.sample([root]).procs}
            assert leaf not in procs or procs[leaf].rss == 0, probe.name
            assert len(procs) >= SIZE - 1
    finally:
        for probe in probes:
            probe.close()


def _kids_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_fallback_when_a_backend_cannot_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `ps` to be found
    assert [p.name for p in available_probes()] == ["proc", "psutil"]
    with pytest.raises(ProbeError, match=r"no memory probe works here \(ps: the ps command"):
        available_probes("ps")


def test_backend_that_fails_at_runtime_raises_probe_error(tmp_path: Path) -> None:
    from guardrun.platform.ps import PsProbe

    broken = tmp_path / "ps"
    broken.write_text("#!/bin/sh\necho 'ps: cannot open /proc' >&2\nexit 1\n")
    broken.chmod(0o755)
    probe = PsProbe(str(broken))
    # The supervisor catches exactly this and hands over to the next backend.
    with pytest.raises(ProbeError, match="failed: ps: cannot open /proc"):
        probe.sample([os.getpid()])


FORKER = """
import os, sys, time
print(os.getpid(), flush=True)
for line in sys.stdin:  # a line: one more sleeping child, whose pid is printed
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    print(pid, flush=True)
"""


class _Counted:
    """A ProcProbe whose full walks are counted (the quick poll reads statm alone)."""

    def __init__(self, loadavg: Path, rescan_every: int = 10) -> None:
        from guardrun.platform.linux import ProcProbe

        self.probe = ProcProbe(rescan_every=rescan_every, loadavg=str(loadavg))
        self.walks = 0
        walk = self.probe._walk_tree

        def counted(roots: tuple[int, ...], rescan: bool) -> TreeSample:
            self.walks += 1
            return walk(roots, rescan)

        self.probe._walk_tree = counted  # type: ignore[method-assign]

    def pids(self, root: int) -> set[int]:
        return set(self.probe.sample([root]).pids)


def _forks(path: Path, last_pid: int) -> None:
    path.write_text(f"0.00 0.00 0.00 1/100 {last_pid}\n")


@pytest.fixture
def forker() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FORKER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == str(proc.pid)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stdout.close()


def _fork(proc: subprocess.Popen[str]) -> int:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    return int(proc.stdout.readline())


def test_proc_quick_poll_while_nothing_forks(tmp_path: Path, forker: subprocess.Popen[str]) -> None:
    """While the last pid stands still the tree is the last walk's (statm alone); a fork,
    an exit or a zombie sends the probe back to walking the children files."""
    kids = {_fork(forker) for _ in range(3)}
    loadavg = tmp_path / "loadavg"
    _forks(loadavg, 1000)
    counted = _Counted(loadavg, rescan_every=100)  # no rescan walk in this test
    try:
        tree = {forker.pid, *kids}
        assert counted.pids(forker.pid) == tree  # the first walk
        assert counted.pids(forker.pid) == tree  # not yet seen to move: walks
        assert counted.walks == 2
        _forks(loadavg, 1001)
        for _ in range(2):  # moved: walked twice (a fork in flight is linked a moment later)
            assert counted.pids(forker.pid) == tree
        assert counted.walks == 4
        for _ in range(3):
            assert counted.pids(forker.pid) == tree
        assert counted.walks == 4  # quick polls
        new = _fork(forker)
        _forks(loadavg, 1002)
        assert counted.pids(forker.pid) == tree | {new}  # the counter moved: walked
        tree.add(new)
        for _ in range(2):  # walked once more, then quick again
            assert counted.pids(forker.pid) == tree
        assert counted.walks == 6
        # An exit: the killed child stays a zombie (its parent does not reap it), memory 0.
        gone = min(kids)
        os.kill(gone, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _state(gone) != "Z":
            time.sleep(0.02)
        walks = counted.walks
        sample = counted.probe.sample([forker.pid])
        assert counted.walks == walks + 1  # statm read 0 where it was not: walked
        assert {p.pid: p.rss for p in sample.procs}.get(gone, 0) == 0
        for _ in range(3):
            counted.probe.sample([forker.pid])
        assert counted.walks == walks + 1  # a known zombie: quick again
        assert counted.pids(os.getpid()) != tree  # other roots: walked
        assert counted.walks == walks + 2
    finally:
        counted.probe.close()


def test_proc_walks_every_time_where_the_counter_misses_forks(
    tmp_path: Path, forker: subprocess.Popen[str]
) -> None:
    """A counter that moved once but then missed a fork: the newcomer is found at the next
    rescan walk at the latest, and from then on every poll walks."""
    loadavg = tmp_path / "loadavg"
    _forks(loadavg, 1000)
    counted = _Counted(loadavg, rescan_every=4)
    try:
        counted.pids(forker.pid)
        _forks(loadavg, 1001)
        for _ in range(2):
            counted.pids(forker.pid)
        new = _fork(forker)  # the fake counter stands still
        seen = [new in counted.pids(forker.pid) for _ in range(4)]
        assert seen[-1], seen  # within rescan_every polls
        walks = counted.walks
        for _ in range(5):
            assert new in counted.pids(forker.pid)
        assert counted.walks == walks + 5
    finally:
        counted.probe.close()


def test_proc_a_tree_that_stood_still_comes_back_as_the_same_tuple(
    tmp_path: Path, forker: subprocess.Popen[str]
) -> None:
    """What reads as before is not parsed again: a quick poll or a walk over a tree whose
    memory and shape stood still gives the tuple it gave before (the supervisor then skips
    what it made of it); a new process or a change of memory gives a new one."""
    kids = {_fork(forker) for _ in range(3)}
    loadavg = tmp_path / "loadavg"
    _forks(loadavg, 1000)
    counted = _Counted(loadavg, rescan_every=100)
    probe, roots = counted.probe, [forker.pid]
    try:
        tree = {forker.pid, *kids}
        # Walks (the counter not yet seen to move), until the new children's memory stops
        # moving (their first page faults): then a walk gives the tuple of the one before.
        last, deadline = probe.sample(roots), time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.05)
            walked = probe.sample(roots)
            if walked.procs is last.procs:
                break
            last = walked
        assert walked.procs is last.procs and set(walked.pids) == tree
        _forks(loadavg, 1001)
        probe.sample(roots)
        probe.sample(roots)
        walks = counted.walks
        quick = [probe.sample(roots) for _ in range(3)]
        assert counted.walks == walks  # quick polls
        assert quick[2].procs is quick[1].procs and set(quick[2].pids) == tree
        assert quick[2].taken_at >= quick[1].taken_at
        new = _fork(forker)
        _forks(loadavg, 1002)
        grown = probe.sample(roots)
        assert grown.procs is not quick[2].procs and set(grown.pids) == tree | {new}
        # Memory that moved: a new tuple, with the new figure.
        big = subprocess.Popen(
            [sys.executable, "-c", "import sys; b = []\nfor line in sys.stdin: "
             "b.append(b'\\x01' * (8 << 20)); print(flush=True)"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert big.stdin is not None and big.stdout is not None
            big.stdin.write("\n")
            big.stdin.flush()
            big.stdout.readline()
            _forks(loadavg, 1003)
            first = [probe.sample([big.pid]) for _ in range(3)][-1]  # walked, walked, quick
            again = probe.sample([big.pid])
            assert again.procs is first.procs
            big.stdin.write("\n")
            big.stdin.flush()
            big.stdout.readline()
            grew = probe.sample([big.pid])  # quick: only statm read, and it moved
            assert grew.procs is not first.procs
            assert grew.procs[0].rss >= first.procs[0].rss + (7 << 20)
        finally:
            big.kill()
            big.wait()
            big.stdin.close()  # type: ignore[union-attr]
            big.stdout.close()  # type: ignore[union-attr]
    finally:
        probe.close()


TREE_ROOTS = """
import os, signal, subprocess, sys, time
from pathlib import Path
from guardrun.platform.linux import ProcProbe
from guardrun.platform.linux_facts import set_subreaper
import guardrun.supervisor.tree as tree_module

# A child that, on a line, forks a grandchild that forks a sleeping great-grandchild.
MIDDLE = '''
import os, sys, time
for line in sys.stdin:
    mid = os.fork()
    if mid == 0:
        leaf = os.fork()
        if leaf == 0:
            time.sleep(600)
            os._exit(0)
        print(os.getpid(), leaf, flush=True)
        time.sleep(600)
        os._exit(0)
'''
assert set_subreaper()
loadavg = Path(sys.argv[1])
loadavg.write_text("0 0 0 1/1 1000\\n")
child = subprocess.Popen([sys.executable, "-c", MIDDLE], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
looked = []
found = tree_module.own_children
tree_module.own_children = lambda: looked.append(1) or found()
tree = tree_module.Tree("test", set, lambda *a: None)
probe = ProcProbe(rescan_every=100, loadavg=str(loadavg))
tree.probe, tree.probes = probe, [probe]
tree.new_child(child.pid)
try:
    child.stdin.write("\\n"); child.stdin.flush()
    mid, leaf = map(int, child.stdout.readline().split())
    members = {child.pid, mid, leaf}
    def pids():
        sample = tree.sample()
        assert sample is not None
        return {p.pid for p in sample.procs}, sample
    for _ in range(2):
        assert pids()[0] == members  # looked for twice: the same roots
    assert len(looked) == 2
    first = pids()[1]
    loadavg.write_text("0 0 0 1/1 1001\\n")  # something forked somewhere: walked, and ...
    for _ in range(3):
        assert pids()[0] == members
    assert len(looked) == 2, looked  # ... nothing of the tree ended: not looked for
    assert first.procs[[p.pid for p in first.procs].index(child.pid)].ppid == os.getpid()
    # The middle process dies (no fork) and its child is handed to us, the subreaper: an
    # adopted root, found at the very next sample, as when the roots were read each time.
    os.kill(mid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{leaf}/stat") as f:
            if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                break
        time.sleep(0.01)
    got, sample = pids()
    assert leaf in got and tree.adopted == [leaf], (got, tree.adopted)
    assert {p.pid: p.ppid for p in sample.procs}[leaf] == os.getpid()
    assert len(looked) == 3
    for _ in range(2):
        assert leaf in pids()[0]
    assert len(looked) == 4  # looked for once more after the change, then not
    looked.clear()
    for _ in range(tree_module.LOOK_EVERY + 1):
        pids()
    assert len(looked) == 1  # ... but at least every LOOK_EVERY samples
    # An adopted root ends and is reaped (at SIGCHLD): looked for again, and gone.
    os.kill(leaf, signal.SIGKILL)
    os.waitpid(leaf, 0)
    tree.reap()  # (reads them itself)
    looked.clear()
    assert leaf not in pids()[0]
    assert len(looked) == 1
    print("ok")
finally:
    child.kill()
    probe.close()
"""


def test_tree_looks_for_its_roots_when_a_process_of_it_ends(tmp_path: Path) -> None:
    """guardrun's own children (where adopted roots come from) are not read at every
    sample, only when the last looks disagreed, a process of the tree ended (then an
    orphan handed to guardrun is an adopted root at that very sample), after a reap, and
    every LOOK_EVERY samples. In a subprocess: it makes itself a subreaper."""
    out = subprocess.run(
        [sys.executable, "-c", TREE_ROOTS, str(tmp_path / "loadavg")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
