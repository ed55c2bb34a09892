"""The state store on real files: layout, modes, ids, hostile refs, copies, listing, retention."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from guardrun.errors import StateCorrupt, StateNotFound, StoreError, UsageError
from guardrun.state import retention
from guardrun.state.store import (
    ID_RE,
    TRANSCRIPT_SUFFIX,
    Store,
    check_ref,
    id_time,
    project_key,
    read_state,
)


def make_state(store: Store, reason: str = "manual", session: str | None = None,
               now: float | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    state_id = store.new_id(reason, now)
    state = {"schema": 1, "id": state_id, "reason": reason,
             "conversation": {"agent": "claude", "session_id": session},
             "memory": {"tree_bytes": 123456789}, **extra}  # fmt: skip
    store.write_state(state)
    return state


@pytest.fixture
def store(tmp_path: Path) -> Store:
    project = tmp_path / "my project!"
    project.mkdir()
    return Store(tmp_path / "state", project)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_project_key_is_sanitized_name_and_path_hash(tmp_path: Path) -> None:
    root = tmp_path / "my project!"
    root.mkdir()
    key = project_key(root)
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    assert key == f"my-project--{digest}"
    assert project_key(root / ".." / "my project!") == key
    assert project_key(Path("/")) == f"root-{hashlib.sha256(b'/').hexdigest()[:8]}"


def test_layout_modes_and_roundtrip(store: Store, tmp_path: Path) -> None:
    state = make_state(store, "memory", session="s1")
    path = store.states_dir / f"{state['id']}.json.gz"
    assert path.is_file()
    assert path.parent == tmp_path / "state" / "projects" / store.project / "states"
    assert mode(path) == 0o600
    for d in (store.state_dir, store.projects_dir, store.project_dir, store.states_dir,
              store.runs_dir, store.live_dir):  # fmt: skip
        assert mode(d) == 0o700, d
    assert read_state(path) == state
    assert store.load(state["id"]) == state
    assert os.listdir(store.states_dir) == [path.name]  # no temp file left behind


def _write_state_and_copy(store: Store, src: Path) -> list[Path]:
    """A transcript copy and a state, as a capture writes them: the two final paths."""
    state_id = store.new_id("memory")
    copy = store.write_transcript(state_id, src)
    path = store.write_state({"schema": 1, "id": state_id, "copy": copy})
    return [store.states_dir / copy["file"], path]


def test_each_file_is_fsynced_before_its_rename_and_the_directory_after(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on os.fsync and os.rename (both still do their work): a power cut cannot be
    simulated here, so what is checked is the order durability needs, by inode: the temp
    file's data is on disk before its name is switched, and the directory entry after."""
    src = tmp_path / "t.jsonl"
    src.write_bytes(b'{"type": "user"}\n' * 1000)
    calls: list[tuple[str, tuple[int, int]]] = []
    renames: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        calls.append(("fsync", (st.st_dev, st.st_ino)))
        real_fsync(fd)

    def rename(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        st = os.lstat(src)
        calls.append(("rename", (st.st_dev, st.st_ino)))
        renames.append((os.fspath(src), os.fspath(dst)))
        real_rename(src, dst, *args, **kw)

    store.ensure()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    finals = _write_state_and_copy(store, src)
    monkeypatch.undo()
    assert [Path(dst) for _, dst in renames] == finals
    assert all(Path(tmp).name.startswith(".tmp-") for tmp, _ in renames)
    st = os.stat(store.states_dir)
    directory = ("fsync", (st.st_dev, st.st_ino))
    at = [i for i, (kind, _) in enumerate(calls) if kind == "rename"]
    for n, final in enumerate(finals):
        st = os.stat(final)
        inode = (st.st_dev, st.st_ino)
        assert calls[at[n]] == ("rename", inode)
        assert ("fsync", inode) in calls[: at[n]], f"{final.name}: renamed before fsync"
        # the directory entry is synced after this rename, before the next file's
        assert directory in calls[at[n] + 1 : (at + [len(calls)])[n + 1]], final.name


_STRACED = """
import sys
from pathlib import Path
from guardrun.state.store import Store
store = Store(Path(sys.argv[1]), Path(sys.argv[2]))
store.ensure()
state_id = store.new_id("memory")
copy = store.write_transcript(state_id, Path(sys.argv[3]))
store.write_state({"schema": 1, "id": state_id, "copy": copy})
print(state_id)
"""
_OPEN = re.compile(r'^\d+ +open(?:at)?\((?:AT_FDCWD, )?"([^"]*)", [^)]*\)\s+= (\d+)$')
_FSYNC = re.compile(r"^\d+ +f(?:data)?sync\((\d+)\)\s+= 0$")
_RENAME = re.compile(
    r'^\d+ +rename(?:at2?)?\((?:AT_FDCWD, )?"([^"]*)", (?:AT_FDCWD, )?"([^"]*)"(?:, \w+)?\)\s+= 0$'
)


def test_strace_shows_fsync_before_rename_on_a_real_write(tmp_path: Path) -> None:
    """The same order seen from outside the process: the system calls themselves."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    project = tmp_path / "proj"
    project.mkdir()
    src = tmp_path / "t.jsonl"
    src.write_bytes(b'{"type": "user"}\n' * 1000)
    trace = tmp_path / "trace"
    r = subprocess.run(
        [strace, "-f", "-qq", "-s", "4096", "-o", str(trace),
         "-e", "trace=open,openat,fsync,fdatasync,rename,renameat,renameat2",
         sys.executable, "-c", _STRACED, str(tmp_path / "state"), str(project), str(src)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if r.returncode != 0 and "ptrace" in r.stderr:
        pytest.skip(f"strace cannot trace here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    state_id = r.stdout.split()[-1]
    states = Store(tmp_path / "state", project).states_dir
    fds: dict[int, str] = {}
    seen: list[tuple[str, str]] = []  # ("fsync", path) / ("rename", final) in order
    for line in trace.read_text().splitlines():
        if m := _OPEN.match(line):
            fds[int(m.group(2))] = m.group(1)
        elif m := _FSYNC.match(line):
            seen.append(("fsync", fds.get(int(m.group(1)), "?")))
        elif m := _RENAME.match(line):
            seen.append(("rename-from", m.group(1)))
            seen.append(("rename", m.group(2)))
    for suffix in (TRANSCRIPT_SUFFIX, ".json.gz"):
        final = str(states / (state_id + suffix))
        at = seen.index(("rename", final))
        tmp = seen[at - 1][1]
        assert Path(tmp).parent == states and Path(tmp).name.startswith(".tmp-"), seen
        assert ("fsync", tmp) in seen[: at - 1], f"{final}: no fsync of {tmp} before rename"
        after = seen[at + 1 :]
        before_next = after[: [k for k, _ in after].index("rename-from")] if any(
            k == "rename-from" for k, _ in after) else after  # fmt: skip
        assert ("fsync", str(states)) in before_next, f"{final}: directory not fsynced"


def test_new_id_pattern_and_reason(store: Store) -> None:
    now = 1_700_000_000.0
    state_id = store.new_id("critical", now)
    assert re.match(ID_RE, state_id)
    assert state_id.startswith("20231114T221320Z-critical-")
    assert id_time(state_id) == now
    with pytest.raises(ValueError):
        store.new_id("../evil")


def test_looser_existing_directory_is_tightened(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    os.chmod(state_dir, 0o755)
    store = Store(state_dir, tmp_path)
    make_state(store)
    assert mode(state_dir) == 0o700


@pytest.mark.parametrize(
    "ref", ["../..", "..", "/etc/passwd", "a/b", "", "x" * 65, "latest\n", "id.json.gz", "~root"]
)
def test_hostile_refs_are_usage_errors(store: Store, ref: str) -> None:
    with pytest.raises(UsageError):
        check_ref(ref)
    with pytest.raises(UsageError):
        store.resolve(ref)
    assert not store.state_dir.exists()  # refused before any path was touched


def test_symlinked_states_dir_is_refused(store: Store, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store.project_dir.mkdir(parents=True)
    store.states_dir.symlink_to(elsewhere)
    with pytest.raises(StoreError, match="symlink"):
        make_state(store)
    assert os.listdir(elsewhere) == []


def test_symlinked_state_file_is_corrupt_not_followed(store: Store, tmp_path: Path) -> None:
    good = make_state(store)
    target = tmp_path / "secret.json.gz"
    target.write_bytes(gzip.compress(json.dumps({"schema": 1, "id": "x"}).encode()))
    planted = store.states_dir / "20990101T000000Z-manual-abcd.json.gz"
    planted.symlink_to(target)
    entries = {e.id: e for e in store.entries()}
    assert entries["20990101T000000Z-manual-abcd"].corrupt
    assert entries[good["id"]].corrupt is None
    with pytest.raises(StateCorrupt):
        store.load("20990101T000000Z-manual-abcd")
    with pytest.raises(StateCorrupt):
        store.load("latest")  # the planted file sorts newest; it is still not followed


def test_resolve_latest_prefix_ambiguous_unknown_other_project(
    store: Store, tmp_path: Path
) -> None:
    a = make_state(store, now=1_700_000_000.0)
    b = make_state(store, now=1_700_000_100.0)
    assert store.resolve("latest").name == f"{b['id']}.json.gz"
    assert store.load(a["id"][:20])["id"] == a["id"]
    with pytest.raises(UsageError, match="matches 2 states"):
        store.resolve("2023")
    with pytest.raises(StateNotFound):
        store.resolve("1999")
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = Store(store.state_dir, other_root)
    with pytest.raises(StateNotFound):
        other.resolve("latest")
    assert other.load(b["id"])["id"] == b["id"]  # an explicit id is found in any project


def test_corrupt_files_are_listed_as_corrupt_and_never_raise(store: Store) -> None:
    good = make_state(store, now=1_700_000_000.0)
    full = gzip.compress(json.dumps({"schema": 1, "id": "x", "pad": "y" * 5000}).encode())
    bad = {
        "20231114T221400Z-manual-0001": full[: len(full) // 2],  # truncated gzip
        "20231114T221400Z-manual-0002": b"not gzip at all",
        "20231114T221400Z-manual-0003": gzip.compress(b"{not json"),
        "20231114T221400Z-manual-0004": gzip.compress(b"[1, 2]"),
        "20231114T221400Z-manual-0005": b"",
    }
    for sid, data in bad.items():
        (store.states_dir / f"{sid}.json.gz").write_bytes(data)
    (store.states_dir / "notes.txt").write_text("ignored")
    entries = {e.id: e for e in store.entries()}
    assert set(entries) == set(bad) | {good["id"]}
    for sid in bad:
        assert entries[sid].corrupt, sid
        with pytest.raises(StateCorrupt):
            store.load(sid)
    assert entries[good["id"]].corrupt is None
    assert entries[good["id"]].summary["tree_bytes"] == 123456789
    assert [e.id for e in store.entries(all_projects=True)] == [e.id for e in store.entries()]


def _transcript(path: Path, lines: int, start: int = 0) -> bytes:
    data = b"".join(
        json.dumps({"type": "user", "n": i, "text": "hello " * (i % 7)}).encode() + b"\n"
        for i in range(start, start + lines)
    )
    with open(path, "ab") as f:
        f.write(data)
    return path.read_bytes()


def test_transcript_copy_then_link_when_unchanged(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "t.jsonl"
    content = _transcript(src, 500)
    id1 = store.new_id("manual")
    meta = store.write_transcript(id1, src)
    copy1 = store.states_dir / f"{id1}{TRANSCRIPT_SUFFIX}"
    assert gzip.decompress(copy1.read_bytes()) == content
    assert mode(copy1) == 0o600
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert (meta["bytes"], meta["offset"], meta["truncated"]) == (len(content), 0, False)
    assert meta["reused_from"] is None
    # Unchanged: the earlier copy is linked, not reread.
    id2 = store.new_id("manual")
    meta2 = store.write_transcript(id2, src)
    copy2 = store.states_dir / f"{id2}{TRANSCRIPT_SUFFIX}"
    assert meta2["reused_from"] == copy1.name
    assert os.stat(copy2).st_ino == os.stat(copy1).st_ino
    # Appended to: copied again.
    content = _transcript(src, 3, start=500)
    id3 = store.new_id("manual")
    meta3 = store.write_transcript(id3, src)
    assert meta3["reused_from"] is None
    assert gzip.decompress((store.states_dir / f"{id3}{TRANSCRIPT_SUFFIX}").read_bytes()) == content


def test_transcript_reuse_across_runs_reads_the_last_state(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "t.jsonl"
    _transcript(src, 50)
    id1 = store.new_id("manual")
    meta = store.write_transcript(id1, src)
    store.write_state({"schema": 1, "id": id1, "conversation": {"transcript": {"copy": meta}}})
    fresh = Store(store.state_dir, tmp_path / "my project!")  # a new guardrun run
    meta2 = fresh.write_transcript(fresh.new_id("manual"), src)
    assert meta2["reused_from"] == f"{id1}{TRANSCRIPT_SUFFIX}"


def test_transcript_above_limit_keeps_tail_from_a_line_boundary(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "t.jsonl"
    content = _transcript(src, 2000)
    limit = len(content) // 3
    sid = store.new_id("manual")
    meta = store.write_transcript(sid, src, tail_limit=limit)
    copied = gzip.decompress((store.states_dir / f"{sid}{TRANSCRIPT_SUFFIX}").read_bytes())
    assert meta["truncated"] is True
    assert len(copied) <= limit
    assert content.endswith(copied)
    assert content[len(content) - len(copied) - 1 : len(content) - len(copied)] == b"\n"
    assert json.loads(copied.split(b"\n", 1)[0])["type"] == "user"  # a whole first line
    assert meta["offset"] == len(content) - len(copied)


def test_prune_keep_age_and_newest_of_each_session(store: Store, tmp_path: Path) -> None:
    now = 1_700_000_000.0
    src = tmp_path / "t.jsonl"
    _transcript(src, 5)
    old_a = make_state(store, session="A", now=now - 30 * 86400)  # newest of A: protected
    old_b = make_state(store, session="B", now=now - 20 * 86400)
    b_states = [make_state(store, session="B", now=now - 3600 * i) for i in (5, 4, 3, 2, 1)]
    copied = store.write_transcript(b_states[0]["id"], src)
    assert copied["file"]
    orphan = store.states_dir / f"{store.new_id('manual', now - 7200)}{TRANSCRIPT_SUFFIX}"
    orphan.write_bytes(b"")
    dry = retention.prune(store, keep=3, max_age=7 * 86400, dry_run=True, now=now)
    assert all(p.exists() for p in dry)
    removed = retention.prune(store, keep=3, max_age=7 * 86400, now=now)
    assert removed == dry
    names = {p.name for p in removed}
    kept = {e.id for e in store.entries()}
    assert old_a["id"] in kept  # too old, but the newest of its session
    assert f"{old_b['id']}.json.gz" in names
    assert {s["id"] for s in b_states[2:]} <= kept
    assert f"{b_states[0]['id']}.json.gz" in names
    assert f"{b_states[0]['id']}{TRANSCRIPT_SUFFIX}" in names  # its copy went with it
    assert orphan.name in names
    assert len(kept) == 4
    assert retention.prune(store, keep=0, max_age=0, now=now) and {
        e.id for e in store.entries()
    } == {
        old_a["id"],
        b_states[-1]["id"],
    }


def test_clean_temp_removes_only_dead_writers_files(store: Store) -> None:
    make_state(store)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        mine = store.states_dir / f".tmp-{dead.stdout.strip()}-00ff-x.json.gz"
        theirs = store.states_dir / f".tmp-{live.pid}-00ff-y.json.gz"
        for p in (mine, theirs):
            p.write_bytes(b"partial")
        assert retention.clean_temp(store) == [str(mine)]
        assert theirs.exists() and not mine.exists()
        old = time.time() - 2 * 3600
        os.utime(theirs, (old, old))  # an hour-old temp file is debris, pid reused or not
        assert retention.clean_temp(store) == [str(theirs)]
    finally:
        live.kill()
        live.wait()


def test_store_error_when_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the store should be")
    store = Store(tmp_path / "state", tmp_path)
    with pytest.raises(StoreError, match=str(tmp_path / "state")):
        make_state(store)


def test_planted_fifo_and_deeply_nested_json_are_corrupt_without_hanging(store: Store) -> None:
    make_state(store)
    fifo = store.states_dir / "20990101T000000Z-manual-f1f0.json.gz"
    os.mkfifo(fifo)
    deep = store.states_dir / "20990101T000000Z-manual-dee9.json.gz"
    deep.write_bytes(gzip.compress(b"[" * 200_000 + b"]" * 200_000))
    entries = {e.id: e for e in store.entries()}
    assert "not a regular file" in (entries[fifo.name[:-8]].corrupt or "")
    assert entries[deep.name[:-8]].corrupt
    with pytest.raises(StateCorrupt):
        store.load(fifo.name[:-8])


def test_tampered_copy_name_in_a_state_is_not_followed(store: Store, tmp_path: Path) -> None:
    """A state naming ``../`` as its copy must not make the store link a file from elsewhere."""
    src = tmp_path / "t.jsonl"
    _transcript(src, 20)
    first = store.new_id("manual")
    meta = store.write_transcript(first, src)
    outside = tmp_path / f"{first}{TRANSCRIPT_SUFFIX}"
    outside.write_bytes(b"not ours")
    bad = {**meta, "file": f"../../../../{outside.name}"}
    store.write_state({"schema": 1, "id": first, "conversation": {"transcript": {"copy": bad}}})
    fresh = Store(store.state_dir, tmp_path / "my project!")
    second = fresh.new_id("manual")
    meta2 = fresh.write_transcript(second, src)
    assert meta2["reused_from"] is None  # copied afresh, not linked to the planted name
    data = gzip.decompress((store.states_dir / f"{second}{TRANSCRIPT_SUFFIX}").read_bytes())
    assert data == src.read_bytes()
