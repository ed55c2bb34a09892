"""examples/systemd and examples/kubernetes: guardrun command lines guardrun accepts,
thresholds as percentages of the memory limit the unit or pod sets, and restart and
stop settings that leave restarting the agent to guardrun (see the comments there)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support import REPO

from guardrun.cli import parse
from guardrun.config.load import Config, load_config
from guardrun.flags import flag_values

UNIT = REPO / "examples" / "systemd" / "guardrun-agent.service"
K8S = REPO / "examples" / "kubernetes"


def guardrun_config(argv: list[str], tmp_path: Path, config: Path | None = None) -> Config:
    """What guardrun makes of ``argv`` (its options and the command after ``--``)."""
    ns = parse(argv)
    assert ns.command[0] == "--" and len(ns.command) > 1  # a command follows
    return load_config(cwd=tmp_path, env={}, flags=flag_values(ns), config_path=config,
                       user_config_dir=tmp_path / "no-user")  # fmt: skip


def check_levels(cfg: Config) -> None:
    levels = (cfg.memory.warning, cfg.memory.critical, cfg.memory.emergency)
    assert all(t.percent for t in levels)  # of the cgroup's limit, whatever its size
    assert [t.value for t in levels] == sorted(t.value for t in levels)
    assert levels[-1].value < 100  # room to save state and stop before the OOM killer


def unit_settings() -> dict[str, str]:
    """``Key=value`` of the unit (continued lines joined, comments left out)."""
    text = re.sub(r"\\\n\s*", " ", UNIT.read_text())
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_the_systemd_unit_leaves_restarts_to_guardrun(tmp_path: Path) -> None:
    unit = unit_settings()
    assert unit["Restart"] == "on-abnormal"  # never on an exit code guardrun chose
    assert unit["RestartForceExitStatus"] == "70"  # ... but a guardrun bug
    assert unit["KillMode"] == "mixed" and unit["KillSignal"] == "SIGTERM"
    assert unit["OOMPolicy"] == "continue"
    argv = shlex.split(unit["ExecStart"].replace("%%", "%").replace("%h", "/home/u"))
    assert argv[0].endswith("/guardrun")
    cfg = guardrun_config(argv[1:], tmp_path)
    check_levels(cfg)
    assert unit["MemoryMax"]  # what the percentages are of
    assert float(unit["TimeoutStopSec"].rstrip("s")) >= cfg.restart.grace + 10
    assert cfg.restart.on_exhausted == "stop"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("%h/.local/bin/guardrun", "/bin/true")
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace("%h/.local/bin/claude", "/bin/true"))
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_pod_runs_guardrun_as_its_entrypoint_with_thresholds_of_its_limit(
    tmp_path: Path,
) -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all((K8S / "pod.yaml").read_text())}
    pod, config_map = docs["Pod"]["spec"], docs["ConfigMap"]
    assert pod["restartPolicy"] == "Never"  # guardrun restarts the agent, not the kubelet
    (box,) = pod["containers"]
    assert box["command"] == ["guardrun"]
    limits, requests = box["resources"]["limits"], box["resources"]["requests"]
    assert limits["memory"] == requests["memory"]  # Guaranteed: the limit is memory.max
    mounts = {m["mountPath"]: m["name"] for m in box["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    args = box["args"]
    config_path = Path(args[args.index("--config") + 1])
    volume = volumes[mounts[str(config_path.parent)]]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    local = tmp_path / config_path.name
    local.write_text(config_map["data"][config_path.name])
    cfg = guardrun_config(args, tmp_path, config=local)
    check_levels(cfg)
    assert pod["terminationGracePeriodSeconds"] >= cfg.restart.grace + 10
    assert cfg.state.dir is not None and str(cfg.state.dir) in mounts
    assert cfg.metrics.textfile is not None and str(cfg.metrics.textfile.parent) in mounts


def test_the_image_has_guardrun_as_its_entrypoint() -> None:
    lines = (K8S / "Dockerfile").read_text().splitlines()
    (entry,) = [line for line in lines if line.startswith("ENTRYPOINT")]
    assert yaml.safe_load(entry.removeprefix("ENTRYPOINT"))[:2] == ["guardrun", "--no-pty"]
    assert not any("tini" in line or "dumb-init" in line for line in lines if "RUN" in line)
