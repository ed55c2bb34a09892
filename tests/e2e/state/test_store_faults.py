"""The store under faults: writers SIGKILLed mid-write, an unwritable directory, a full disk.

Writers are real processes forked from the test (fork keeps 200 runs fast: no interpreter
start per run). Each child writes transcript copies and states in a loop until it is killed.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import random
import resource
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from guardrun.errors import StoreError
from guardrun.state import retention
from guardrun.state.store import STATE_SUFFIX, TMP_PREFIX, TRANSCRIPT_SUFFIX, Store, read_state


def _in_child(fn: Callable[[], int]) -> int:
    """Run ``fn`` in a forked child; its return value is the exit status (99: it raised)."""
    pid = os.fork()
    if pid == 0:  # never return into pytest from the child
        code = 99
        try:
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _writer_loop(store: Store, src: Path) -> int:
    rng = random.Random(os.getpid())
    while True:
        with open(src, "ab") as f:  # the source changes, so every copy is a real copy
            f.write(json.dumps({"type": "user", "pad": "x" * rng.randrange(8000)}).encode() + b"\n")
        payload = os.urandom(rng.randrange(1, 48_000)).hex()
        state_id = store.new_id("memory")
        copy = store.write_transcript(state_id, src)
        store.write_state({"schema": 1, "id": state_id, "payload": payload, "copy": copy,
                           "check": hashlib.sha256(payload.encode()).hexdigest()})  # fmt: skip


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_partial_or_damaged_files(tmp_path: Path) -> None:
    store = Store(tmp_path / "state", tmp_path)
    store.ensure()
    rng = random.Random(1234)
    seen: dict[str, str] = {}  # final name -> sha256 of its bytes when first verified
    runs_with_debris = 0
    for run in range(200):
        src = tmp_path / f"src-{run % 4}.jsonl"
        pid = os.fork()
        if pid == 0:
            try:
                _writer_loop(store, src)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        names = os.listdir(store.states_dir)
        runs_with_debris += any(n.startswith(TMP_PREFIX) for n in names)
        for name in names:
            path = store.states_dir / name
            if name.startswith(TMP_PREFIX):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if name in seen:
                assert seen[name] == digest, f"run {run}: {name} changed after it was complete"
                continue
            if name.endswith(STATE_SUFFIX):
                state = read_state(path)  # raises on a partial file
                assert hashlib.sha256(state["payload"].encode()).hexdigest() == state["check"]
                copy = store.states_dir / (state["id"] + TRANSCRIPT_SUFFIX)
                data = gzip.decompress(copy.read_bytes())  # the copy was complete before it
                assert hashlib.sha256(data).hexdigest() == state["copy"]["sha256"]
            else:
                assert name.endswith(TRANSCRIPT_SUFFIX), name
                gzip.decompress(path.read_bytes())
            seen[name] = digest
        removed = retention.clean_temp(store)  # the writer is dead: its temp files are debris
        assert not any(n.startswith(TMP_PREFIX) for n in os.listdir(store.states_dir)), removed
    states = sum(n.endswith(STATE_SUFFIX) for n in seen)
    assert states >= 40, states
    # The kills must have landed mid-write often, or this test proves nothing.
    assert runs_with_debris >= 10, runs_with_debris
    print(f"\n200 kills: {states} complete states, {runs_with_debris} runs left a temp file")


def _nobody() -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def test_unwritable_directory_gives_store_error_naming_the_path() -> None:
    """As root, permission bits do not stop writes: the writer drops to ``nobody`` first."""
    base = Path(tempfile.mkdtemp(prefix="guardrun-ro-"))
    try:
        os.chmod(base, 0o755)
        store = Store(base / "state", base)
        store.ensure()
        os.chmod(store.states_dir, 0o500)
        as_root = os.geteuid() == 0
        if as_root:  # everything but the states dir belongs to the writer
            uid, gid = _nobody()
            for d in (store.state_dir, store.projects_dir, store.project_dir, store.runs_dir,
                      store.live_dir):  # fmt: skip
                os.chown(d, uid, gid)
        pipe_r, pipe_w = os.pipe()

        def write() -> int:
            if as_root:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
            try:
                Store(base / "state", base).write_state({"schema": 1, "id": store.new_id("exit")})
            except StoreError as err:
                os.write(pipe_w, str(err).encode())
                return 7
            return 0

        code = _in_child(write)
        os.close(pipe_w)
        text = os.read(pipe_r, 4096).decode()
        os.close(pipe_r)
        assert code == 7, text
        assert str(store.states_dir) in text and "Permission denied" in text
        assert "\n" not in text
        assert os.listdir(store.states_dir) == []
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str = "64k") -> Iterator[Path]:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(where)], capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_full_filesystem_gives_store_error_and_no_partial_file(tmp_path: Path) -> None:
    with _small_tmpfs(tmp_path / "small") as small:
        store = Store(small / "state", tmp_path)
        ok = {"schema": 1, "id": store.new_id("exit"), "note": "fits"}
        store.write_state(ok)
        big = {"schema": 1, "id": store.new_id("emergency"), "pad": os.urandom(200_000).hex()}
        with pytest.raises(StoreError) as info:
            store.write_state(big)
        assert f"{big['id']}.json.gz" in str(info.value)
        assert "No space left" in str(info.value)
        assert os.listdir(store.states_dir) == [f"{ok['id']}.json.gz"]  # no temp, no partial
        assert read_state(store.states_dir / f"{ok['id']}.json.gz") == ok


def test_file_size_limit_gives_store_error(tmp_path: Path) -> None:
    """RLIMIT_FSIZE is the unprivileged way to a "full" disk: EFBIG instead of ENOSPC."""
    store = Store(tmp_path / "state", tmp_path)
    store.ensure()
    pipe_r, pipe_w = os.pipe()

    def write() -> int:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))
        big = {"schema": 1, "id": store.new_id("memory"), "pad": os.urandom(100_000).hex()}
        try:
            store.write_state(big)
        except StoreError as err:
            os.write(pipe_w, str(err).encode())
            return 7
        return 0

    code = _in_child(write)
    os.close(pipe_w)
    text = os.read(pipe_r, 4096).decode()
    os.close(pipe_r)
    assert code == 7, text
    assert "File too large" in text and str(store.states_dir) in text
    assert os.listdir(store.states_dir) == []


def test_writer_killed_mid_write_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    """Fast (not ``slow``): one writer, SIGKILLed by its own source halfway through a write.
    A write in place would leave the half-written file under the state's own name."""
    store = Store(tmp_path / "state", tmp_path)
    store.ensure()
    name = store.new_id("emergency") + STATE_SUFFIX
    final = store.states_dir / name

    def chunks() -> Iterator[bytes]:
        yield b"x" * 50_000  # the first half is written ...
        os.kill(os.getpid(), signal.SIGKILL)  # ... and the writer dies before the rest
        yield b""

    def write() -> int:
        store.atomic_write(store.states_dir, name, chunks())
        return 0

    code = _in_child(write)
    assert code == -signal.SIGKILL
    assert not os.path.lexists(final), "a partial file under the final name"
    left = os.listdir(store.states_dir)
    assert len(left) == 1 and left[0].startswith(TMP_PREFIX) and left[0].endswith(name), left
    assert retention.clean_temp(store) == [str(store.states_dir / left[0])]  # its writer is gone
    assert os.listdir(store.states_dir) == []


def test_the_final_name_appears_only_once_the_file_is_complete(tmp_path: Path) -> None:
    """A reader looking while the write is under way sees a temp file, never the name."""
    store = Store(tmp_path / "state", tmp_path)
    store.ensure()
    name = store.new_id("memory") + TRANSCRIPT_SUFFIX
    final = store.states_dir / name
    during: list[tuple[bool, list[str]]] = []

    def chunks() -> Iterator[bytes]:
        for i in range(3):
            during.append((os.path.lexists(final), os.listdir(store.states_dir)))
            yield b"line %d\n" % i

    assert store.atomic_write(store.states_dir, name, chunks()) == len(b"line 0\n") * 3
    assert [exists for exists, _ in during] == [False] * 3
    for _, names in during:  # the chunks go to a private temp file
        (tmp,) = names
        assert tmp.startswith(f"{TMP_PREFIX}{os.getpid()}-") and tmp.endswith(name)
    assert os.listdir(store.states_dir) == [name]
    assert final.read_bytes() == b"line 0\nline 1\nline 2\n"
    assert stat.S_IMODE(os.lstat(final).st_mode) == 0o600
