"""``guardrun status|restart|capture`` against real processes that keep live files.

tests/children/live_target.py writes its live file through guardrun.observe.live and
records each SIGUSR1 ("restart") and SIGUSR2 ("capture") in a marker file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from support import CHILDREN, REPO

from guardrun.commands.live import add_live_parsers, run_live, run_signal, run_status
from guardrun.errors import GuardrunError, UsageError

TARGET = CHILDREN / "live_target.py"

Start = Callable[[str, Path], tuple[subprocess.Popen[str], Path]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    procs: list[subprocess.Popen[str]] = []

    # Named like guardrun's console script: `guardrun restart` signals only a guardrun.
    script = tmp_path / "bin" / "guardrun"
    script.parent.mkdir(exist_ok=True)
    shutil.copy(TARGET, script)

    def _start(run_id: str, cwd: Path) -> tuple[subprocess.Popen[str], Path]:
        cwd.mkdir(exist_ok=True)
        marker = tmp_path / f"marker-{run_id}"
        proc = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "state"), str(marker), run_id],
            cwd=cwd,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        return proc, marker

    yield _start
    for p in procs:
        p.terminate()
        p.wait(timeout=5)
        assert p.stdout is not None
        p.stdout.close()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_live_parsers(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(list(argv))


def markers(path: Path, n: int, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(lines := path.read_text().split()) >= n:
            return lines
        time.sleep(0.02)
    return path.read_text().split() if path.exists() else []


A = "20250101T000000Z-aaaaaa"
B = "20250101T000001Z-bbbbbb"


def test_parsers() -> None:
    ns = parse("restart", "123")
    assert ns.live_command == "restart" and ns.run == "123"
    assert parse("capture").run is None
    ns = parse("status", "--watch", "--json")
    assert ns.live_command == "status" and ns.watch and ns.json


def test_restart_and_capture_reach_the_right_run(
    tmp_path: Path, start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    pa, ma = start(A, tmp_path / "a")
    pb, mb = start(B, tmp_path / "b")
    # By pid, by run-id prefix, and by the working directory.
    assert run_live(parse("restart", str(pa.pid)), state, tmp_path) == 0
    assert run_live(parse("capture", "20250101T000001"), state, tmp_path) == 0
    assert run_live(parse("capture"), state, tmp_path / "a") == 0
    assert markers(ma, 2) == ["restart", "capture"]
    assert markers(mb, 1) == ["capture"]
    time.sleep(0.1)  # nothing else arrives late
    assert ma.read_text().split() == ["restart", "capture"]
    assert mb.read_text().split() == ["capture"]
    out = capsys.readouterr().out
    assert f"asked run {A} (pid {pa.pid}) to restart" in out
    assert f"asked run {B} (pid {pb.pid}) to capture state" in out


def test_run_signal_sends_given_signal(tmp_path: Path, start: Start) -> None:
    pa, ma = start(A, tmp_path / "a")
    assert run_signal(parse("restart", A), tmp_path / "state", tmp_path, signal.SIGUSR2) == 0
    assert markers(ma, 1) == ["capture"]


def test_errors_name_the_candidates(tmp_path: Path, start: Start) -> None:
    state = tmp_path / "state"
    with pytest.raises(UsageError, match="no live guardrun runs"):
        run_live(parse("restart"), state, tmp_path)
    pa, _ = start(A, tmp_path / "same")
    pb, _ = start(B, tmp_path / "same")
    with pytest.raises(UsageError, match="2 live runs in") as err:
        run_live(parse("restart"), state, tmp_path / "same")
    assert str(pa.pid) in str(err.value) and str(pb.pid) in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="no live run in"):
        run_live(parse("restart"), state, tmp_path)
    with pytest.raises(UsageError, match="matches 2 runs"):
        run_live(parse("capture", "20250101T00000"), state, tmp_path)
    with pytest.raises(UsageError, match="no live run '99999999'"):
        run_live(parse("capture", "99999999"), state, tmp_path)
    with pytest.raises(UsageError, match="not a pid or run id"):
        run_live(parse("capture", "../../etc"), state, tmp_path)


def test_status_json_and_table(
    tmp_path: Path, start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert run_status(parse("status"), state, tmp_path) == 0
    assert capsys.readouterr().out == "no live guardrun runs\n"
    pa, _ = start(A, tmp_path / "a")
    pb, _ = start(B, tmp_path / "b")
    assert run_status(parse("status", "--json"), state, tmp_path) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["pid"] for r in runs] == [pa.pid, pb.pid]
    assert runs[0]["run_id"] == A and runs[0]["memory_bytes"] == 1_500_000_000
    assert run_status(parse("status"), state, tmp_path) == 0
    table = capsys.readouterr().out
    for text in (str(pa.pid), str(pb.pid), A, B, "claude --model x", "1.5 GB", "warning"):
        assert text in table
    assert "RESTARTS" in table
    # The last 5 minutes from run A's sample history, as a sparkline on its second line.
    runs_dir = state / "projects" / "proj-0123abcd" / "runs"
    runs_dir.mkdir(parents=True)
    now = time.time()
    rows = [{"t": now - 240 + 12 * i, "b": (100 + 10 * i) * 1_000_000} for i in range(20)]
    (runs_dir / f"{A}.samples.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_status(parse("status"), state, tmp_path) == 0
    table = capsys.readouterr().out
    assert "▁" in table and "█" in table, table


def test_status_reports_corrupt_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "live"
    live.mkdir()
    (live / f"{os.getpid()}.json").write_text("{")
    assert run_status(parse("status", "--json"), tmp_path, tmp_path) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "corrupt live file" in captured.err


_WATCH = """
import sys
from pathlib import Path
from guardrun.commands.live import run_status
import argparse
sys.exit(run_status(argparse.Namespace(watch=True, json=False), Path(sys.argv[1]), Path(".")))
"""


def test_status_watch_until_ctrl_c(tmp_path: Path, start: Start) -> None:
    """--watch in a real terminal: redraws with the run, then a new run appears; Ctrl-C ends it."""
    pa, _ = start(A, tmp_path / "a")
    child = pexpect.spawn(
        sys.executable,
        ["-c", _WATCH, str(tmp_path / "state")],
        env=dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200", TERM="xterm"),
        dimensions=(30, 200),
        timeout=10,
    )
    try:
        child.expect(str(pa.pid))
        pb, _ = start(B, tmp_path / "b")
        child.expect(B)
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_a_forged_live_file_never_signals_another_process(tmp_path: Path) -> None:
    """A live file planted for one of the user's processes (not a guardrun), even with the
    right identity, gets no SIGUSR1: most programs die of it."""
    marker = tmp_path / "marker"
    victim = subprocess.Popen(
        [sys.executable, str(TARGET), str(tmp_path / "state"), str(marker), "forged-run"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert victim.stdout is not None and victim.stdout.readline() == "ready\n"
        for identity in ("kept", "none"):
            path = tmp_path / "state" / "live" / f"{victim.pid}.json"
            doc = json.loads(path.read_text())
            if identity == "none":
                doc["identity"] = {}
                path.write_text(json.dumps(doc))
            with pytest.raises(GuardrunError, match="not signalling it"):
                run_signal(
                    parse("restart", str(victim.pid)), tmp_path / "state", tmp_path, signal.SIGUSR1
                )
        time.sleep(0.2)
        assert not marker.exists() and victim.poll() is None
    finally:
        victim.terminate()
        victim.wait(timeout=5)
        assert victim.stdout is not None
        victim.stdout.close()
