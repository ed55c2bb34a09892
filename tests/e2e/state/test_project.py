"""Project facts from real git repositories made in tmp_path."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from guardrun.state.project import MAX_FILES, project_facts, project_root


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n")
    (root / "b c.txt").write_text("b\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "first")
    return root


def test_clean_repository(repo: Path) -> None:
    facts = project_facts(repo / ".")
    assert facts["root"] == str(repo)
    g = facts["git"]
    assert g["branch"] == "main" and g["detached"] is False
    assert g["head"] == git(repo, "rev-parse", "HEAD")
    assert g["dirty"] == [] and g["untracked"] == [] and g["dirty_count"] == 0
    assert g["ahead"] is None and g["behind"] is None and g["remote"] is None
    assert facts["git_error"] is None


def test_dirty_staged_renamed_untracked_from_a_subdirectory(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    git(repo, "mv", "b c.txt", "d e.txt")
    (repo / "sub").mkdir()
    (repo / "sub" / "new file.txt").write_text("n\n")
    (repo / "staged.txt").write_text("s\n")
    git(repo, "add", "staged.txt")
    facts = project_facts(repo / "sub")
    assert facts["root"] == str(repo)
    g = facts["git"]
    assert sorted(g["dirty"]) == [" M a.txt", "A  staged.txt", "R  d e.txt"]
    assert g["untracked"] == ["sub/"]
    assert project_root(repo / "sub") == str(repo)


def test_lists_are_capped_but_counts_are_not(repo: Path) -> None:
    for i in range(MAX_FILES + 30):
        (repo / f"u{i:03}.txt").write_text("x")
    g = project_facts(repo)["git"]
    assert len(g["untracked"]) == MAX_FILES
    assert g["untracked_count"] == MAX_FILES + 30


def test_ahead_behind_and_remote_of_the_upstream(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "remote", "add", "aaa-other", "https://example.com/other.git")
    (repo / "a.txt").write_text("upstream moved\n")
    git(repo, "commit", "-qam", "upstream")
    git(clone, "fetch", "-q")
    (clone / "mine.txt").write_text("m\n")
    git(clone, "add", "mine.txt")
    git(clone, "commit", "-qm", "local 1")
    git(clone, "commit", "-q", "--allow-empty", "-m", "local 2")
    g = project_facts(clone)["git"]
    assert (g["ahead"], g["behind"]) == (2, 1)
    assert g["remote"] == str(repo)  # origin, the upstream's remote, not the first listed


def test_detached_head_and_repository_without_commits(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    g = project_facts(repo)["git"]
    assert g["detached"] is True and g["branch"] is None and g["head"]
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "trunk")
    g = project_facts(empty)["git"]
    assert g["branch"] == "trunk" and g["head"] is None


def test_outside_a_repository_git_is_none_not_an_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    facts = project_facts(plain)
    assert facts == {"root": str(plain), "git": None, "git_error": None}
    assert project_root(plain) == str(plain)


def test_without_git_installed(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin-here"))
    facts = project_facts(repo)
    assert facts["git"] is None
    assert facts["git_error"] and facts["git_error"].startswith("git:")
    assert project_root(repo) == str(repo)


def test_a_hanging_git_is_cut_at_the_timeout(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in ``git`` that hangs, as git does on a stuck network filesystem."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "git"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    t0 = time.monotonic()
    facts = project_facts(repo, timeout=0.3)
    assert time.monotonic() - t0 < 2.0
    assert facts["git"] is None and "timed out" in (facts["git_error"] or "")
