"""Hooks run as real programs (tests/children/hook_*.py) in the background, without a shell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from support import CHILDREN, REPO

from guardrun.observe.events import EventLog, read_events
from guardrun.observe.hooks import MAX_RUNNING, OUTPUT_CAP, HookRunner, hook_env

PY = sys.executable


def wait_events(path: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Hook events (hook_output/hook_failed) once ``count`` of them are in the log."""
    deadline = time.monotonic() + timeout
    while True:
        events = [e for e in read_events(path) if e["event"] in ("hook_output", "hook_failed")]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "runs" / "r.jsonl", "20250101T000000Z-abcdef")


def test_env_contents(log: EventLog) -> None:
    runner = HookRunner(log)
    extra = hook_env(log.run_id, 4242, 123456, "warning")
    runner.run("on_warning", [PY, str(CHILDREN / "hook_env.py")], extra)
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    runner.close(2)
    assert ev["event"] == "hook_output" and ev["returncode"] == 0
    assert ev["trigger"] == "on_warning"
    out = json.loads(ev["output"])
    env = out["env"]
    assert env["GUARDRUN_EVENT"] == "on_warning"
    assert env["GUARDRUN_PID"] == str(os.getpid())
    assert env["GUARDRUN_RUN_ID"] == log.run_id
    assert env["GUARDRUN_CHILD_PID"] == "4242"
    assert env["GUARDRUN_MEMORY_BYTES"] == "123456"
    assert env["GUARDRUN_LEVEL"] == "warning"
    assert env["GUARDRUN_STATE_FILE"] == ""  # documented names always exist
    # Its own session and process group, so a timeout can kill the whole group.
    assert out["pgid"] == out["sid"] == ev["pid"]


