"""RunSettings come from the config alone: no default of their own (each is the
schema's, declared once in ``config.schema.KEYS``), and ``restart.min_uptime`` is a key
like any other, from a file, the environment or the defaults."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

from guardrun.config.load import default_config, load_config
from guardrun.config.schema import BY_PATH
from guardrun.runner import settings_from_config
from guardrun.supervisor.settings import RunSettings


def test_run_settings_declare_no_defaults_of_their_own() -> None:
    assert RunSettings._field_defaults == {"cwd": None}


def test_min_uptime_is_a_config_key(tmp_path: Path) -> None:
    assert BY_PATH["restart.min_uptime"].default == "2s"
    ns = Namespace(no_pty=False)
    assert settings_from_config(default_config(), ["x"], ns).min_uptime == 2.0
    env = {"GUARDRUN_RESTART_MIN_UPTIME": "500ms"}
    cfg = load_config(cwd=tmp_path, env=env, flags={}, no_config=True)
    assert settings_from_config(cfg, ["x"], ns).min_uptime == 0.5
    (tmp_path / ".guardrun.yaml").write_text("restart:\n  min_uptime: 5s\n")
    cfg = load_config(cwd=tmp_path, env={}, flags={})
    assert settings_from_config(cfg, ["x"], ns).min_uptime == 5.0
