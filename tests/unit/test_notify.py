"""Notifications against a real pty pair, and a fake notify-send/osascript program on PATH.

The fake desktop notifiers are real executables the test writes (they record their argv);
this machine has no desktop session and no macOS, so the real ones cannot be shown here.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrun.observe.events import EventLog, read_events
from guardrun.observe.notify import Notifier, format_title, title_bytes


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def read_all(fd: int, wait: float = 0.2) -> bytes:
    data = b""
    while select.select([fd], [], [], wait)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        wait = 0.05
    return data


def test_format_title() -> None:
    assert format_title("claude", 11_800_000_000, "warning", 1.0) == (
        "guardrun: claude 11.8 GB ▲ warning"
    )
    assert format_title("/usr/bin/codex", 1_870_000_000, "critical", -5) == (
        "guardrun: codex 1.9 GB ▼ critical"
    )
    assert format_title("aider", 2_000_000_000, "critical") == "guardrun: aider 2.0 GB critical"
    # At normal only a rough figure, so the title is not rewritten at every poll.
    assert format_title("/usr/bin/codex", 900_400_000, "normal", -5) == "guardrun: codex 900 MB"
    assert format_title("sleep", 1_834_000, "normal") == "guardrun: sleep 1.8 MB"
    assert format_title("claude", 12_345_000_000, "normal", 1.0) == "guardrun: claude 12 GB"
    # The agent's own title is kept, with guardrun's figure beside it.
    assert format_title("claude", 3_200_000_000, "normal", 0, "✳ Claude Code") == (
        "3.2 GB · ✳ Claude Code"
    )
    assert format_title("claude", 3_240_000_000, "warning", 1, "✳ Claude Code") == (
        "3.2 GB ▲ warning · ✳ Claude Code"
    )


def test_format_title_with_a_growth_rate() -> None:
    """Issue 10's title: the rate and the time to the next threshold, both coarse."""
    rate = 40e6 / 60  # 40 MB/min
    assert (
        format_title("claude", 3_240_000_000, "normal", growth=rate, eta_critical=25 * 60)
        == "guardrun: claude 3.2 GB ▲ +40 MB/min · critical in ~25 min"
    )
    assert format_title(
        "claude",
        9_240_000_000,
        "critical",
        growth=rate,
        eta_emergency=130,
        agent_title="✳ Claude Code",
    ) == ("9.2 GB ▲ +40 MB/min · critical · emergency in ~2 min · ✳ Claude Code")
    # No rate (flat, falling, or not known yet): as before.
    assert format_title("claude", 3_240_000_000, "normal", growth=None) == "guardrun: claude 3.2 GB"


