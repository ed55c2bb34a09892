"""cgroup memory: usage, limits, percentages and OOM kills.

The main test makes a REAL memory cgroup (v1 on this hybrid host; v2 where the
v2 tree has the memory controller), moves a real child into it with a 64 MiB
limit, and lets the kernel OOM-kill it. It skips, saying why, where cgroups
cannot be created (not root, read-only /sys/fs/cgroup, no memory controller).
The v2 file-format test uses a directory laid out like cgroup v2, because this
host's v2 tree has no memory controller.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import LIMIT, MIB

from guardrun.platform.cgroup import CGROUP_ROOT, cgroup_limit, memory_limit
from guardrun.platform.cgroup_events import (
    CgroupMemory,
    OomWatch,
    memory_cgroup,
    parse_keyed,
    read_dir,
    read_memory,
)

# Reads "N\n" on stdin, writes N MiB (so they are charged), answers "ok".
HOG = """
import sys
held = []
for line in sys.stdin:
    held.append(b"\\x01" * (int(line) << 20))
    sys.stdout.write("ok\\n")
    sys.stdout.flush()
"""


def _ask(proc: subprocess.Popen[str], mib: int) -> bool:
    """Have the hog hold ``mib`` more MiB; False when it died instead of answering."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(f"{mib}\n")
        proc.stdin.flush()
    except BrokenPipeError:
        return False
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    return bool(ready) and proc.stdout.readline() == "ok\n"


def test_real_cgroup_limit_usage_and_oom_kill(cgroup_dir: tuple[int, Path]) -> None:
    version, d = cgroup_dir
    hog = subprocess.Popen(
        [sys.executable, "-c", HOG], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        (d / "cgroup.procs").write_text(str(hog.pid))
        assert memory_cgroup(hog.pid) == (version, str(d))
        # The lead's limit finder and this module agree on the test's limit.
        limit = cgroup_limit(hog.pid)
        assert limit is not None and limit.bytes == LIMIT and limit.cgroup_dir == str(d)
        assert memory_limit(hog.pid).bytes == LIMIT

        assert _ask(hog, 32)
        mem = read_memory(hog.pid)
        assert mem is not None
        assert mem.version == version and mem.path == str(d)
        assert mem.max == LIMIT and mem.limit == LIMIT
        assert mem.high is None
        assert mem.current is not None and 32 * MIB <= mem.current < LIMIT
        assert mem.percent is not None and 50.0 <= mem.percent < 100.0
        assert mem.oom_kills == 0

        watch = OomWatch(hog.pid)
        assert watch.new_kills() == 0
        assert not _ask(hog, 64)  # 96 MiB in a 64 MiB cgroup without swap: OOM kill
        assert hog.wait(timeout=20) == -signal.SIGKILL
        assert watch.new_kills() == 1
        assert read_dir(version, d).oom_kills == 1
    finally:
        hog.kill()
        hog.wait()
        assert hog.stdout is not None and hog.stdin is not None
        hog.stdout.close()
        try:
            hog.stdin.close()
        except BrokenPipeError:
            pass  # the last request was still buffered when the hog was killed


def test_v2_files(tmp_path: Path) -> None:
    """cgroup v2 layout (this host's v2 tree has no memory controller, so it is built here)."""
    root = tmp_path / "sys"
    (root / "unified").mkdir(parents=True)
    (root / "unified" / "cgroup.controllers").write_text("cpu memory pids\n")
    d = root / "unified" / "user.slice" / "agent.scope"
    d.mkdir(parents=True)
    (d / "memory.current").write_text("536870912\n")
    (d / "memory.max").write_text("max\n")
    (d / "memory.high").write_text("1073741824\n")
    (d / "memory.events").write_text("low 0\nhigh 12\nmax 0\noom 2\noom_kill 1\noom_group_kill 0\n")
    proc = tmp_path / "proc" / "77"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text("0::/user.slice/agent.scope\n")

    assert memory_cgroup(77, root, tmp_path / "proc") == (2, str(d))
    mem = read_dir(2, d)
    assert mem == CgroupMemory(2, str(d), 512 * MIB, None, 1024 * MIB, 1)
    assert mem.limit == 1024 * MIB and mem.percent == 50.0

    (d / "memory.max").write_text("805306368\n")
    assert read_dir(2, d).limit == 768 * MIB  # the lower of max and high binds


def test_v1_files_unlimited(tmp_path: Path) -> None:
    d = tmp_path / "memory" / "job"
    d.mkdir(parents=True)
    (d / "memory.usage_in_bytes").write_text("8491008\n")
    (d / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1 for "no limit"
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    mem = read_dir(1, d)
    assert mem.current == 8491008 and mem.max is None and mem.limit is None
    assert mem.percent is None and mem.oom_kills == 3


def test_parse_keyed() -> None:
    assert parse_keyed("oom 2\noom_kill 1\nbad\nx y\n") == {"oom": 2, "oom_kill": 1}
    assert parse_keyed(None) == {}


def test_no_memory_cgroup(tmp_path: Path) -> None:
    (tmp_path / "proc" / "5").mkdir(parents=True)
    (tmp_path / "proc" / "5" / "cgroup").write_text("1:cpu:/\n")
    assert memory_cgroup(5, tmp_path, tmp_path / "proc") is None
    assert read_memory(2**22 + 5) is None  # no such process
    assert OomWatch(2**22 + 5).new_kills() == 0


def test_this_process_has_a_readable_cgroup_if_any() -> None:
    found = memory_cgroup("self", CGROUP_ROOT)
    if found is None:
        pytest.skip("no memory cgroup visible here")
    mem = read_memory("self")
    assert mem is not None and mem.current is not None and mem.current > 0
