"""Run options come from the schema: one option per flagged key, with its default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrun.cli import run_parser
from guardrun.config.schema import KEYS
from guardrun.errors import UsageError
from guardrun.flags import flag_values

FLAGGED = [k for k in KEYS if k.flag]


def test_every_documented_run_option_is_a_key() -> None:
    flags = {k.flag for k in FLAGGED}
    assert flags == {
        "--warning", "--critical", "--emergency", "--metric", "--probe", "--interval",
        "--grace", "--max-restarts", "--window", "--cooldown", "--no-restart", "--no-resume",
        "--on-exhausted", "--agent", "--state-dir", "--priority",
    }  # fmt: skip


def test_help_shows_each_keys_default() -> None:
    text = " ".join(run_parser().format_help().split())
    for key in FLAGGED:
        assert key.flag in text
        if key.switch is None and not isinstance(key.default, list):
            assert f"(default {key.default})" in text, key.path


@pytest.mark.parametrize("key", FLAGGED, ids=lambda k: k.flag)
def test_each_option_sets_its_key(key: object) -> None:
    from guardrun.config.schema import Key

    assert isinstance(key, Key)
    if key.switch is not None:
        ns = run_parser().parse_args([key.flag, "--", "true"])
        assert flag_values(ns) == {key.path: (key.switch, key.flag)}
        return
    value = key.choices[-1] if key.choices and not key.metavar else str(key.default)
    ns = run_parser().parse_args([key.flag, value, "--", "true"])
    assert flag_values(ns) == {key.path: (value, key.flag)}


def test_no_flag_no_value() -> None:
    assert flag_values(run_parser().parse_args(["--", "true"])) == {}


def test_enum_choices_are_checked_by_the_parser() -> None:
    with pytest.raises(UsageError, match="--metric"):
        run_parser().parse_args(["--metric", "vsz", "--", "true"])


TOKENS = [
    "--warning", "--warning=5GB", "5GB", "--metric", "pss", "--metric=vsz", "--no-restart",
    "--no-restart=1", "-q", "-v", "-qv", "--quiet", "--log-file", "/tmp/x", "--config",
    "--no-config", "--cooldown", "-5", "--warn", "--", "claude", "--resume", "-h",
    "--version", "--agent", "codex", "--on-exhausted", "stop", "--state-dir=", "-",
]  # fmt: skip


@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_the_fast_path_reads_argv_as_argparse_does(argv: list[str]) -> None:
    from guardrun.flags import OWN_OPTIONS, fast_parse

    fast = fast_parse(argv, OWN_OPTIONS)
    if fast is None:
        return  # argparse's to decide
    assert vars(fast) == vars(run_parser().parse_args(argv))


def test_the_fast_path_takes_the_common_command_lines() -> None:
    from guardrun.flags import OWN_OPTIONS, fast_parse

    for argv in (
        ["--", "claude"],
        ["claude", "--resume", "x"],
        ["--critical", "12GB", "--no-pty", "-v", "--", "codex"],
        ["--metric=pss", "-q", "aider", "--model", "x"],
    ):
        fast = fast_parse(argv, OWN_OPTIONS)
        assert fast is not None and vars(fast) == vars(run_parser().parse_args(argv))
    for argv in (["-h"], ["--version"], ["--warn", "5GB", "x"], ["-qv", "x"], ["--metric", "x"]):
        assert fast_parse(argv, OWN_OPTIONS) is None
