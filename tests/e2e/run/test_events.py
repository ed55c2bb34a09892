"""The event log: real files, real concurrent writers, a real full disk (/dev/full)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from support import REPO, wait_for

from guardrun.observe.events import EventLog, is_run_id, new_run_id, read_events, run_log_path


def test_run_id_format_and_order() -> None:
    a = new_run_id()
    b = new_run_id()
    assert is_run_id(a) and is_run_id(b)
    assert a != b
    assert a[:16] <= b[:16]


@pytest.mark.parametrize(
    "text",
    ["20260101T000000Z-abc12", "20260101T000000Z-abc1234", "20260101T000000Z-ABC123",
     "20260101T000000Z-abc123\n", "2026010١T000000Z-abc123", "20260101 000000Z-abc123",
     "20260101T000000Y-abc123", "20260101T000000Z_abc123", "../../../etc/passwd-abc12",
     "20260101T00000Z-abc1234", ""],
)  # fmt: skip
def test_run_ids_are_only_what_new_run_id_makes(text: str) -> None:
    assert is_run_id("20260101T000000Z-abc123")
    assert not is_run_id(text)


def test_emit_appends_json_lines_with_modes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "projects" / "p-12345678" / "runs" / "r.jsonl"
    log = EventLog(path, "20250101T000000Z-abcdef")
    ev = log.emit("level_changed", level="warning", memory_bytes=123, reason="sustained")
    log.emit("started", argv=["claude", "--x"], cwd=tmp_path)
    log.close()
    assert log.error is None
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == ev
    assert list(first)[:3] == ["time", "run_id", "event"]
    assert first["event"] == "level_changed" and first["memory_bytes"] == 123
    assert first["run_id"] == "20250101T000000Z-abcdef"
    assert first["time"].endswith("Z") and len(first["time"]) == len("2025-01-01T00:00:00.000Z")
    assert json.loads(lines[1])["cwd"] == str(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


def test_reopen_appends(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with EventLog(path, "x") as log:
        log.emit("started")
    with EventLog(path, "x") as log:
        log.emit("stopped")
    assert [e["event"] for e in read_events(path)] == ["started", "stopped"]


def test_unknown_kind_and_reserved_fields_are_bugs(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "r.jsonl", "x")
    with pytest.raises(ValueError):
        log.emit("levelchanged")
    with pytest.raises(ValueError):
        log.emit("started", time="now")


def test_mirror_gets_each_line(tmp_path: Path) -> None:
    seen: list[str] = []
    log = EventLog(tmp_path / "r.jsonl", "x", mirror=seen.append)
    log.emit("started")
    log.emit("stopped")
    assert [json.loads(s)["event"] for s in seen] == ["started", "stopped"]


def test_broken_mirror_does_not_raise(tmp_path: Path) -> None:
    def broken(line: str) -> None:
        raise OSError("stderr closed")

    log = EventLog(tmp_path / "r.jsonl", "x", mirror=broken)
    log.emit("started")
    assert len(read_events(tmp_path / "r.jsonl")) == 1


def test_unwritable_directory_disables_log_without_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    seen: list[str] = []
    log = EventLog(blocker / "runs" / "r.jsonl", "x", mirror=seen.append)
    assert log.error is not None and "cannot open event log" in log.error
    log.emit("started")
    assert len(seen) == 1


def test_full_disk_disables_log_without_raising() -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    seen: list[str] = []
    log = EventLog(Path("/dev/full"), "x", mirror=seen.append)
    assert log.error is None
    log.emit("started")
    assert log.error is not None and "cannot write event log" in log.error
    log.emit("stopped")  # no retry, no exception
    assert len(seen) == 2


def test_no_path_only_mirrors() -> None:
    seen: list[str] = []
    log = EventLog(None, "x", mirror=seen.append)
    log.emit("started")
    assert log.error is None and len(seen) == 1


_WRITER = """
import sys
from pathlib import Path
from guardrun.observe.events import EventLog
log = EventLog(Path(sys.argv[1]), sys.argv[2])
for i in range(150):
    log.emit("hook_output", n=i, output=sys.argv[2] * 3000)
"""


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Two processes and two threads write 12 KB lines to one file; every line stays whole."""
    path = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag], env=env)
        for tag in ("a", "b")
    ]
    log = EventLog(path, "t")

    def write(tag: str) -> None:
        for i in range(150):
            log.emit("hook_output", n=i, output=tag * 3000)

    threads = [threading.Thread(target=write, args=(t,)) for t in ("c", "d")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=30) == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 600
    for line in lines:
        ev = json.loads(line)
        assert len(set(ev["output"])) == 1


