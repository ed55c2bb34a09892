"""Every example config in examples/ loads as a project file and says what it claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REPO

from guardrun.config.load import Config, load_config
from guardrun.units import Threshold

EXAMPLES = REPO / "examples"


def load(name: str, tmp_path: Path) -> Config:
    return load_config(
        cwd=tmp_path,
        env={},
        flags={},
        config_path=EXAMPLES / name,
        user_config_dir=tmp_path / "no-user",
    )


@pytest.mark.parametrize(
    ("name", "command", "agent"),
    [
        ("claude.yaml", ["claude"], "claude"),
        ("codex.yaml", ["codex"], "codex"),
        ("gemini.yaml", ["gemini"], "gemini"),
        ("aider.yaml", ["aider", "--no-auto-commits"], "aider"),
        ("node-service.yaml", ["node", "--max-old-space-size=2048", "server.js"], "generic"),
        ("training-gpu.yaml", ["python", "train.py", "--config", "configs/base.yaml"], "generic"),
    ],
)
def test_example_loads(tmp_path: Path, name: str, command: list[str], agent: str) -> None:
    cfg = load(name, tmp_path)
    assert (cfg.command, cfg.agent) == (command, agent)
    assert cfg.files == [EXAMPLES / name]
    # Every key an example sets is attributed to a line of it, none silently ignored.
    text_keys = sum(
        1
        for line in (EXAMPLES / name).read_text().splitlines()
        if line.startswith("  ") and ":" in line and not line.lstrip().startswith("#")
    )
    from_file = [k for k, src in cfg.sources.items() if src.startswith(str(EXAMPLES / name))]
    assert len(from_file) == text_keys + 2  # + command and agent at the top level


def test_specific_example_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    node = load("node-service.yaml", tmp_path)
    assert node.memory.warning == Threshold(1.5 * 1024**3, False)
    assert (node.restart.resume, node.restart.grace, node.notify.desktop) == (False, 20.0, "false")
    gpu = load("training-gpu.yaml", tmp_path)
    assert (gpu.gpu.warning, gpu.gpu.critical) == (Threshold(85, True), Threshold(95, True))
    assert (gpu.memory.metric, gpu.memory.interval, gpu.restart.on_exhausted) == (
        "pss",
        0.5,
        "stop",
    )
    assert gpu.restart.resume_args == ["--resume-from", "checkpoints/last.pt"]
    assert gpu.state.dir == tmp_path / ".local/state/guardrun-training"
    gemini = load("gemini.yaml", tmp_path)
    assert gemini.state.redact == ["AIza[0-9A-Za-z_-]{35}"]


def test_every_example_yaml_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(
        [
            "claude.yaml",
            "codex.yaml",
            "gemini.yaml",
            "aider.yaml",
            "node-service.yaml",
            "training-gpu.yaml",
        ]
    )
