"""Every kind of configuration mistake gives one exact line: file:line: key: what."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrun.config.load import load_config
from guardrun.errors import ConfigError

SIZES = "(examples: 800MB, 12GiB, 1.5G, 70%)"

FILE_CASES = [
    (
        "memory:\n  warning: 40%\n  critcal: 70%\n",
        ".guardrun.yaml:3: memory.critcal: unknown key (did you mean memory.critical?)",
    ),
    (
        "restart:\n  max_attemps: 2\n",
        ".guardrun.yaml:2: restart.max_attemps: unknown key (did you mean restart.max_attempts?)",
    ),
    ("memroy:\n  critical: 70%\n", ".guardrun.yaml:1: memroy: unknown key (did you mean memory?)"),
    ("critical: 70%\n", ".guardrun.yaml:1: critical: unknown key (did you mean memory.critical?)"),
    ("zzz: 1\n", ".guardrun.yaml:1: zzz: unknown key"),
    (
        "agent: claude\nmemory:\n  warning: 40%\n  critical: lots\n",
        f".guardrun.yaml:4: memory.critical: 'lots' is not a size or a percentage {SIZES}",
    ),
    (
        "memory:\n  critical: 170%\n",
        ".guardrun.yaml:2: memory.critical: '170%' is not a percentage between 0 and 100",
    ),
    (
        "memory:\n  critical:\n",
        f".guardrun.yaml:2: memory.critical: expected a size or percentage {SIZES}, got nothing",
    ),
    (
        "memory: {interval: 5 parsecs}\n",
        ".guardrun.yaml:1: memory.interval: '5 parsecs' is not a duration "
        "(examples: 250ms, 2s, 5m, 1h, 7d)",
    ),
    (
        "memory: {interval: 0s}\n",
        ".guardrun.yaml:1: memory.interval: must be at least 50ms, got '0s'",
    ),
    (
        "memory: {metric: vss}\n",
        ".guardrun.yaml:1: memory.metric: expected one of footprint, rss, pss, uss, got 'vss'",
    ),
    (
        "restart: {max_attempts: many}\n",
        ".guardrun.yaml:1: restart.max_attempts: expected an integer, got 'many'",
    ),
    (
        "restart: {max_attempts: 2.5}\n",
        ".guardrun.yaml:1: restart.max_attempts: expected an integer, got 2.5",
    ),
    (
        "restart: {enabled: maybe}\n",
        ".guardrun.yaml:1: restart.enabled: expected true or false, got 'maybe'",
    ),
    (
        "hooks:\n  on_exit: [echo, {a: 1}]\n",
        ".guardrun.yaml:2: hooks.on_exit: item 2: expected a string, got a mapping",
    ),
    (
        "command: []\n",
        ".guardrun.yaml:1: command: expected a command such as [claude], got an empty list",
    ),
    (
        "state: {redact: ['(x']}\n",
        ".guardrun.yaml:1: state.redact: item 1: '(x' is not a regular expression: "
        "missing ), unterminated subpattern at position 0",
    ),
    *(
        (
            f"state:\n  redact: ['ACME-[0-9]+', '{pattern}']\n",
            f".guardrun.yaml:2: state.redact: item 2: {pattern!r} can match the empty string: "
            "a pattern must match at least one character",
        )
        for pattern in ("x*", "a|", "^", r"\b", "(?=token)", "(?i)(secret)?", "x{0,3}")
    ),
    (
        "memory:\n  warning: " + "x" * 900_000 + "\n",
        ".guardrun.yaml:2: memory.warning: '" + "x" * 59 + "… (900000 characters) is not a "
        f"size or a percentage {SIZES}",
    ),
    (
        "memory:\n  sustained: " + "7" * 5 + "x" * 500_000 + "\n",
        ".guardrun.yaml:2: memory.sustained: expected an integer, got '77777"
        + "x" * 54
        + "… (500005 characters)",
    ),
    (
        "state:\n  redact: ['" + "(" * 400_000 + "']\n",
        ".guardrun.yaml:2: state.redact: item 1: '" + "(" * 59 + "… (400000 characters) is not "
        "a regular expression: nested too deeply",
    ),
    (
        "memory:\n  warning: 50%\n  critical: [65%\n",
        ".guardrun.yaml:4: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence on line 3)",
    ),
    (
        "memory:\n  warning: 50%\n   critical: 65%\n",
        ".guardrun.yaml:3: YAML syntax error: mapping values are not allowed in this context",
    ),
    (
        "agent: claude\n---\nagent: codex\n",
        ".guardrun.yaml:2: YAML syntax error: but found another document "
        "(expected a single document in the stream on line 1)",
    ),
    (
        "agent: claude\x01\n",
        ".guardrun.yaml:1: YAML error: character #x0001: control characters are not allowed",
    ),
    (
        "- memory\n",
        ".guardrun.yaml:1: the top level must be a mapping of keys such as 'memory:', got a list",
    ),
    (
        "just text\n",
        ".guardrun.yaml:1: the top level must be a mapping of keys such as "
        "'memory:', got 'just text'",
    ),
    (
        "restart: yes\n",
        ".guardrun.yaml:1: restart: expected a mapping of restart.* keys, got 'yes'",
    ),
    ("memory:\n  warning: 40%\n  warning: 45%\n", ".guardrun.yaml:3: memory.warning: repeated key"),
    ("? [a]\n: 1\n", ".guardrun.yaml:1: keys must be plain names, got a list"),
    (
        "memory: {critical: !foo 70%}\n",
        ".guardrun.yaml:1: memory.critical: could not determine a constructor for the tag '!foo'",
    ),
    (
        "memory:\n  warning: 70%\n",
        ".guardrun.yaml:2: memory.warning: 70% must be below memory.critical (65%, the default)",
    ),
    (
        "memory:\n  warning: 50%\n  critical: 40%\n",
        ".guardrun.yaml:3: memory.critical: 40% must be above memory.warning "
        "(50%, from .guardrun.yaml:2)",
    ),
    (
        "memory:\n  critical: 8GB\n  emergency: 8GB\n",
        ".guardrun.yaml:3: memory.emergency: 8GB must be above memory.critical "
        "(8GB, from .guardrun.yaml:2)",
    ),
    (
        "gpu: {warning: 95%}\n",
        ".guardrun.yaml:1: gpu.warning: 95% must be below gpu.critical (90%, the default)",
    ),
    (
        "restart:\n  cooldown: 10m\n",
        ".guardrun.yaml:2: restart.cooldown: 10m must be at most restart.max_cooldown "
        "(5m, the default)",
    ),
]


def _load(cwd: Path, **kw: object) -> object:
    kw.setdefault("env", {})
    kw.setdefault("flags", {})
    return load_config(cwd=cwd, user_config_dir=cwd / "no-user", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), FILE_CASES, ids=[m[1][16:60] for m in FILE_CASES])
def test_file_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".guardrun.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        _load(tmp_path)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_user_file_error_names_the_user_file(tmp_path: Path) -> None:
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "config.yaml").write_text("notify:\n  bel: false\n")
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, env={}, flags={}, user_config_dir=tmp_path / "u")
    assert str(info.value) == "u/config.yaml:2: notify.bel: unknown key (did you mean notify.bell?)"


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / ".guardrun.yaml").write_bytes(b"agent: \xff\n")
    with pytest.raises(
        ConfigError,
        match=r"^\.guardrun\.yaml: not UTF-8 text \(bad byte at "
        r"offset 7\)$",
    ):
        _load(tmp_path)
    (tmp_path / ".guardrun.yaml").unlink()
    (tmp_path / ".guardrun.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"^\.guardrun\.yaml: is a directory, not a config"):
        _load(tmp_path)
    with pytest.raises(ConfigError, match=r"^missing\.yaml: no such file$"):
        _load(tmp_path, config_path=Path("missing.yaml"))


ENV_CASES = [
    (
        {"GUARDRUN_MEMORY_CRITICAL": "lots"},
        f"GUARDRUN_MEMORY_CRITICAL: 'lots' is not a size or a percentage {SIZES}",
    ),
    (
        {"GUARDRUN_MEMROY_CRITICAL": "1"},
        "GUARDRUN_MEMROY_CRITICAL: not a guardrun setting (did you mean GUARDRUN_MEMORY_CRITICAL?)",
    ),
    (
        {"GUARDRUN_RESTART_MAX_ATTEMPT": "1"},
        "GUARDRUN_RESTART_MAX_ATTEMPT: not a guardrun setting "
        "(did you mean GUARDRUN_RESTART_MAX_ATTEMPTS?)",
    ),
    (
        {"GUARDRUN_AGENTS_CODEX_NODAEMON": "x"},
        "GUARDRUN_AGENTS_CODEX_NODAEMON: not a guardrun setting "
        "(did you mean GUARDRUN_AGENTS_CODEX_NO_DAEMON?)",
    ),
    (
        {"GUARDRUN_AGENTS": "x"},
        "GUARDRUN_AGENTS: not a guardrun setting (a section: set one key, e.g. "
        "GUARDRUN_AGENTS_CODEX_NO_DAEMON)",
    ),
    (
        {"GUARDRUN_MEMORY": "1"},
        "GUARDRUN_MEMORY: not a guardrun setting (a section: set one key, e.g. "
        "GUARDRUN_MEMORY_METRIC)",
    ),
    ({"GUARDRUN_COMMAND": "[a, [b]]"}, "GUARDRUN_COMMAND: item 2: expected a string, got a list"),
    (
        {"GUARDRUN_COMMAND": "a 'b"},
        'GUARDRUN_COMMAND: cannot split "a \'b" into words: No closing quotation',
    ),
    (
        {"GUARDRUN_RESTART_MAX_ATTEMPTS": "-1"},
        "GUARDRUN_RESTART_MAX_ATTEMPTS: must be at least 0, got '-1'",
    ),
    (
        {"GUARDRUN_MEMORY_WARNING": "70%"},
        "GUARDRUN_MEMORY_WARNING: 70% must be below memory.critical (65%, the default)",
    ),
]


@pytest.mark.parametrize(("env", "message"), ENV_CASES, ids=[m[1][:40] for m in ENV_CASES])
def test_env_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, env=env)
    assert str(info.value) == message


def test_flag_errors_name_the_flag_and_blame_the_higher_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, flags={"memory.critical": ("lots", "--critical")})
    assert str(info.value) == f"--critical: 'lots' is not a size or a percentage {SIZES}"
    (tmp_path / ".guardrun.yaml").write_text("memory:\n  emergency: 60%\n")
    with pytest.raises(ConfigError) as info:
        _load(
            tmp_path,
            env={"GUARDRUN_MEMORY_WARNING": "40%"},
            flags={"memory.critical": ("70%", "--critical")},
        )
    assert str(info.value) == (
        "--critical: 70% must be below memory.emergency (60%, from .guardrun.yaml:2)"
    )
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, flags={"memory.nope": ("1", "--nope")})
    assert str(info.value) == "--nope: 'memory.nope' is not a configuration key"


def test_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    """Aliases are shared, not copied: a 'billion laughs' file costs nothing to reject."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp_path / ".guardrun.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"^\.guardrun\.yaml:1: a0: unknown key$"):
        _load(tmp_path)
    items = ["&a0 [x, x, x, x, x, x, x, x, x, x]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp_path / ".guardrun.yaml").write_text("command: [" + ", ".join(items) + "]\n")
    with pytest.raises(ConfigError) as info:
        _load(tmp_path)
    assert str(info.value) == ".guardrun.yaml:1: command: item 1: expected a string, got a list"
