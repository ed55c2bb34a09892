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
