"""Layering of defaults, user file, project file, GUARDRUN_* variables and flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from guardrun.commands.config import render_yaml
from guardrun.config import trust
from guardrun.config.load import (
    NON_CONFIG_ENV,
    Config,
    default_config,
    load_config,
)
from guardrun.config.schema import BY_ENV, BY_PATH, KEYS
from guardrun.errors import ConfigError
from guardrun.units import Threshold


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $HOME, so `~` and the "~/..." display of paths are under the test's control."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def trusted(path: Path) -> Path:
    """Trust a project file as ``guardrun config trust`` does (its keys of every class
    then apply): these tests are about layering, not about trust."""
    trust.trust(trust.record_key(str(path)), trust.digest(path.read_text()))
    return path


def load(
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    flags: dict[str, tuple[object, str]] | None = None,
    user: Path | None = None,
    **kw: object,
) -> Config:
    return load_config(
        cwd=cwd, env=env or {}, flags=flags or {}, user_config_dir=user or cwd / "no-user-dir", **kw
    )  # type: ignore[arg-type]


def test_defaults_are_design_values() -> None:
    cfg = default_config()
    assert cfg.command is None and cfg.agent == "auto"
    m = cfg.memory
    assert (m.metric, m.probe) == ("footprint", "auto")
    assert (m.warning, m.critical, m.emergency) == (
        Threshold(50, True),
        Threshold(65, True),
        Threshold(75, True),
    )
    assert (m.sustained, m.hysteresis, m.interval) == (3, Threshold(5, True), 1.0)
    assert (cfg.system.warning, cfg.system.critical, cfg.system.psi) == (
        Threshold(85, True),
        Threshold(95, True),
        40.0,
    )
    assert (cfg.gpu.warning, cfg.gpu.critical) == (Threshold(80, True), Threshold(90, True))
    r = cfg.restart
    assert (r.enabled, r.on_crash, r.resume, r.resume_args) == (True, True, True, [])
    assert (r.grace, r.idle_quiet, r.idle_wait) == (10.0, 5.0, 120.0)
    assert (r.max_attempts, r.window, r.cooldown, r.max_cooldown) == (3, 3600.0, 10.0, 300.0)
    assert (r.reset_after, r.on_exhausted) == (600.0, "monitor")
    s = cfg.state
    assert (s.dir, s.keep, s.max_age, s.transcript, s.redact) == (None, 50, 7 * 86400.0, "copy", [])
    assert cfg.hooks.on_warning == cfg.hooks.on_exit == []
    assert (cfg.notify.title, cfg.notify.bell, cfg.notify.desktop) == (True, True, "auto")
    assert set(cfg.sources) == set(BY_PATH) and set(cfg.sources.values()) == {"default"}
    assert cfg.files == []


def test_schema_and_dataclasses_agree() -> None:
    cfg = default_config()
    for key in KEYS:
        cfg.get(key.path)  # every schema key is an attribute
    assert len(BY_ENV) == len(KEYS), "two keys derive the same GUARDRUN_ variable"
    assert not set(BY_ENV) & NON_CONFIG_ENV


def test_precedence_across_all_five_sources(tmp_path: Path, home: Path) -> None:
    user = tmp_path / "user"
    write(
        user / "config.yaml",
        "memory:\n  warning: 10%\n  critical: 20%\n  emergency: 30%\n  sustained: 4\n"
        "restart:\n  grace: 1s\n",
    )
    proj = tmp_path / "proj"
    write(
        proj / ".guardrun.yaml",
        "memory: {critical: 25%, emergency: 35%}\nrestart:\n  grace: 2s\n  window: 2h\n",
    )
    cfg = load(
        proj,
        user=user,
        env={
            "GUARDRUN_MEMORY_EMERGENCY": "40%",
            "GUARDRUN_RESTART_GRACE": "3s",
            "GUARDRUN_RESTART_MAX_ATTEMPTS": "5",
            "PATH": "/bin",
        },
        flags={"restart.grace": ("4s", "--grace"), "memory.interval": (None, "--interval")},
    )
    m, r = cfg.memory, cfg.restart
    assert (m.warning, m.critical, m.emergency) == (
        Threshold(10, True),
        Threshold(25, True),
        Threshold(40, True),
    )
    assert (m.sustained, m.interval, r.grace, r.window, r.max_attempts) == (4, 1.0, 4.0, 7200, 5)
    src = cfg.sources
    assert src["memory.warning"] == f"{user}/config.yaml:2"
    assert src["memory.sustained"] == f"{user}/config.yaml:5"
    assert src["memory.critical"] == ".guardrun.yaml:1"
    assert src["restart.window"] == ".guardrun.yaml:4"
    assert src["memory.emergency"] == "env GUARDRUN_MEMORY_EMERGENCY"
    assert src["restart.max_attempts"] == "env GUARDRUN_RESTART_MAX_ATTEMPTS"
    assert src["restart.grace"] == "flag --grace"
    assert src["memory.interval"] == "default"  # a flag given as None is not given
    assert cfg.files == [user / "config.yaml", proj / ".guardrun.yaml"]


def test_discovery_from_a_deep_subdirectory(tmp_path: Path, home: Path) -> None:
    write(home / "repo" / ".guardrun.yaml", "restart: {max_attempts: 9}\n")
    trusted(write(home / "repo" / "pkg" / ".guardrun.yaml", "# only comments\nagent: codex\n"))
    deep = home / "repo" / "pkg" / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    cfg = load(deep)
    assert cfg.agent == "codex" and cfg.restart.max_attempts == 3  # nearest file only
    assert cfg.files == [home / "repo" / "pkg" / ".guardrun.yaml"]
    assert cfg.sources["agent"] == "~/repo/pkg/.guardrun.yaml:2"


def test_no_project_file_anywhere_up_to_root(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert cfg.files == [] and cfg == default_config()


def test_config_flag_replaces_project_file_and_keeps_user_file(tmp_path: Path) -> None:
    user = tmp_path / "user"
    write(user / "config.yaml", "notify: {bell: false}\n")
    write(tmp_path / ".guardrun.yaml", "restart: {window: 2h}\n")
    other = write(tmp_path / "conf" / "other.yaml", "restart: {grace: 7s}\n")
    cfg = load(tmp_path, user=user, config_path=Path("conf/other.yaml"))
    assert (cfg.restart.grace, cfg.restart.window, cfg.notify.bell) == (7.0, 3600.0, False)
    assert cfg.files == [user / "config.yaml", other]
    assert cfg.sources["restart.grace"] == "conf/other.yaml:1"


def test_no_config_skips_both_files_but_not_env_or_flags(tmp_path: Path) -> None:
    user = tmp_path / "user"
    write(user / "config.yaml", "notify: {bell: false}\n")
    write(tmp_path / ".guardrun.yaml", "memory: {critical: nonsense}\n")
    cfg = load(
        tmp_path,
        user=user,
        no_config=True,
        env={"GUARDRUN_AGENT": "aider"},
        flags={"restart.enabled": (False, "--no-restart")},
    )
    assert cfg.files == [] and cfg.notify.bell is True
    assert (cfg.agent, cfg.restart.enabled) == ("aider", False)


def test_config_home_variable_moves_the_user_file(tmp_path: Path) -> None:
    write(tmp_path / "cfghome" / "config.yaml", "state: {keep: 7}\n")
    write(tmp_path / "explicit" / "config.yaml", "state: {keep: 8}\n")
    env = {"GUARDRUN_CONFIG_HOME": str(tmp_path / "cfghome")}
    cfg = load_config(cwd=tmp_path, env=env, flags={})
    assert cfg.state.keep == 7
    cfg = load_config(cwd=tmp_path, env=env, flags={}, user_config_dir=tmp_path / "explicit")
    assert cfg.state.keep == 8


def test_non_config_guardrun_variables_are_ignored(tmp_path: Path) -> None:
    env = {name: "x" for name in NON_CONFIG_ENV} | {
        "GUARDRUN_TEST_CLAUDE": "/x",
        "GUARDRUN_TREE": "1",
        "GUARDRUN_WHATEVER": "1",
        "GUARDRUN_MEMORY_CRITICAL": "",
        "NOT_GUARDRUN_MEMORY_X": "1",
    }
    env["GUARDRUN_CONFIG_HOME"] = str(tmp_path / "nothing-here")
    assert load_config(cwd=tmp_path, env=env, flags={}) == default_config()


def test_env_lists_scalars_and_paths(tmp_path: Path, home: Path) -> None:
    cfg = load(
        tmp_path,
        env={
            "GUARDRUN_COMMAND": '[claude, --model, "opus 4"]',
            "GUARDRUN_HOOKS_ON_EXIT": "notify-send 'run over' now",
            "GUARDRUN_STATE_REDACT": "['sk-[a-z]+', 'ghp_\\w+']",
            "GUARDRUN_STATE_DIR": "states",
            "GUARDRUN_RESTART_RESUME": "no",
            "GUARDRUN_MEMORY_INTERVAL": "250ms",
            "GUARDRUN_MEMORY_CRITICAL": "12GB",
            "GUARDRUN_MEMORY_EMERGENCY": "12GiB",
            "GUARDRUN_NOTIFY_DESKTOP": "FALSE",
            "GUARDRUN_SYSTEM_PSI": "25.5",
        },
    )
    assert cfg.command == ["claude", "--model", "opus 4"]
    assert cfg.hooks.on_exit == ["notify-send", "run over", "now"]
    assert cfg.state.redact == ["sk-[a-z]+", "ghp_\\w+"]
    assert cfg.state.dir == tmp_path / "states"
    assert (cfg.restart.resume, cfg.memory.interval, cfg.notify.desktop) == (False, 0.25, "false")
    assert cfg.memory.critical == Threshold(12e9, False)
    assert cfg.memory.emergency == Threshold(12 * 1024**3, False)
    assert cfg.system.psi == 25.5


def test_state_dir_relative_to_its_file_and_tilde(tmp_path: Path, home: Path) -> None:
    trusted(write(tmp_path / "p" / ".guardrun.yaml", "state: {dir: .states}\n"))
    (tmp_path / "p" / "sub").mkdir()
    assert load(tmp_path / "p" / "sub").state.dir == tmp_path / "p" / ".states"
    trusted(write(tmp_path / "p" / ".guardrun.yaml", "state:\n  dir: ~/gr\n"))
    assert load(tmp_path / "p").state.dir == home / "gr"


def test_flags_take_python_values(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        flags={
            "restart.max_attempts": (7, "--max-restarts"),
            "restart.resume": (False, "--no-resume"),
            "memory.critical": ("70%", "--critical"),
            "command": (["aider", "--x"], "--"),
            "state.dir": (str(tmp_path / "s"), "--state-dir"),
            "memory.probe": ("ps", "--probe"),
        },
    )
    assert (cfg.restart.max_attempts, cfg.restart.resume) == (7, False)
    assert cfg.memory.critical == Threshold(70, True) and cfg.command == ["aider", "--x"]
    assert cfg.state.dir == tmp_path / "s" and cfg.memory.probe == "ps"
    assert cfg.sources["restart.resume"] == "flag --no-resume"


def test_yaml_forms_merge_keys_and_mixed_threshold_kinds(tmp_path: Path) -> None:
    write(
        tmp_path / ".guardrun.yaml",
        "memory:\n  warning: 10GB\n  critical: 50%\n  emergency: 16000000000\n"
        "restart:\n  <<: {on_crash: false, grace: 3}\n  resume_args: [--port, 8080]\n"
        "command: claude --verbose\n",
    )
    trusted(tmp_path / ".guardrun.yaml")
    cfg = load(tmp_path)
    assert cfg.memory.warning == Threshold(10e9, False)  # mixed kinds are not compared
    assert cfg.memory.emergency == Threshold(16e9, False)
    assert (cfg.restart.on_crash, cfg.restart.grace) == (False, 3.0)
    assert cfg.restart.resume_args == ["--port", "8080"]
    assert cfg.command == ["claude", "--verbose"]


def test_show_output_loads_back_to_the_same_config(tmp_path: Path, home: Path) -> None:
    write(
        tmp_path / ".guardrun.yaml",
        "command: [claude, --resume]\nmemory: {warning: 1536MiB, critical: 2GiB, "
        "emergency: 3000000001, interval: 0.3}\nstate: {dir: ~/x y, redact: ['a: b']}\n"
        "hooks: {on_exit: [echo, 'yes', '#no comment']}\nnotify: {desktop: true}\n",
    )
    cfg = load(tmp_path)
    assert [h.key for h in cfg.held] == ["command", "state.dir", "state.redact", "hooks.on_exit"]
    trusted(tmp_path / ".guardrun.yaml")
    cfg = load(tmp_path)
    assert cfg.held == []
    out = tmp_path / "again"
    trusted(write(out / ".guardrun.yaml", render_yaml(cfg, sources=True)))
    assert load(out) == cfg


def test_importing_and_loading_without_files_does_not_import_yaml(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; import guardrun.config.load as c\n"
        f"c.load_config(cwd=Path({str(tmp_path)!r}), env={{'GUARDRUN_MEMORY_CRITICAL': '70%'}},"
        f" flags={{}}, user_config_dir=Path({str(tmp_path)!r}))\n"
        "print(sorted(m for m in ('yaml', 'platformdirs', 'difflib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"


def test_config_error_is_exit_2() -> None:
    assert ConfigError("x").exit_code == 2
