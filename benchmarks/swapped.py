"""Swap in use, for the benchmarks that measure guardrun with it (``--swap``).

As root: a swap file switched on, and a "ballast" process in a memory cgroup of its own
(v2 where the v2 tree has the memory controller, else v1) with a 32 MiB limit that
allocates 128 MiB, so that the machine has swap in use (``/proc/swaps`` Used > 0) and
guardrun's probe reads ``VmSwap`` as it does on a machine that swaps. Everything is
undone on exit (ballast killed, cgroup removed, swap off, file deleted).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guardrun.platform.cgroup_events import memory_cgroup  # noqa: E402
from guardrun.platform.swap import linux as swap_info  # noqa: E402

BALLAST = """
import sys, time
held = bytearray(128 << 20)
for i in range(0, len(held), 4096):
    held[i] = 1
sys.stdout.write("ok\\n"); sys.stdout.flush()
time.sleep(3600)
"""


def _cgroup_parent() -> tuple[int, Path]:
    found = memory_cgroup("self")
    if found is None:
        raise SystemExit("--swap: this process has no memory cgroup")
    version, own = found[0], Path(found[1])
    if version == 2:
        while (own.parent / "cgroup.controllers").exists():
            own = own.parent
    return version, own


@contextmanager
def swap_in_use(size_mb: int = 512) -> Iterator[int]:
    """Swap on and in use for the duration; yields the bytes of swap in use."""
    if os.geteuid() != 0:
        raise SystemExit("--swap needs root (swapon and a memory cgroup)")
    tmp = Path(tempfile.mkdtemp(prefix="guardrun-bench-swap-"))
    path = tmp / "swapfile"
    with open(path, "wb") as f:
        for _ in range(size_mb):
            f.write(b"\0" * (1 << 20))
    path.chmod(0o600)
    subprocess.run(["mkswap", "-q", str(path)], check=True)
    subprocess.run(["swapon", str(path)], check=True)
    version, parent = _cgroup_parent()
    cg = parent / f"guardrun-bench-{os.getpid()}"
    cg.mkdir()
    ballast = None
    try:
        (cg / ("memory.max" if version == 2 else "memory.limit_in_bytes")).write_text(str(32 << 20))
        ballast = subprocess.Popen(
            [sys.executable, "-c", BALLAST],
            stdout=subprocess.PIPE,
            preexec_fn=lambda: (cg / "cgroup.procs").write_text(str(os.getpid())),
        )
        assert ballast.stdout is not None and ballast.stdout.readline() == b"ok\n"
        used = swap_info().used
        if not used:
            raise SystemExit("--swap: the ballast did not push anything into swap")
        yield used
    finally:
        if ballast is not None:
            ballast.kill()
            ballast.wait()
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run(["swapoff", str(path)], check=False)
        path.unlink()
        tmp.rmdir()
