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


@pytest.mark.parametrize("how", ["run", "check"])
@pytest.mark.parametrize("pattern", ["a|", r"\b", "(?=sk-)"])
def test_an_empty_matching_redact_pattern_is_refused(
    tmp_path: Path, how: str, pattern: str
) -> None:
    """Accepted, such a pattern used to turn every custom pattern off (the redactor fell
    back to the built-in rules): refused at load and by ``config check`` alike."""
    (tmp_path / ".guardrun.yaml").write_text(f"state:\n  redact: ['ACME-[0-9]+', '{pattern}']\n")
    args = ("--no-pty", "--", "echo", "hi") if how == "run" else ("config", "check")
    r = run(tmp_path, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "hi" not in r.stdout
    assert r.stderr.strip().splitlines() == [
        f"guardrun: .guardrun.yaml:2: state.redact: item 2: {pattern!r} can match the empty "
        "string: a pattern must match at least one character"
    ]


@pytest.mark.parametrize("how", ["run", "check"])
@pytest.mark.parametrize(
    "text",
    [
        "memory:\n  critical: {v}\n",
        "restart:\n  grace: {v}\n",
        "state:\n  redact: ['({v}']\n",
        "agent: {v}\n",
    ],
)
def test_a_huge_bad_value_is_named_not_echoed(tmp_path: Path, how: str, text: str) -> None:
    big = "x" * 1_000_000
    (tmp_path / ".guardrun.yaml").write_text(text.format(v=big))
    args = ("--no-pty", "--", "echo", "hi") if how == "run" else ("config", "check")
    r = run(tmp_path, *args)
    assert r.returncode == 2, r.stderr[:300]
    assert len(r.stderr) < 400, r.stderr[:300]
    assert "x" * 61 not in r.stderr
    assert "… (100000" in r.stderr and "characters)" in r.stderr


def test_a_huge_bad_flag_or_variable_is_named_not_echoed(tmp_path: Path) -> None:
    big = "9" * 100_000 + "parsecs"
    for args, env in (
        (("--interval", big, "--", "echo", "hi"), {}),
        (("--no-pty", "--", "echo", "hi"), {"GUARDRUN_MEMORY_WARNING": big}),
        (("--bogus" + big, "--", "echo", "hi"), {}),
    ):
        r = subprocess.run(
            guardrun(*args), cwd=tmp_path, capture_output=True, text=True, timeout=20,
            stdin=subprocess.DEVNULL, env={**os.environ, **env},
        )  # fmt: skip
        assert r.returncode == 2, r.stderr[:300]
        assert len(r.stderr) < 400 and "characters)" in r.stderr, r.stderr[:300]
