"""``guardrun state ...`` on a real store in a temporary directory."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO

from guardrun.commands.state import add_state_parser, run_state
from guardrun.errors import CommandNotFound, StateCorrupt, StateNotFound, UsageError
from guardrun.state.store import Store

SESSION = "5c0375b4-57a5-4f26-b12d-d022ee4e51b7"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="guardrun")
    add_state_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["state", *argv])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    return root


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # rich would otherwise squeeze the table to 80


def save(state_dir: Path, root: Path, now: float | None = None, **over: Any) -> dict[str, Any]:
    store = Store(state_dir, root)
    state: dict[str, Any] = {
        "schema": 1,
        "id": store.new_id("critical", now),
        "created_at": "2024-01-01T00:00:00.000+00:00",
        "reason": "critical",
        "memory": {"metric": "rss", "tree_bytes": 1_234_567_890, "level": "critical", "top": []},
        "process": {"argv": ["claude"], "cwd": str(root), "env": {}},
        "conversation": {"agent": "claude", "session_id": SESSION, "last_messages": []},
        "restart": {"attempt": 1, "resume_argv": ["claude", "--resume", SESSION]},
        "errors": [],
    }
    state.update(over)
    store.write_state(state)
    return state


def run(argv: list[str], state_dir: Path, cwd: Path) -> int:
    return run_state(parse(*argv), state_dir, cwd)


def test_list_empty_table_json_and_all(
    state_dir: Path, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["list"], state_dir, project) == 0
    assert "no saved states" in capsys.readouterr().out
    a = save(state_dir, project, now=1_700_000_000.0)
    b = save(state_dir, project)
    store = Store(state_dir, project)
    (store.states_dir / "20240101T000000Z-memory-beef.json.gz").write_bytes(b"\x1f\x8b broken")
    other = tmp_path / "other"
    other.mkdir()
    c = save(state_dir, other)
    assert run(["list"], state_dir, project) == 0
    out = capsys.readouterr().out
    assert a["id"] in out and b["id"] in out and c["id"] not in out
    assert "20240101T000000Z-memory-beef" in out and "corrupt" in out
    assert "1.2 GB" in out and SESSION in out and "claude" in out
    assert out.index(b["id"]) < out.index(a["id"])  # newest first
    assert run(["list", "--json", "--all"], state_dir, project) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["id"] for r in rows} == {a["id"], b["id"], c["id"], "20240101T000000Z-memory-beef"}
    assert {r["project"] for r in rows} == {store.project, Store(state_dir, other).project}
    assert [r["corrupt"] is not None for r in rows].count(True) == 1


def test_show_json_raw_and_human(
    state_dir: Path, project: Path, capsys: pytest.CaptureFixture[bytes]
) -> None:
    s = save(state_dir, project)
    assert run(["show", "latest", "--json"], state_dir, project) == 0
    assert json.loads(capsys.readouterr().out) == s
    assert run(["show", s["id"][:22], "--raw"], state_dir, project) == 0
    raw = capsys.readouterr().out
    path = Store(state_dir, project).resolve(s["id"])
    assert raw == gzip.decompress(path.read_bytes()).decode()
    assert run(["show", s["id"]], state_dir, project) == 0
    human = capsys.readouterr().out
    assert s["id"] in human and f"claude --resume {SESSION}" in human and "1.2 GB" in human


def test_show_corrupt_and_missing(state_dir: Path, project: Path) -> None:
    store = Store(state_dir, project)
    save(state_dir, project, now=1_600_000_000.0)
    (store.states_dir / "20990101T000000Z-manual-0000.json.gz").write_bytes(b"")
    with pytest.raises(StateCorrupt):
        run(["show", "latest"], state_dir, project)
    with pytest.raises(StateNotFound):
        run(["show", "1999"], state_dir, project)


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/shadow", "..", "a.b", "x/y"])
@pytest.mark.parametrize("command", ["show", "resume", "path"])
def test_hostile_ids_refused_before_touching_paths(
    state_dir: Path, project: Path, ref: str, command: str
) -> None:
    with pytest.raises(UsageError):
        run([command, ref], state_dir, project)
    assert not state_dir.exists()


def test_path(state_dir: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = save(state_dir, project)
    store = Store(state_dir, project)
    assert run(["path"], state_dir, project) == 0
    assert capsys.readouterr().out.strip() == str(store.states_dir)
    assert run(["path", "latest"], state_dir, project) == 0
    assert capsys.readouterr().out.strip() == str(store.states_dir / f"{s['id']}.json.gz")


def test_prune(state_dir: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = save(state_dir, project, now=1_600_000_000.0)
    new = save(state_dir, project)  # the same session: the old state is not its newest
    assert run(["prune", "--dry-run"], state_dir, project) == 0
    assert f"would remove {Store(state_dir, project).resolve(old['id'])}" in (
        capsys.readouterr().out
    )  # fmt: skip
    assert run(["prune", "--keep", "0", "--older-than", "1d"], state_dir, project) == 0
    assert "removed 1 state(s)" in capsys.readouterr().out
    ids = [e.id for e in Store(state_dir, project).entries()]
    assert ids == [new["id"]]  # the newest of its session survives --keep 0
    with pytest.raises(UsageError):
        run(["prune", "--older-than", "soon"], state_dir, project)
    with pytest.raises(UsageError):
        run(["prune", "--keep", "-1"], state_dir, project)


def test_resume_print_and_fallback(
    state_dir: Path, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save(state_dir, project)
    assert run(["resume", "--print"], state_dir, project) == 0
    assert capsys.readouterr().out.strip() == f"cd {project} && claude --resume {SESSION}"
    save(state_dir, project, restart={"attempt": 0, "resume_argv": None},
         process={"argv": ["my tool", "-x"], "cwd": str(project)})  # fmt: skip
    assert run(["resume", "latest", "--print"], state_dir, project) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"cd {project} && 'my tool' -x"
    assert "no session was saved" in out.err


def test_resume_execs_in_the_saved_directory(state_dir: Path, project: Path) -> None:
    saved_cwd = project / "sub dir"
    saved_cwd.mkdir()
    argv = [sys.executable, "-c", "import os, sys; print('RESUMED', os.getcwd(), sys.argv[1:])"]
    save(state_dir, project, restart={"attempt": 1, "resume_argv": [*argv, "--resume", "s"]},
         process={"argv": ["x"], "cwd": str(saved_cwd)})  # fmt: skip
    code = (
        "import argparse, sys\nfrom pathlib import Path\n"
        "from guardrun.commands.state import add_state_parser, run_state\n"
        "p = argparse.ArgumentParser(); add_state_parser(p.add_subparsers())\n"
        "args = p.parse_args(['state', 'resume'])\n"
        "sys.exit(run_state(args, Path(sys.argv[1]), Path(sys.argv[2])))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, str(state_dir), str(project)],
                          capture_output=True, text=True, timeout=30, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"RESUMED {saved_cwd} ['--resume', 's']"


def test_resume_missing_command_is_command_not_found(
    state_dir: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)  # resume changes directory before exec; restored after
    save(state_dir, project, restart={"attempt": 1, "resume_argv": ["no-such-agent-xyz"]})
    with pytest.raises(CommandNotFound):
        run(["resume"], state_dir, project)


def _plant_old_states(state_dir: Path, project: Path) -> tuple[Store, list[Path], list[Path]]:
    """Three old states with transcript copies (one session: none is protected but the
    newest), and, named like states and copies, two directories and a file whose name
    holds no valid time."""
    store = Store(state_dir, project)
    old = [save(state_dir, project, now=1_600_000_000.0 + i * 60) for i in range(3)]
    for s in old:
        (store.states_dir / f"{s['id']}.transcript.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    planted = [
        store.states_dir / "20200101T000000Z-manual-dddd.json.gz",
        store.states_dir / "20200101T000000Z-manual-eeee.transcript.jsonl.gz",
    ]
    for d in planted:
        d.mkdir()
        (d / "inside").write_text("not guardrun's")
    bad_time = store.states_dir / "20200101T250000Z-manual-ffff.json.gz"
    bad_time.write_bytes(gzip.compress(b"{}"))
    planted.append(bad_time)
    files = [store.states_dir / f"{s['id']}{suffix}" for s in old[:2]
             for suffix in (".json.gz", ".transcript.jsonl.gz")]  # fmt: skip
    return store, files, planted


def _cli(state_dir: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guardrun", *args], cwd=cwd, capture_output=True, text=True,
        timeout=30, env={**os.environ, "GUARDRUN_STATE_DIR": str(state_dir), **env},
    )  # fmt: skip


def test_prune_skips_a_directory_named_like_a_state(state_dir: Path, project: Path) -> None:
    """It used to exit 70 (IsADirectoryError) after deleting part of the files, and
    --dry-run listed each doomed transcript twice (as the state's and as an orphan)."""
    store, doomed, planted = _plant_old_states(state_dir, project)
    r = _cli(state_dir, project, "state", "prune", "--keep", "1", "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    listed = [line.split(" ", 2)[2] for line in lines if line.startswith("would remove /")]
    assert sorted(listed) == sorted(map(str, doomed))  # each once, nothing planted
    assert r.stdout.splitlines()[-1] == "would remove 2 state(s), 2 transcript copies"
    assert all(p.exists() for p in doomed)
    r = _cli(state_dir, project, "state", "prune", "--keep", "1")
    assert r.returncode == 0, r.stderr
    assert not any(p.exists() for p in doomed)
    assert all(p.exists() for p in planted) and (planted[0] / "inside").exists()
    warnings = r.stderr.splitlines()
    assert f"guardrun: warning: skipping {planted[0]}: a directory, not a state file" in warnings
    assert f"guardrun: warning: skipping {planted[1]}: a directory, not a transcript copy" in (
        warnings
    )
    assert f"guardrun: warning: skipping {planted[2]}: its name holds no valid time" in warnings
    assert len(store.entries()) == 1
    r = _cli(state_dir, project, "state", "list")
    assert r.returncode == 0 and "skipping" in r.stderr, r.stderr


def test_automatic_pruning_goes_past_a_directory_in_the_store(
    state_dir: Path, project: Path
) -> None:
    """A run that saves a state prunes the store (state.keep 1 here): the directory is
    skipped with a warning and the old states still go."""
    store, doomed, planted = _plant_old_states(state_dir, project)
    code = "import os, signal, time; os.kill(os.getppid(), signal.SIGUSR2); time.sleep(1.5)"
    r = _cli(state_dir, project, "--no-pty", "--", sys.executable, "-c", code,
             GUARDRUN_STATE_KEEP="1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "skipping" in r.stderr and "a directory, not a state file" in r.stderr
    assert not any(p.exists() for p in doomed)
    assert all(p.exists() for p in planted)
    # Kept: the run's new state, and the newest of the old session (never pruned).
    kept = sorted(e.id.split("-")[1] for e in store.entries())
    assert kept == ["critical", "manual"]


@pytest.mark.parametrize("columns", ["80", "60", "40"])
def test_list_never_cuts_an_id(
    state_dir: Path, project: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], columns: str,
) -> None:  # fmt: skip
    """The unique suffix is what tells two states of one second apart: other columns give
    way (rich squeezed the id to "20200103T000000Z-…" at 80 columns)."""
    monkeypatch.setenv("COLUMNS", columns)
    saved = [save(state_dir, project, now=1_600_000_000.0 + i) for i in range(3)]
    store = Store(state_dir, project)
    (store.states_dir / "20240101T000000Z-memory-beef.json.gz").write_bytes(b"\x1f\x8b broken")
    assert run(["list"], state_dir, project) == 0
    out = capsys.readouterr().out
    for s in saved:
        assert s["id"] in out, out
    assert "20240101T000000Z-memory-beef" in out
    assert max(len(line) for line in out.splitlines()) <= int(columns)
    assert run(["list", "--all"], state_dir, project) == 0
    out = capsys.readouterr().out
    assert all(s["id"] in out for s in saved), out
