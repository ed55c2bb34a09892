"""The command line end to end: usage errors, --version, --help, command forms."""

from __future__ import annotations

import subprocess

import pytest
from support import guardrun

from guardrun import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(guardrun(*args), capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "args,flag",
    [
        (["--critical", "lots"], "--critical"),
        (["--warning", "12XB"], "--warning"),
        (["--emergency", "150%"], "--emergency"),
        (["--interval", "soon"], "--interval"),
        (["--interval", "0s"], "--interval"),
        (["--grace", "-1s"], "--grace"),
        (["--max-restarts", "three"], "--max-restarts"),
        (["--window", "1y"], "--window"),
        (["--cooldown", "fast"], "--cooldown"),
        (["--metric", "vss"], "--metric"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_flag(args: list[str], flag: str) -> None:
    r = run(*args, "--", "true")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert flag in lines[0]
    assert lines[0].startswith("guardrun:")
    assert "Traceback" not in r.stderr


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"guardrun {__version__}"


def test_help_has_examples() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "guardrun -- claude" in r.stdout
    assert "--critical" in r.stdout and "exit codes" in r.stdout


def test_command_without_double_dash_keeps_its_own_flags() -> None:
    r = run("--no-pty", "python3", "-c", "import sys; print(sys.argv[1:])", "--critical", "x")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['--critical', 'x']"


def test_double_dash_runs_a_command_named_like_a_subcommand(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run("--no-pty", "--", "python3", "-c", "print('ran')")
    assert r.returncode == 0 and r.stdout.strip() == "ran"


def test_unknown_option_is_a_usage_error() -> None:
    r = run("--bogus", "--", "true")
    assert r.returncode == 2
    assert "--bogus" in r.stderr


def test_quiet_prints_nothing_on_success() -> None:
    r = run("-q", "--no-pty", "--", "true")
    assert r.returncode == 0
    assert r.stderr == ""


def test_log_file_unwritable_names_the_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "no" / "such" / "dir" / "log"
    r = run("--log-file", str(bad), "--no-pty", "--", "true")
    assert r.returncode == 2
    assert str(bad) in r.stderr and "--log-file" in r.stderr
