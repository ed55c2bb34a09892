"""The footprint metric against REAL swap: a leak pushed out of RAM still reaches emergency.

A swap file (made here with mkswap and swapon, as root) and a memory cgroup with a
64 MiB limit and no swap limit (conftest's ``cgroup_dir``: v1 on this hybrid host, v2
where the v2 tree has the memory controller) force a leak of 200 MB out of RAM: its
resident memory stays under the limit while the rest goes to swap. Counted as RSS it
never reaches a 160 MB emergency; counted as footprint it does, and is restarted.

Both ways the footprint is read are run: a cgroup that holds only guardrun and its
tree (the cgroup's own charge), and one shared with a stranger (the processes'
``VmSwap``). Each test skips, naming why, where the machine cannot: not root, swapon
refused (a container without CAP_SYS_ADMIN, a filesystem that cannot hold swap), no
memory cgroup to make.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import MIB, child, guardrun, levels, starts, wait_for

FAST = ["--cooldown", "100ms", "--grace", "2s", "--interval", "200ms", "--no-pty"]
LEAK = 200  # MB the leak grows to: over three times the cgroup's 64 MiB
THRESHOLDS = levels("100MB", "130MB", "160MB")
SWAP_FILE_MB = 512

pytestmark = pytest.mark.timeout(120)


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def swap_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real swap file, switched on for the test and off after it; or a skip saying why."""
    if os.geteuid() != 0:
        pytest.skip("switching swap on needs root")
    path = tmp_path_factory.mktemp("swap") / "swapfile"
    with open(path, "wb") as f:  # written, not fallocated: swapon refuses files with holes
        block = b"\0" * MIB
        for _ in range(SWAP_FILE_MB):
            f.write(block)
    path.chmod(0o600)
    made = _run(["mkswap", str(path)])
    if made.returncode != 0:
        pytest.skip(f"mkswap {path} failed: {made.stderr.strip() or made.stdout.strip()}")
    on = _run(["swapon", str(path)])
    if on.returncode != 0:
        pytest.skip(f"swapon {path} was refused here: {on.stderr.strip()}")
    try:
        yield path
    finally:
        for _ in range(20):  # pages still in it come back to RAM first
            if _run(["swapoff", str(path)]).returncode == 0:
                break
            time.sleep(0.5)


def _state_root() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "guardrun"


def _events() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted(_state_root().glob("projects/*/runs/*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def _latest_state(cwd: Path) -> dict[str, object]:
    r = _run(guardrun("state", "show", "latest", "--json"), cwd=cwd)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def _enter(procs: Path) -> object:
    def enter() -> None:
        procs.write_text(str(os.getpid()))

    return enter


@pytest.mark.parametrize("shared", [False, True], ids=["tree-alone-in-cgroup", "shared-cgroup"])
def test_a_swapped_out_leak_reaches_emergency_and_is_restarted(
    tmp_path: Path, swap_file: Path, cgroup_dir: tuple[int, Path], shared: bool
) -> None:
    _version, d = cgroup_dir
    stranger = None
    if shared:  # another process in the cgroup: the tree is read process by process
        stranger = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            preexec_fn=_enter(d / "cgroup.procs"),
        )
    log = tmp_path / "starts"
    try:
        r = subprocess.run(
            guardrun(
                *FAST,
                *THRESHOLDS,
                "--max-restarts",
                "1",
                "--on-exhausted",
                "stop",
                "--",
                *child("leak.py", "--starts", str(log), "--to", str(LEAK), "--rate", "80"),
            ),  # fmt: skip
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=100,
            preexec_fn=_enter(d / "cgroup.procs"),
        )
    finally:
        if stranger is not None:
            stranger.kill()
            stranger.wait()
    # The first leak is restarted at emergency; the second is refused and stopped (75).
    assert r.returncode == 75, r.stderr
    assert len(starts(log)) == 2, r.stderr
    kinds = [e["event"] for e in _events()]
    assert "restarted" in kinds, kinds
    state = _latest_state(tmp_path)
    memory = state["memory"]
    assert isinstance(memory, dict)
    assert memory["metric"] == "footprint" and memory["level"] == "emergency"
    tree, swapped = memory["tree_bytes"], memory["swapped_bytes"]
    assert isinstance(tree, int) and isinstance(swapped, int)
    assert tree >= 160_000_000
    # Most of it was out of RAM: the cgroup holds at most 64 MiB in RAM.
    assert swapped >= tree - 64 * MIB, memory
    source = str(memory["source"])
    assert source.startswith("cgroup") != shared, source
    shown = _run(guardrun("state", "show", "latest"), cwd=tmp_path)
    assert " swapped (footprint, level emergency" in shown.stdout, shown.stdout


def test_rss_mode_behaves_as_before_and_never_sees_the_swapped_leak(
    tmp_path: Path, swap_file: Path, cgroup_dir: tuple[int, Path]
) -> None:
    _version, d = cgroup_dir
    log = tmp_path / "starts"
    proc = subprocess.Popen(
        guardrun(
            *FAST,
            *THRESHOLDS,
            "--metric",
            "rss",
            "--",
            *child("leak.py", "--starts", str(log), "--to", str(LEAK), "--rate", "80"),
        ),  # fmt: skip
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_enter(d / "cgroup.procs"),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("READY"), "the leak never finished growing"
        live = _state_root() / "live" / f"{proc.pid}.json"

        def swapped_seen() -> dict[str, object] | None:
            try:
                info = json.loads(live.read_text())
            except (OSError, ValueError):
                return None
            sw = info.get("swapped_bytes")
            return info if isinstance(sw, int) and sw > 100 * MIB else None

        info = wait_for(swapped_seen, timeout=15)
        assert isinstance(info, dict)
        # RSS is what is counted: about the cgroup's 64 MiB (with the shared libraries'
        # pages), under the 100 MB warning, while most of the leak sits in swap.
        mem = info["memory_bytes"]
        assert isinstance(mem, int) and mem < 100_000_000, info
        assert info["level"] == "normal"
        assert len(starts(log)) == 1
        status = _run(guardrun("status"), cwd=tmp_path)
        assert " swapped" in status.stdout, status.stdout  # "63.0 MB, 140.2 MB swapped"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    kinds = [e["event"] for e in _events()]
    assert "restarted" not in kinds and "restart_requested" not in kinds, err
