"""Arbitrary files, variables and flags: a valid Config or one ConfigError line, nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrun.config.load import Config, load_config
from guardrun.config.schema import KEYS, SECTIONS
from guardrun.errors import ConfigError

LEAVES = sorted({k.path.rpartition(".")[2] for k in KEYS})
NAMES = st.sampled_from([*LEAVES, *SECTIONS, "zz", "<<"]) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(
        [
            "50%",
            "12GB",
            "1.5G",
            "0",
            "-1",
            "2s",
            "500ms",
            "auto",
            "yes",
            "[a, b]",
            "claude --x",
            "~/x",
            "(",
            "inf",
            ".nan",
            "0%",
            "100%",
            "1e3",
        ]
    )
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=12,
)
SECTION_DOCS = st.dictionaries(
    st.sampled_from([*SECTIONS, "command", "agent"]),
    st.dictionaries(st.sampled_from(LEAVES), VALUES, max_size=5) | VALUES,
    max_size=5,
)
YAML_FRAGMENTS = st.lists(
    st.sampled_from(
        [
            "memory:",
            "  critical: ",
            "\n",
            " ",
            "[",
            "]",
            "{",
            "}",
            "&a ",
            "*a",
            "!!int ",
            "!!binary x",
            "<<: ",
            "---",
            "- ",
            ": ",
            "'",
            '"',
            "#",
            "\t",
            "?",
            "%YAML 1.1",
            "!!timestamp 2020-99",
            "!!python/object:os.system",
            "\x01",
            "é",
        ]
    )
    | st.text(max_size=6),
    max_size=30,
).map("".join)
DOCUMENTS = (
    SECTION_DOCS.map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    | VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True))
    | YAML_FRAGMENTS
)
ENV = st.dictionaries(
    st.sampled_from([k.env for k in KEYS] + ["GUARDRUN_MEMORY", "GUARDRUN_X", "GUARDRUN_MEMORY_Z"]),
    st.text(max_size=12) | st.sampled_from(["[a, [b]]", "70%", "3", "[", "'", "true", "9" * 400]),
    max_size=4,
)
FLAGS = st.dictionaries(
    st.sampled_from([k.path for k in KEYS]),
    st.tuples(VALUES, st.just("--flag")),
    max_size=3,
)


def _check(text: str, env: dict[str, str], flags: dict[str, tuple[object, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".guardrun.yaml").write_text(text, encoding="utf-8")
        try:
            cfg = load_config(cwd=root, env=env, flags=flags, user_config_dir=root / "u")
        except ConfigError as err:
            message = str(err)
            assert message and "\n" not in message and "Traceback" not in message
        else:
            assert isinstance(cfg, Config)
            assert cfg.memory.interval > 0 and cfg.restart.cooldown <= cfg.restart.max_cooldown


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS, ENV)
def test_arbitrary_files_and_env(text: str, env: dict[str, str]) -> None:
    _check(text, env, {})


@settings(max_examples=80, deadline=None)
@given(SECTION_DOCS, FLAGS)
def test_arbitrary_flags(doc: dict[str, object], flags: dict[str, tuple[object, str]]) -> None:
    _check(yaml.safe_dump(doc, allow_unicode=True), {}, flags)