def test_hung_hook_killed_at_timeout_without_blocking(log: EventLog, tmp_path: Path) -> None:
    """The hook ignores SIGTERM and has a grandchild; both die at timeout + KILL_AFTER."""
    runner = HookRunner(log, timeout=0.6)
    pidfile = tmp_path / "pids"
    t0 = time.monotonic()
    runner.run("on_critical", [PY, str(CHILDREN / "hook_hang.py"), str(pidfile)], {})
    elapsed = time.monotonic() - t0
    assert log.path is not None
    # An order, not a speed (a loaded machine may stall the caller for any time): run()
    # returned while the hook still ran, before its end (the kill at the timeout) was logged.
    assert wait_events(log.path, 1, timeout=0) == [], f"run() waited {elapsed:.3f}s for it"
    deadline = time.monotonic() + 5
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    hook_pid, grandchild = map(int, pidfile.read_text().split())
    assert hook_pid in runner.pids()
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    took = time.monotonic() - t0
    assert ev["event"] == "hook_failed" and "timed out after 0.6s" in ev["reason"]
    assert ev["output"] == "hanging\n"
    assert 0.6 <= took < 3.5
    assert runner.pids() == set()
    deadline = time.monotonic() + 3
    while not (gone(hook_pid) and gone(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(hook_pid) and gone(grandchild)


def test_failing_and_missing_hooks_logged(
    log: EventLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = HookRunner(log)
    monkeypatch.setenv("HOOK_EXIT", "3")
    runner.run(
        "on_exit",
        [[PY, str(CHILDREN / "hook_env.py")], [str(tmp_path / "no-such-hook"), "x"]],
        {},
    )
    assert log.path is not None
    events = wait_events(log.path, 2)
    runner.close(2)
    by_reason = {e["reason"].split(":")[0]: e for e in events}
    assert set(by_reason) == {"exit 3", "not found"}
    assert by_reason["exit 3"]["event"] == "hook_failed"
    assert by_reason["exit 3"]["returncode"] == 3
    assert json.loads(by_reason["exit 3"]["output"])["env"]["GUARDRUN_EVENT"] == "on_exit"
    assert by_reason["not found"]["argv"] == [str(tmp_path / "no-such-hook"), "x"]


def test_not_executable_hook_logged(log: EventLog, tmp_path: Path) -> None:
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o600)
    runner = HookRunner(log)
    runner.run("on_exit", [str(script)], {})
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    assert ev["event"] == "hook_failed" and ev["reason"].startswith("cannot start")


def test_no_shell_argv_passed_literally(log: EventLog, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    args = [f"a; touch {marker}", "$HOME", "`id`", "*"]
    runner = HookRunner(log)
    runner.run("on_restart", [PY, str(CHILDREN / "hook_env.py"), *args], {})
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    assert json.loads(ev["output"])["argv"] == args
    assert not marker.exists()


def test_output_capped_and_drained(log: EventLog) -> None:
    """A hook writing 1 MB is not blocked by a full pipe; the log keeps the first 8 KB."""
    code = "import sys; sys.stdout.write('x' * 1_000_000); sys.stderr.write('done')"
    runner = HookRunner(log)
    runner.run("on_warning", [PY, "-c", code], {})
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    assert ev["event"] == "hook_output" and ev["returncode"] == 0
    assert len(ev["output"]) == OUTPUT_CAP and ev["truncated"] is True


@pytest.mark.parametrize("back", [13, 9, 4])
def test_a_token_cut_by_the_output_cap_keeps_no_prefix(tmp_path: Path, back: int) -> None:
    """A hook's output is kept to OUTPUT_CAP characters; a token that the cap split kept
    its first ``back`` characters ("sk-ant-api03-"), which no rule knows. The event log
    scrubs as the run's observer does: built-in rules on its lines, a custom pattern
    (state.redact) on the values."""
    from guardrun.state.redact import Redactor, redact

    custom = Redactor([r"ACME-\d{6}"]).redact_custom
    log = EventLog(tmp_path / "runs" / "r.jsonl", "20250101T000000Z-abcdef", scrub=redact,
                   scrub_value=custom)  # fmt: skip
    token = "sk-ant-api03-" + "Q7xk2LmN9pR4sT8vW1yZ3bC6dF0gH5jK" * 2
    filler = OUTPUT_CAP - 1 - back - 1  # the secret starts ``back`` characters before the cut
    runner = HookRunner(log)
    for secret in (token, "ACME-123456"):
        code = f"print('x' * {filler} + ' ' + {secret!r} + ' the rest' * 1000)"
        runner.run("on_warning", [PY, "-c", code], {})
    assert log.path is not None
    events = wait_events(log.path, 2)
    runner.close(2)
    assert len(events) == 2
    raw = Path(log.path).read_text()
    for fragment in ("sk-ant", "api03", "ACME"):
        assert fragment not in raw, fragment
    for ev in events:
        assert ev["truncated"] is True and len(ev["output"]) <= OUTPUT_CAP
        assert ev["output"].startswith("x" * filler)


def test_killed_by_signal_logged(log: EventLog) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    runner = HookRunner(log)
    runner.run("on_warning", [PY, "-c", code], {})
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    assert ev["event"] == "hook_failed" and ev["reason"] == "killed by signal 11"


def test_close_kills_running_hooks(log: EventLog, tmp_path: Path) -> None:
    runner = HookRunner(log, timeout=30)
    pidfile = tmp_path / "pids"
    runner.run("on_exit", [PY, str(CHILDREN / "hook_hang.py"), str(pidfile)], {})
    deadline = time.monotonic() + 5
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    runner.close(wait=0.2)
    assert time.monotonic() - t0 < 2.5
    assert log.path is not None
    (ev,) = wait_events(log.path, 1)
    assert ev["reason"] == "killed at guardrun exit"
    hook_pid, grandchild = map(int, pidfile.read_text().split())
    deadline = time.monotonic() + 3
    while not (gone(hook_pid) and gone(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(hook_pid) and gone(grandchild)
    runner.run("on_exit", [PY, "-c", "pass"], {})  # after close: ignored
    time.sleep(0.2)
    assert len(wait_events(log.path, 2, timeout=0.1)) == 1


def test_empty_hook_lists_do_nothing(log: EventLog) -> None:
    runner = HookRunner(log)
    runner.run("on_warning", [], {})
    runner.run("on_warning", [[]], {})
    assert runner.pids() == set()
    assert log.path is not None and read_events(log.path) == []


_SUBREAPER = """
import ctypes, json, os, sys, time
from pathlib import Path
from guardrun.observe.events import EventLog
from guardrun.observe.hooks import HookRunner
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
tmp = Path(sys.argv[1])
runner = HookRunner(EventLog(tmp / "r.jsonl", "x"), timeout=5)
runner.run("on_warning", [sys.executable, sys.argv[2], str(tmp / "orphan")], {})
while not (tmp / "orphan").exists():
    time.sleep(0.02)
orphan = int((tmp / "orphan").read_text())
deadline = time.monotonic() + 5
while os.getpid() != int(open(f"/proc/{orphan}/stat").read().rsplit(")", 1)[1].split()[1]):
    assert time.monotonic() < deadline, "orphan never re-parented"
    time.sleep(0.02)
print(json.dumps({"orphan": orphan, "pids": sorted(runner.pids())}))
os.kill(orphan, 9)
os.waitpid(orphan, 0)
runner.close(2)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreaper is Linux-only")
def test_pids_names_orphans_adopted_by_subreaper(tmp_path: Path) -> None:
    """In a subreaper (as guardrun is), a hook's orphan is re-parented to us; pids() names it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [PY, "-c", _SUBREAPER, str(tmp_path), str(CHILDREN / "hook_orphan.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["orphan"] in out["pids"]


def test_too_many_running_hooks_refused(log: EventLog) -> None:
    """A flapping supervisor cannot pile up hung hooks without bound."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    runner = HookRunner(log, timeout=30)
    runner.run("on_warning", [[sleep, "30"]] * (MAX_RUNNING + 2), {})
    assert log.path is not None
    refused = wait_events(log.path, 2)
    assert len(refused) == 2 and all("still running" in e["reason"] for e in refused)
    deadline = time.monotonic() + 5
    while len(runner.pids()) < MAX_RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = runner.pids()
    assert len(pids) == MAX_RUNNING
    runner.close(0)
    assert all(gone(p) for p in pids)
    events = wait_events(log.path, MAX_RUNNING + 2)
    assert sum(e["reason"] == "killed at guardrun exit" for e in events) == MAX_RUNNING
