"""Helpers shared by the tests: paths, guardrun and children as real processes, waits.

Tests import from here (``from support import ...``), never from each other or from
conftest.py, which holds only fixtures.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = REPO = TESTS.parent
CHILDREN = TESTS / "children"
FAKES = TESTS / "fakes"
RECORDED = FAKES / "recorded"
CLAUDE_FIXTURES = REPO.parent / "shared" / "fixtures" / "claude"
PY = sys.executable
MIB = 1 << 20
LIMIT = 64 * MIB  # of the test cgroup (conftest.cgroup_dir)


def guardrun(*args: str) -> list[str]:
    return [PY, "-m", "guardrun", *args]


def child(name: str, *args: str) -> list[str]:
    return [PY, str(CHILDREN / name), *args]


def wait_for(cond: Callable[[], object], timeout: float = 10.0, step: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {cond}")


def is_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] != b"Z"


def read_roles(path: Path) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            role, pid = line.split()[:2]
            roles.setdefault(role, []).append(int(pid))
    return roles


def starts(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]


def levels(warning: str, critical: str, emergency: str) -> list[str]:
    """The three threshold flags."""
    return ["--warning", warning, "--critical", critical, "--emergency", emergency]


class Guarded:
    """``guardrun ARGS`` as a real process with its output piped; always ended and reaped."""

    def __init__(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            guardrun(*args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.pid = self.proc.pid

    def __enter__(self) -> Guarded:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.returncode is None:  # the test failed before stop(): end it, reap it
            self.proc.kill()
            self.proc.communicate(timeout=15)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> str:
        """Signal guardrun, wait for it to exit; its stderr."""
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout)
        return str(err)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


def named_guardrun(where: Path, source: Path | str) -> Path:
    """``source`` (a script, or Python code) copied to ``where/bin/guardrun``: run with
    ``PY``, it is a stand-in that guardrun's identity check takes for a guardrun (a live
    file or a lease is believed only for a running guardrun of this user)."""
    script = where / "bin" / "guardrun"
    script.parent.mkdir(parents=True, exist_ok=True)
    text = source.read_text() if isinstance(source, Path) else source
    script.write_text(text)
    return script


def guardrun_sleeper(where: Path, seconds: float = 60) -> subprocess.Popen[bytes]:
    """A process that guardrun's identity check takes for a guardrun, doing nothing."""
    script = named_guardrun(where, f"import time\ntime.sleep({seconds})\n")
    return subprocess.Popen([PY, str(script)])