def test_read_events_skips_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    log = EventLog(path, "x")
    log.emit("started")
    log.close()
    with open(path, "a") as f:
        f.write('{"time": "2025-')
    assert [e["event"] for e in read_events(path)] == ["started"]
    assert read_events(tmp_path / "missing.jsonl") == []


def test_run_log_path_checks_id(tmp_path: Path) -> None:
    rid = new_run_id()
    assert run_log_path(tmp_path, rid) == str(tmp_path / "runs" / f"{rid}.jsonl")
    with pytest.raises(ValueError):
        run_log_path(tmp_path, "../../etc/passwd")


# Secrets by their shape (state/redact.py), built from pieces so that no whole one sits in
# this file: an Anthropic key, a GitHub token and a Slack token.
OUT_SECRET = "sk-ant-api03-" + "Q" * 40
ARG_SECRET = "ghp_" + "R" * 36
PATH_SECRET = "xoxb-" + "1234567890-" + "abcdefghij"


def test_secrets_outside_argv_are_scrubbed_from_each_line(tmp_path: Path) -> None:
    """The line scrub, not the fields' authors: a reason, an error and a path with a secret
    in them, as any caller may pass (argv is redacted before an event is built; these are
    not)."""
    from guardrun.state.redact import Redactor

    path = tmp_path / "r.jsonl"
    seen: list[str] = []
    log = EventLog(path, "x", mirror=seen.append, scrub=Redactor().redact)
    log.emit("capture_failed", reason=f"token {OUT_SECRET} refused", error=f"auth={ARG_SECRET}")
    log.emit("state_captured", path=tmp_path / PATH_SECRET / "s.json.gz", reason="warning")
    log.close()
    text = path.read_text()
    for secret in (OUT_SECRET, ARG_SECRET, PATH_SECRET):
        assert secret not in text and not any(secret in line for line in seen)
    first, second = read_events(path)  # still valid JSON, one object a line
    assert first["reason"] == "token [REDACTED:anthropic_key] refused"
    assert "[REDACTED:" in first["error"]
    assert second["path"] == str(tmp_path / "[REDACTED:slack_token]" / "s.json.gz")


def test_guardrun_run_log_never_holds_a_hook_output_hook_argv_or_path_secret(
    tmp_path: Path,
) -> None:
    """End to end: a state saved (SIGUSR2) under a state dir whose path holds a secret, and
    an on_exit hook whose argv holds one and whose output prints another. None of the three
    reaches runs/*.jsonl, though each event that carried one is there."""
    state_home = tmp_path / PATH_SECRET
    state_home.mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    code = "print('key:', 'sk-ant-api03-' + 'Q' * 40)"  # the output's secret, not argv's
    (project / ".guardrun.yaml").write_text(
        f"hooks:\n  on_exit: [{sys.executable!r}, '-c', {code!r}, {ARG_SECRET!r}]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardrun", "--config", ".guardrun.yaml", "--no-pty",
         "--", sys.executable, "-c", "import time; time.sleep(60)"],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "XDG_STATE_HOME": str(state_home)},
    )  # fmt: skip
    try:
        runs = state_home / "guardrun" / "projects"

        def logged(kind: str) -> list[dict[str, Any]]:
            return [e for p in runs.glob("*/runs/*.jsonl") for e in read_events(p)
                    if e["event"] == kind]  # fmt: skip

        wait_for(lambda: logged("started"), timeout=15)
        proc.send_signal(signal.SIGUSR2)  # save a state now
        wait_for(lambda: logged("state_captured"), timeout=15)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    (log,) = runs.glob("*/runs/*.jsonl")
    text = log.read_text()
    for secret in (OUT_SECRET, ARG_SECRET, PATH_SECRET):
        assert secret not in text, err
    events = read_events(log)
    captured = [e for e in events if e["event"] == "state_captured"]
    assert [e["reason"] for e in captured][:1] == ["manual"]
    assert all("[REDACTED:slack_token]" in e["path"] for e in captured)
    (hook,) = [e for e in events if e["event"] == "hook_output"]
    assert hook["output"] == "key: [REDACTED:anthropic_key]\n"
    assert hook["argv"][-1] == "[REDACTED:github_token]"