def test_title_push_set_and_restore_on_pty(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    n = Notifier(title=True, bell=True, desktop="false", out_fd=slave)
    n.title("guardrun: claude 1.0 GB ▲ warning")
    assert read_all(master) == (
        b"\x1b[22;0t\x1b]0;guardrun: claude 1.0 GB \xe2\x96\xb2 warning\x07"
    )
    n.title("second")
    assert read_all(master) == b"\x1b]0;second\x07"  # pushed once only
    n.bell()
    assert read_all(master) == b"\x07"
    n.restore_title()
    assert read_all(master) == b"\x1b]0;\x07\x1b[23;0t"
    n.restore_title()
    assert read_all(master, 0.05) == b""


def test_title_strips_control_characters(pty_pair: tuple[int, int]) -> None:
    """An ESC or BEL in a command name must not end the OSC and reach the terminal."""
    assert title_bytes("evil\x1b]0;x\x07\x9bname\n") == b"\x1b]0;evil]0;xname\x07"
    master, slave = pty_pair
    Notifier(title=True, bell=False, desktop="false", out_fd=slave).title("a\x1bb")
    assert read_all(master).endswith(b"\x1b]0;ab\x07")


def test_disabled_title_and_bell_write_nothing(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    n = Notifier(title=False, bell=False, desktop="false", out_fd=slave)
    n.title("x")
    n.bell()
    n.restore_title()
    assert read_all(master, 0.1) == b""


def test_not_a_tty_writes_nothing() -> None:
    r, w = os.pipe()
    try:
        n = Notifier(title=True, bell=True, desktop="false", out_fd=w)
        n.title("x")
        n.bell()
        n.restore_title()
        assert select.select([r], [], [], 0.1)[0] == []
        Notifier(title=True, bell=True, desktop="false", out_fd=None).title("x")
    finally:
        os.close(r)
        os.close(w)


def test_closed_terminal_never_raises(pty_pair: tuple[int, int]) -> None:
    """A closed descriptor (EBADF) and a hung-up terminal (EIO): no call raises, and after
    the first failed write nothing more goes to that descriptor number, which may since
    have been reused for another file (here: the terminal again, which must stay silent)."""
    master, slave = pty_pair
    fd = os.dup(slave)
    n = Notifier(title=True, bell=True, desktop="false", out_fd=fd)
    os.close(fd)
    n.title("x")  # EBADF
    n.bell()
    n.restore_title()
    os.dup2(slave, fd)  # the number names a terminal again
    try:
        n.title("y")
        n.bell()
        n.restore_title()
        assert read_all(master, 0.1) == b""
    finally:
        os.close(fd)
    hung_master, hung_slave = os.openpty()
    try:
        hung = Notifier(title=True, bell=True, desktop="false", out_fd=hung_slave)
        os.close(hung_master)  # the terminal's other side is gone: every write is EIO
        with pytest.raises(OSError):
            os.write(hung_slave, b"x")  # the failure the notifier has to absorb
        hung.title("x")
        hung.bell()
        hung.restore_title()
    finally:
        os.close(hung_slave)


def _fake_notifier(bindir: Path, name: str, record: Path) -> None:
    bindir.mkdir(exist_ok=True)
    prog = bindir / name
    prog.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    prog.chmod(0o755)


def _wait_lines(path: Path, n: int = 1, timeout: float = 5.0) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= n:
                return [json.loads(x) for x in lines]
        time.sleep(0.02)
    raise AssertionError(f"{path} never got {n} lines")


def _waiting_notifier(bindir: Path, name: str, record: Path, release: Path) -> None:
    """A notifier that records its argv, then waits for ``release`` (20 s at most)."""
    bindir.mkdir(exist_ok=True)
    prog = bindir / name
    prog.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "deadline = time.monotonic() + 20\n"
        f"while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        f"word = 'released' if os.path.exists({str(release)!r}) else 'gave up'\n"
        f"open({str(record)!r}, 'a').write(json.dumps([word]) + '\\n')\n"
    )
    prog.chmod(0o755)


def test_desktop_auto_runs_notify_send_without_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notifier runs in the background: desktop() returns while it is still running
    (it waits for a file the test writes only after desktop() returned)."""
    record, release = tmp_path / "argv.jsonl", tmp_path / "release"
    _waiting_notifier(tmp_path / "bin", "notify-send", record, release)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    log = EventLog(tmp_path / "r.jsonl", "x")
    n = Notifier(title=True, bell=True, desktop="auto", out_fd=None, log=log, platform="linux")
    assert n.desktop("guardrun: claude at warning", "-11.8 GB; $(id) `x`") is True
    release.touch()
    argv, end = _wait_lines(record, 2, timeout=15)
    assert end == ["released"]  # it was still waiting when desktop() returned
    assert argv == [
        "--app-name=guardrun",
        "--",
        "guardrun: claude at warning",
        "-11.8 GB; $(id) `x`",
    ]
    (ev,) = read_events(tmp_path / "r.jsonl")
    assert ev["event"] == "notify" and ev["channel"] == "desktop"


def test_desktop_osascript_on_macos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS cannot run here: a fake osascript records the AppleScript it was given."""
    record = tmp_path / "argv.jsonl"
    _fake_notifier(tmp_path / "bin", "osascript", record)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    n = Notifier(title=False, bell=False, desktop="true", out_fd=None, platform="darwin")
    assert n.desktop('say "hi"', "back\\slash") is True
    (argv,) = _wait_lines(record)
    assert argv == ["-e", 'display notification "back\\\\slash" with title "say \\"hi\\""']


def test_desktop_missing_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    auto = Notifier(title=False, bell=False, desktop="auto", out_fd=None, platform="linux")
    assert auto.error is None
    assert auto.desktop("a", "b") is False
    forced = Notifier(title=False, bell=False, desktop="true", out_fd=None, platform="linux")
    assert forced.error is not None and "notify-send" in forced.error
    assert forced.desktop("a", "b") is False
    with pytest.raises(ValueError):
        Notifier(title=False, bell=False, desktop="yes", out_fd=None)


def test_desktop_false_ignores_program_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "argv.jsonl"
    _fake_notifier(tmp_path / "bin", "notify-send", record)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    n = Notifier(title=False, bell=False, desktop="false", out_fd=None, platform="linux")
    assert n.desktop("a", "b") is False
    time.sleep(0.1)
    assert not record.exists()
