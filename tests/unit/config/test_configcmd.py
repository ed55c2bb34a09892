"""`guardrun config show | check | init`, and the generated docs/configuration.md."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest
from support import REPO

from guardrun.commands.config import add_config_parser, detect_agent, run_config
from guardrun.config.load import Config, load_config
from guardrun.config.schema import KEYS
from guardrun.errors import ConfigError, UsageError

ROOT = REPO


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="guardrun")
    parser.add_argument("--config", dest="config")  # the lead's global flag must not clash
    add_config_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def loader(cwd: Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    def load(path: Path | None) -> Config:
        return load_config(
            cwd=cwd, env=env or {}, flags={}, config_path=path, user_config_dir=cwd / "no-user"
        )

    return load


def test_show_yaml_with_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".guardrun.yaml").write_text("agent: claude\nmemory:\n  critical: 12GiB\n")
    rc = run_config(
        parse(["config", "show", "--sources"]), loader(tmp_path, {"GUARDRUN_RESTART_GRACE": "3s"})
    )
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    assert any(
        line.startswith("  critical: 12GiB") and line.endswith("# .guardrun.yaml:3")
        for line in lines
    )
    assert any(
        line.startswith("  grace: 3s") and line.endswith("# env GUARDRUN_RESTART_GRACE")
        for line in lines
    )
    # agent changes the agent's argv: an untrusted project file's agent is held back.
    assert any(
        line.startswith("agent: auto")
        and line.endswith(
            "# default; project: needs trust (changes the agent's argv); "
            "HELD BACK: .guardrun.yaml:1 (changes the agent's argv)"
        )
        for line in lines
    )
    assert f"# project file {tmp_path / '.guardrun.yaml'}: not trusted" in out
    assert sum("# default" in line for line in lines) == len(KEYS) - 2
    assert f"# files: {tmp_path / '.guardrun.yaml'}" in out


def test_show_plain_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_config(parse(["config", "show"]), loader(tmp_path))
    out = capsys.readouterr().out
    assert "# default" not in out and "  warning: 50%" in out
    run_config(parse(["config", "show", "--json"]), loader(tmp_path))
    data = json.loads(capsys.readouterr().out)
    assert data["memory"]["critical"] == "65%" and data["restart"]["idle_wait"] == "2m"
    assert data["command"] is None and data["state"]["dir"] == "auto"
    run_config(parse(["config", "show", "--json", "--sources"]), loader(tmp_path))
    data = json.loads(capsys.readouterr().out)
    assert data["sources"]["memory.critical"] == "default" and data["files"] == []
    assert data["config"]["notify"] == {"title": True, "bell": True, "desktop": "auto"}


def test_plain_config_command_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_config(parse(["config"]), loader(tmp_path)) == 0
    assert capsys.readouterr().out.startswith("# guardrun effective configuration\n")


def test_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_config(parse(["config", "check"]), loader(tmp_path)) == 0
    assert capsys.readouterr().out == "ok: no config files, defaults\n"
    good = tmp_path / "team.yaml"
    good.write_text("memory: {critical: 70%}\n")
    assert run_config(parse(["config", "check", str(good)]), loader(tmp_path)) == 0
    assert capsys.readouterr().out == f"ok: {good}\n"
    (tmp_path / "bad.yaml").write_text("memory:\n  critical: 70%\n  warnings: 1%\n")
    with pytest.raises(ConfigError) as info:
        run_config(parse(["config", "check", "bad.yaml"]), loader(tmp_path))
    assert str(info.value) == (
        "bad.yaml:3: memory.warnings: unknown key (did you mean memory.warning?)"
    )


def _fake_agent(bin_dir: Path, name: str) -> None:
    """A real executable file with the agent's name: enough for a PATH lookup."""
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)


def test_detect_agent_order(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    assert detect_agent(str(bin_dir)) == "generic"
    _fake_agent(bin_dir, "aider")
    assert detect_agent(str(bin_dir)) == "aider"
    _fake_agent(bin_dir, "gemini")
    _fake_agent(bin_dir, "codex")
    assert detect_agent(str(bin_dir)) == "codex"
    _fake_agent(bin_dir, "claude")
    assert detect_agent(str(bin_dir)) == "claude"


@pytest.mark.parametrize("agent", ["codex", None])
def test_init_writes_a_loadable_commented_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    agent: str | None,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if agent:
        _fake_agent(bin_dir, agent)
    monkeypatch.setenv("PATH", str(bin_dir))
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    assert run_config(parse(["config", "init"]), loader(proj)) == 0
    assert capsys.readouterr().out == "wrote .guardrun.yaml\n"
    path = proj / ".guardrun.yaml"
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o022 == 0
    text = path.read_text()
    assert "  # critical: 65%  # Tree memory" in text
    cfg = loader(proj)(None)
    assert cfg.command == ([agent] if agent else None)
    assert cfg.agent == (agent or "generic")
    assert cfg.memory == load_config(cwd=tmp_path, env={}, flags={}, no_config=True).memory
    # Uncommenting a default line gives a valid file too.
    path.write_text(text.replace("  # critical: 65%", "  critical: 60%"))
    assert loader(proj)(None).memory.critical.value == 60
    with pytest.raises(UsageError, match=r"\.guardrun\.yaml: already exists; not overwriting it$"):
        run_config(parse(["config", "init"]), loader(proj))
    assert "critical: 60%" in path.read_text()


def test_generated_document_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_config_doc", ROOT / "tools/gen_config_doc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == module.render(), (
        "docs/configuration.md is stale: run python tools/gen_config_doc.py"
    )
    for key in KEYS:
        assert f"| `{key.path}` |" in committed and key.env in committed
