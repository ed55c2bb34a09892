"""``guardrun doctor``: runs for real on this machine, exits 0, and its JSON has every part."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from support import REPO

from guardrun.commands.doctor import collect, render, run_doctor

CLAUDE_BIN = REPO / ".cache" / "claude" / "node_modules" / ".bin"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An isolated config home and a PATH of only a tmp bin dir plus the system's."""
    monkeypatch.setenv("GUARDRUN_CONFIG_HOME", str(tmp_path / "config"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return bin_dir


def test_json_report_has_every_part(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "repo" / "src"
    project.mkdir(parents=True)
    (tmp_path / "repo" / ".guardrun.yaml").write_text("memory: {warning: 40%}\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("agent: claude\n")
    assert run_doctor(True, tmp_path / "state", project) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "guardrun", "os", "probes", "memory", "metric", "gpu", "agents", "state_dir",
        "config_files",
    }  # fmt: skip
    metric = report["metric"]
    assert metric["metric"] == "footprint" and metric["source"] == "default"
    assert "VmSwap" in metric["reads"]
    swapping = len(Path("/proc/swaps").read_text().splitlines()) > 1
    assert metric["swap"]["on"] == (swapping or bool(metric["swap"]["zswap"]))
    assert metric["swap"]["describe"]
    assert report["os"]["system"] == "Linux"

    probes = report["probes"]
    assert probes["order"] == ["proc", "psutil", "ps"]
    assert probes["chosen"] == "proc"
    by_name = {r["name"]: r for r in probes["results"]}
    for name in ("proc", "psutil", "ps"):
        assert by_name[name]["ok"], by_name[name]
        assert by_name[name]["processes"] >= 1 and by_name[name]["rss"] > 0
        assert by_name[name]["sample_ms"] > 0
    assert not by_name["wmi"]["ok"] and "wmi package is not installed" in by_name["wmi"]["error"]

    memory = report["memory"]
    assert memory["limit"]["bytes"] > 0 and memory["limit"]["source"]
    assert memory["pss_uss"] is True
    assert memory["psi"]["available"] == Path("/proc/pressure/memory").exists()
    assert memory["system"]["level"] in ("normal", "warning", "critical")
    if memory["cgroup"] is not None:
        assert memory["cgroup"]["version"] in (1, 2)

    assert report["gpu"]["available"] is False  # no NVIDIA GPU on this machine
    assert report["gpu"]["reason"]

    assert report["state_dir"] == {
        "path": str(tmp_path / "state"),
        "exists": False,
        "free_bytes": report["state_dir"]["free_bytes"],
    }
    assert report["state_dir"]["free_bytes"] > 0
    assert report["config_files"] == {
        "user": {"path": str(tmp_path / "config" / "config.yaml"), "exists": True},
        "project": str(tmp_path / "repo" / ".guardrun.yaml"),
    }


@pytest.mark.skipif(
    not (CLAUDE_BIN / "claude").exists(),
    reason="the real Claude Code CLI is not installed (npm install --prefix .cache/claude "
    "@anthropic-ai/claude-code@2.1.197)",
)
def test_finds_the_real_claude_cli(monkeypatch: pytest.MonkeyPatch, env: Path) -> None:
    monkeypatch.setenv("PATH", f"{CLAUDE_BIN}:{os.environ['PATH']}")
    agents = {a["name"]: a for a in collect(cwd=env)["agents"]}
    assert agents["claude"]["path"] == str(CLAUDE_BIN / "claude")
    assert agents["claude"]["version"] == "2.1.197 (Claude Code)"
    assert "error" not in agents["claude"]


def test_agent_that_hangs_or_fails(env: Path) -> None:
    # Stand-ins for agent CLIs that misbehave: a version check must never hang doctor.
    (env / "codex").write_text("#!/bin/sh\nexec sleep 30\n")
    (env / "gemini").write_text("#!/bin/sh\necho 'gemini: broken install' >&2\nexit 3\n")
    for f in ("codex", "gemini"):
        (env / f).chmod(0o755)
    agents = {a["name"]: a for a in collect(cwd=env, agent_timeout=0.5)["agents"]}
    assert agents["codex"]["error"] == "`codex --version` did not answer in 0.5s"
    assert agents["gemini"]["error"] == "`gemini --version` exited with 3"
    assert agents["gemini"]["version"] == "gemini: broken install"
    assert agents["aider"] == {
        "name": "aider",
        "path": None,
        "version": None,
        "error": "not on PATH",
    }


def test_render_for_people(env: Path) -> None:
    from rich.console import Console

    report = collect(cwd=env, agent_timeout=2)
    out = io.StringIO()
    render(report, Console(file=out, width=120, color_system=None))
    text = out.getvalue()
    assert "Memory probes" in text and "proc (chosen)" in text
    assert "nvidia-ml-py is not installed" in text
    assert "aider: not on PATH" in text
    assert "State directory" in text and "Config files" in text
    assert "Metric: footprint (default): resident + swapped" in text
    assert "memory out of RAM: " in text


def test_the_metric_from_the_config_and_its_source(env: Path, tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / ".guardrun.yaml").write_text("memory: {metric: rss}\n")
    metric = collect(cwd=project, agent_timeout=2)["metric"]
    assert metric["metric"] == "rss" and ".guardrun.yaml" in metric["source"]
    assert metric["reads"] == "resident only (RSS)"
