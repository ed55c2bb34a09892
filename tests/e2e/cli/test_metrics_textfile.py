"""``metrics.textfile`` in real runs: the file node_exporter would read says what
``guardrun status --json`` says, counts a real restart and its captures by reason, goes
at exit, and stays (marked gone) after an emergency stop so that the alert on it fires."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from support import Guarded, child, guardrun, levels, starts, wait_for

from guardrun.observe.metrics import LEVELS

QUICK = {"GUARDRUN_RESTART_IDLE_QUIET": "1s", "GUARDRUN_MEMORY_INTERVAL": "250ms"}


def read(path: Path) -> dict[str, float]:
    """``name{label=value,...}`` (run labels left out) -> value, or {} before the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            rest = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())
                            if k not in ("run_id", "project", "agent", "version", "metric",
                                         "command"))  # fmt: skip
            out[f"{s.name}{{{rest}}}"] = s.value
    return out


def status_json(env: dict[str, str]) -> list[dict[str, object]]:
    out = subprocess.run(guardrun("status", "--json"), env=env, capture_output=True, text=True,
                         timeout=30, check=True)  # fmt: skip
    return list(json.loads(out.stdout))


def test_a_restart_is_counted_and_the_file_matches_status_json(tmp_path: Path) -> None:
    prom = tmp_path / "textfile"
    prom.mkdir()
    env = {**os.environ, **QUICK, "GUARDRUN_STATE_DIR": str(tmp_path / "state"),
           "GUARDRUN_METRICS_TEXTFILE": str(prom)}  # fmt: skip
    marks = tmp_path / "starts"
    argv = child("holder.py", "--starts", str(marks), "--first", "120", "--later", "10")
    with Guarded(*levels("50MB", "100MB", "400MB"), "--no-pty", "--", *argv, env=env) as g:
        wait_for(lambda: len(starts(marks)) == 2, timeout=30)  # restarted at critical
        files = list(prom.glob("guardrun-*.prom"))
        assert len(files) == 1
        path = files[0]

        def agree() -> tuple[dict[str, float], dict[str, object]] | None:
            m, runs = read(path), status_json(env)
            if not m or len(runs) != 1 or runs[0]["child_pid"] != starts(marks)[1]:
                return None
            run = runs[0]
            if m.get("guardrun_tree_memory_bytes{}") != run["memory_bytes"]:
                return None  # written at other moments: wait for a quiet one
            return m, run

        found = wait_for(agree, timeout=20, step=0.3)
        assert isinstance(found, tuple)
        m, run = found
        assert m["guardrun_up{}"] == 1
        assert m["guardrun_tree_processes{}"] == run["processes"]
        assert m["guardrun_level{}"] == LEVELS.index(str(run["level"])) == 0
        assert m[f"guardrun_mode{{mode={run['mode']}}}"] == 1
        assert m["guardrun_restarts_total{reason=critical}"] == run["restarts"] == 1
        assert m["guardrun_captures_total{reason=critical}"] == 1
        assert m["guardrun_threshold_bytes{level=critical}"] == 100_000_000
        assert path.name == f"guardrun-{run['run_id']}.prom"
        assert g.stop() is not None and g.returncode == 143
    assert list(prom.iterdir()) == []  # gone with the run


def test_the_file_stays_after_an_emergency_stop(tmp_path: Path) -> None:
    path = tmp_path / "agent.prom"
    env = {**os.environ, **QUICK, "GUARDRUN_STATE_DIR": str(tmp_path / "state"),
           "GUARDRUN_METRICS_TEXTFILE": str(path)}  # fmt: skip
    argv = child("holder.py", "--starts", str(tmp_path / "starts"), "--first", "120")
    flags = [*levels("20MB", "40MB", "80MB"), "--max-restarts", "0", "--on-exhausted", "stop"]
    done = subprocess.run(guardrun(*flags, "--no-pty", "--", *argv), env=env, timeout=60,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 75, done.stderr
    m = read(path)
    assert m["guardrun_up{}"] == 0 and m["guardrun_exit_code{}"] == 75
    assert m["guardrun_mode{mode=emergency_stop}"] == 1
    assert m["guardrun_captures_total{reason=emergency}"] == 1
    assert path.stat().st_mode & 0o777 == 0o644
