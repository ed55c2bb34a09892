"""Fixtures only; the helpers tests share are in ``support``."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support import FAKES, LIMIT, ROOT

from guardrun.platform.cgroup_events import memory_cgroup


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
    spec = importlib.util.spec_from_file_location("pynvml", FAKES / "pynvml.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    spec.loader.exec_module(module)
    return module


def _parent_for_test_cgroup() -> tuple[int, Path]:
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    found = memory_cgroup("self")
    if found is None:
        pytest.skip("this process has no memory cgroup (neither v2 with memory nor v1)")
    version, own_dir = found
    own = Path(own_dir)
    if version == 1:
        return 1, own  # v1 lets a cgroup with processes have children
    # v2: "no internal processes" forbids enabling memory below a cgroup that has
    # processes, except at the root; use the root.
    base = own
    while (base.parent / "cgroup.controllers").exists():
        base = base.parent
    control = base / "cgroup.subtree_control"
    try:
        if "memory" not in control.read_text().split():
            control.write_text("+memory")
    except OSError as err:
        pytest.skip(f"cannot enable the memory controller in {control}: {err}")
    return 2, base


@pytest.fixture
def cgroup_dir() -> Iterator[tuple[int, Path]]:
    """A real memory cgroup with a 64 MiB limit (v1 or v2), removed after; or a skip."""
    version, parent = _parent_for_test_cgroup()
    d = parent / f"guardrun-test-{os.getpid()}"
    try:
        d.mkdir()
        limit_file = "memory.max" if version == 2 else "memory.limit_in_bytes"
        (d / limit_file).write_text(str(LIMIT))
    except OSError as err:
        if d.exists():
            d.rmdir()
        pytest.skip(f"cannot create a memory cgroup under {parent}: {err}")
    try:
        yield version, d
    finally:
        for _ in range(50):  # the last process's exit can lag behind wait()
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.05)


@pytest.fixture
def claude(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """The real Claude Code CLI, a project directory and an offline config for it; a
    skip where it is not installed (a failure in CI, which installs it)."""
    from support.claude import INSTALL_HINT, child_env, claude_bin, prepare_config

    found = claude_bin()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"Claude Code CLI missing in CI; install it with: {INSTALL_HINT}")
        pytest.skip(f"Claude Code CLI not installed ({INSTALL_HINT})")
    cwd = tmp_path / "project"
    cwd.mkdir()
    return found, cwd, child_env(prepare_config(tmp_path, cwd))


def _mount(*args: str) -> None:
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root")
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} failed: {r.stderr.strip()}")


def _umount(path: Path) -> None:
    import subprocess

    for _ in range(50):  # a process that just exited may still hold a file open
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def full_fs(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 256 KiB tmpfs that a file fills to the last block: every write
    there fails with ENOSPC, also as root (permission bits do not stop root)."""
    mount = tmp_path / "full"
    mount.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount))
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        yield mount
    finally:
        _umount(mount)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory bind-mounted read-only: writes fail with EROFS, also as root."""
    ro = tmp_path / "read-only"
    ro.mkdir(mode=0o700)
    _mount("--bind", str(ro), str(ro))
    try:
        _mount("-o", "remount,ro,bind", str(ro))
        yield ro
    finally:
        _umount(ro)
