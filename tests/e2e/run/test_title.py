"""The terminal title under a real PTY, read as the escape sequences guardrun writes.

guardrun saves the caller's title (CSI 22;0 t) before its first title, keeps the
agent's own title (OSC 0 in the child's output) with its figure beside it, and puts
the caller's title back (CSI 23;0 t) on every way out: a normal exit, a stop by
signal, an emergency stop after restarts are exhausted, and a crash of the command.
"""

from __future__ import annotations

import os
import re
import signal

import pexpect
from support import child, guardrun

PUSH, POP = b"\x1b[22;0t", b"\x1b[23;0t"
TITLE = re.compile(rb"\x1b\]0;([^\x07]*)\x07")


def run_in_pty(*args: str, until: bytes = b"", then: int | None = None) -> tuple[bytes, int]:
    """guardrun ARGS in a real PTY; all it wrote and its exit status. ``then``: a signal
    sent to guardrun once ``until`` was seen."""
    cmd = guardrun(*args)
    p = pexpect.spawn(cmd[0], cmd[1:], timeout=30, env={**os.environ, "TERM": "xterm-256color"})
    out = b""
    if until:
        p.expect(re.escape(until))
        out += (p.before or b"") + (p.after if isinstance(p.after, bytes) else b"")
    if then is not None:
        p.kill(then)
    p.expect(pexpect.EOF)
    out += p.before or b""
    p.close()
    code = p.exitstatus if p.exitstatus is not None else 128 + (p.signalstatus or 0)
    return out, code


def guardrun_titles(out: bytes) -> list[bytes]:
    return [t for t in TITLE.findall(out) if t != b"mine"]


def assert_saved_and_restored(out: bytes) -> None:
    assert out.count(PUSH) == 1, out
    assert out.count(POP) == 1, out
    first = TITLE.search(out, out.index(PUSH))
    assert first is not None and out.index(PUSH) < first.start()
    # Nothing of guardrun's comes after the restore: the caller's title stays.
    assert out.rindex(POP) >= max(m.end() for m in TITLE.finditer(out))


def test_title_saved_shown_and_restored_at_a_normal_exit() -> None:
    out, code = run_in_pty("--interval", "200ms", "--", "sleep", "1.2")
    assert code == 0
    titles = guardrun_titles(out)
    assert titles and titles[0].startswith(b"guardrun: sleep "), out
    # At normal the figure is rough, so the title is not rewritten at every poll.
    assert len(titles) <= 3, titles
    assert_saved_and_restored(out)


def test_the_agents_own_title_is_kept_beside_the_figure() -> None:
    out, code = run_in_pty("--interval", "200ms", "--", *child("titled.py", "mine", "1.5"))
    assert code == 0
    shown = [t for t in guardrun_titles(out) if b"\xc2\xb7 mine" in t]
    assert shown, out  # "1.8 MB · mine": guardrun's figure beside the agent's title
    assert re.match(rb"^[\d.]+ [KMG]?B \xc2\xb7 mine$", shown[-1]), shown
    assert_saved_and_restored(out)


def test_the_first_title_after_the_agents_own_keeps_it() -> None:
    """The race of #27: guardrun's title is queued (composed before the agent set its
    own) and written after the agent's title; it must then carry the agent's title,
    not overwrite it with a stale ``guardrun: NAME FIGURE``. The title is composed when
    the relay writes it."""
    out, code = run_in_pty("--interval", "1s", "--", *child("titled.py", "mine", "2.5"))
    assert code == 0
    agent = out.index(b"\x1b]0;mine\x07")
    after = [m.group(1) for m in TITLE.finditer(out, agent + 1) if m.group(1)]
    assert after, out
    assert all(t.endswith(b"\xc2\xb7 mine") for t in after), after


def test_title_restored_when_guardrun_is_stopped_by_a_signal() -> None:
    out, code = run_in_pty(
        "--interval", "200ms", "--", *child("titled.py", "mine", "30"),
        until=b"READY", then=signal.SIGTERM,
    )  # fmt: skip
    assert code == 128 + signal.SIGTERM  # the child's status: it died of the SIGTERM
    assert_saved_and_restored(out)


def test_title_restored_after_an_emergency_stop() -> None:
    out, code = run_in_pty(
        "--interval", "100ms", "--warning", "30MB", "--critical", "40MB", "--emergency",
        "60MB", "--max-restarts", "0", "--on-exhausted", "stop", "--grace", "1s", "--",
        *child("titled.py", "mine", "30", "--grow-mb", "10"),
    )  # fmt: skip
    assert code == 75
    assert any(b"emergency" in t for t in guardrun_titles(out)), out
    assert_saved_and_restored(out)


def test_title_restored_when_the_command_crashes_for_good() -> None:
    out, code = run_in_pty(
        "--interval", "100ms", "--max-restarts", "0", "--",
        *child("titled.py", "mine", "2.5", "--code", "3"),
    )  # fmt: skip
    assert code == 3
    assert_saved_and_restored(out)
