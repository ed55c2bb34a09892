"""tools/mutation_check.py's own mechanics, quickly: a snippet applies exactly once or
says why not, pytest's answer becomes CAUGHT / SURVIVED / BROKEN, and a whole round
(copy, mutate, run the covering test) on a two-file project of its own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import mutation_check as mc  # noqa: E402

MOD = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
TEST = "from mod import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def mutation(old: str, new: str, *tests: str, file: str = "mod.py") -> mc.Mutation:
    return mc.Mutation("m", file, old, new, tests or ("tests/test_mod.py",))


def test_a_snippet_is_replaced_once() -> None:
    assert mc.mutate(MOD, mutation("a + b", "a - b")) == MOD.replace("a + b", "a - b")


def test_a_snippet_that_moved_or_is_ambiguous_is_not_applied() -> None:
    with pytest.raises(mc.NotApplied, match=r"^snippet not found in mod.py$"):
        mc.mutate(MOD, mutation("a * b", "a / b"))
    with pytest.raises(mc.NotApplied, match=r"^snippet found 2 times in mod.py: make it longer$"):
        mc.mutate(MOD, mutation("    return a", "    return 0"))


def test_a_missing_file_is_not_applied(tmp_path: Path) -> None:
    with pytest.raises(mc.NotApplied, match=r"^file gone.py not found$"):
        mc.apply(tmp_path, mutation("a", "b", file="gone.py"))


def test_pytests_answer() -> None:
    out = "FAILED tests/t.py::test_x[a b-c] - AssertionError: no\nFAILED tests/t.py::test_y\n"
    assert mc.verdict(1, out) == ("CAUGHT", "by tests/t.py::test_x[a b-c]")
    assert mc.verdict(0, "...\n===== 3 passed, 1 skipped in 1.0s =====") == (
        "SURVIVED", "3 passed, 1 skipped",
    )  # fmt: skip
    assert mc.verdict(5, "no tests ran")[0] == "BROKEN"
    assert mc.verdict(4, "x\nE   ImportError: cannot import name 'y'\n") == (
        "BROKEN", "pytest exit 4: E   ImportError: cannot import name 'y'",
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "mod.py").write_text(MOD)
    (root / "tests" / "test_mod.py").write_text(TEST)
    return root


FILES = ["mod.py", "tests/test_mod.py"]


def test_a_round_in_a_copy(project: Path) -> None:
    caught = mc.run_one(mutation("a + b", "a - b"), FILES, 60, root=project)
    assert (caught.verdict, caught.detail) == ("CAUGHT", "by tests/test_mod.py::test_add")
    survived = mc.run_one(mutation("a - b", "a + b"), FILES, 60, root=project)  # sub: untested
    assert survived.verdict == "SURVIVED" and survived.detail == "1 passed"
    moved = mc.run_one(mutation("a * b", "a"), FILES, 60, root=project)
    assert (moved.verdict, moved.detail) == ("NOT APPLIED", "snippet not found in mod.py")
    no_test = mc.run_one(mutation("a + b", "a", "tests/test_gone.py"), FILES, 60, root=project)
    assert (no_test.verdict, no_test.detail) == ("BROKEN", "no test file tests/test_gone.py")
    assert (project / "mod.py").read_text() == MOD  # the original is never touched


def test_the_list_names_each_mutation_once_and_the_cli_refuses_no_match(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = [m.name for m in mc.MUTATIONS]
    assert len(names) == len(set(names))
    assert all(m.tests and all(t.startswith("tests/") for t in m.tests) for m in mc.MUTATIONS)
    assert mc.main(["-k", "no such mutation"]) == 2
    assert mc.main(["--list", "-k", "lease"]) == 0
    assert "guardrun/fleet/lease.py" in capsys.readouterr().out


def test_the_baseline_is_the_tests_on_the_tree_as_it_is(project: Path) -> None:
    base = mc.run_one(mc.Mutation("baseline", "", "", "", ("tests",)), FILES, 60, root=project)
    assert (base.verdict, base.detail) == ("SURVIVED", "1 passed")


def test_what_a_mutation_left_running_is_killed(tmp_path: Path) -> None:
    """A mutation that breaks the tree stop leaves its daemon behind: every process whose
    command line names the copy is ended with it, and no other."""
    import subprocess

    wait = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = subprocess.Popen([*wait, str(tmp_path / "copy" / "tests" / "x.py")])
    other = subprocess.Popen(wait)
    try:
        assert mc.kill_started_from(str(tmp_path)) == [ours.pid]
        assert ours.wait(5) == -9 and other.poll() is None
    finally:
        for p in (ours, other):
            p.kill()
            p.wait()
