"""Shared fixtures: real children from tests/children, guardrun run as a real process."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = Path(__file__).resolve().parent / "children"
PY = sys.executable


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


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own config and state directories (inherited by subprocesses)."""
    base = tmp_path_factory.mktemp("xdg")
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        (base / name).mkdir()
        monkeypatch.setenv(name, str(base / name))
    monkeypatch.setenv("GUARDRUN_CONFIG_HOME", str(base / "XDG_CONFIG_HOME" / "guardrun"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return base


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh fake ``pynvml`` (tests/fakes/pynvml.py) installed for this test only.

    This machine has no NVIDIA GPU: NVML is the one thing here that must be faked.
    """
    spec = importlib.util.spec_from_file_location(
        "pynvml", Path(__file__).parent / "fakes" / "pynvml.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    spec.loader.exec_module(module)
    return module


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
