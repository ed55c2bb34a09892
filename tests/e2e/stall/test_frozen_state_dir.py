"""A state directory whose writes hang never stalls sampling.

The state directory is a real ext4 filesystem on a loop device, frozen with
``fsfreeze`` while guardrun runs (as NFS or FUSE that stop answering): every write
there then waits in the kernel, uninterruptibly, until it is thawed (shown by
``test_the_frozen_filesystem_really_blocks_writes``). A leak passes emergency in
the meantime: guardrun must stop and restart the tree while the filesystem is frozen,
and write what happened once it is thawed. Root only (mount, fsfreeze).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Guarded, child, is_alive, levels, starts, wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("fsfreeze", "mkfs.ext4", "mount")),
    reason="needs root, fsfreeze, mkfs.ext4 and mount (a loop device)",
)


@pytest.fixture
def frozen_fs(tmp_path: Path) -> Iterator[Path]:
    """A fresh ext4 mounted at ``mnt``; always thawed and unmounted afterwards."""
    img, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", "64M", str(img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
    if subprocess.run(["mount", "-o", "loop", str(img), str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a loop device here")
    try:
        yield mnt
    finally:
        subprocess.run(["fsfreeze", "-u", str(mnt)], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_the_frozen_filesystem_really_blocks_writes(frozen_fs: Path) -> None:
    subprocess.run(["fsfreeze", "-f", str(frozen_fs)], check=True)
    writer = subprocess.Popen(["sh", "-c", f"echo x > {frozen_fs}/probe"])
    try:
        time.sleep(1.0)
        assert writer.poll() is None  # still waiting in the kernel
    finally:
        subprocess.run(["fsfreeze", "-u", str(frozen_fs)], check=True)
    assert writer.wait(timeout=10) == 0


def test_an_emergency_restart_happens_while_the_state_dir_is_frozen(
    frozen_fs: Path, tmp_path: Path
) -> None:
    state = frozen_fs / "state"
    started = tmp_path / "starts"  # not on the frozen filesystem
    with Guarded(
        "--no-pty", *levels("60MB", "80MB", "120MB"), "--interval", "200ms", "--grace", "1s",
        "--state-dir", str(state),
        "--", *child("leak.py", "--starts", str(started), "--to", "400", "--rate", "40"),
        cwd=tmp_path,
    ) as g:  # fmt: skip
        first = wait_for(lambda: starts(started), timeout=15)
        assert isinstance(first, list)
        time.sleep(0.5)  # the start's writes are done
        subprocess.run(["fsfreeze", "-f", str(frozen_fs)], check=True)
        try:
            # The leak passes 120 MB in ~3 s: the tree is stopped and the command started
            # again, every write of it (event log, live file, history, state) hanging.
            wait_for(lambda: len(starts(started)) >= 2, timeout=20)
            assert not is_alive(first[0])
        finally:
            subprocess.run(["fsfreeze", "-u", str(frozen_fs)], check=True)
        g.stop(signal.SIGTERM, timeout=30)
    logs = [p for p in state.glob("projects/*/runs/*.jsonl") if ".history." not in p.name]
    events = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert any(
        e["event"] == "restart_requested" and e.get("reason") == "emergency" for e in events
    ), kinds
    assert "restarted" in kinds and "stopped" in kinds  # written once thawed, in order
    assert kinds.index("restart_requested") < kinds.index("restarted") < kinds.index("stopped")
    assert "sentinel_stopped" not in kinds  # the loop went on sampling: not the last resort
