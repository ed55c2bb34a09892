"""The smoke run CI makes on every OS (.github/workflows/ci.yml): ``guardrun -- python
leak.py`` reaches emergency, is restarted once, and the second leak, with restarts
exhausted, is stopped (exit 75). Standard library only; run from the repository root."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

LEAK = Path(__file__).resolve().parent.parent / "tests" / "children" / "leak.py"


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        starts = Path(d) / "starts"
        cmd = [
            sys.executable, "-m", "guardrun", "--no-pty",
            "--interval", "200ms", "--cooldown", "100ms", "--grace", "2s",
            "--warning", "100MB", "--critical", "150MB", "--emergency", "200MB",
            "--max-restarts", "1", "--on-exhausted", "stop",
            "--", sys.executable, str(LEAK), "--starts", str(starts),
            "--to", "400", "--rate", "100",
        ]  # fmt: skip
        print("$", " ".join(cmd), flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        print(r.stderr)
        runs = starts.read_text().splitlines() if starts.exists() else []
    if r.returncode != 75 or len(runs) != 2:
        print(f"FAIL: exit {r.returncode} (want 75), {len(runs)} leak runs (want 2)")
        return 1
    print("ok: emergency, one restart, then stopped with exit 75")
    return 0


if __name__ == "__main__":
    sys.exit(main())
