"""A cloned repository's .guardrun.yaml is input from a stranger: a symlink to /dev/zero,
a FIFO or a huge file must end in a one-line error naming it (exit 2), at once, without
growing or hanging guardrun, for a run and for ``config check`` alike."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from support import guardrun


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    r = subprocess.run(
        guardrun(*args), cwd=cwd, capture_output=True, text=True, timeout=20,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert time.monotonic() - started < 15
    return r


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "huge", "dev-null"])
@pytest.mark.parametrize("how", ["run", "check"])
def test_a_hostile_project_file_is_refused_at_once(tmp_path: Path, kind: str, how: str) -> None:
    project = tmp_path / ".guardrun.yaml"
    if kind == "dev-zero":
        project.symlink_to("/dev/zero")
    elif kind == "dev-null":
        project.symlink_to("/dev/null")
    elif kind == "fifo":
        os.mkfifo(project)
    else:
        project.write_text("# " + "x" * (2 << 20) + "\n")
    args = ("--no-pty", "--", "echo", "hi") if how == "run" else ("config", "check")
    r = run(tmp_path, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert ".guardrun.yaml" in r.stderr and "hi" not in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    why = "larger than" if kind == "huge" else "not a regular file"
    assert why in r.stderr
