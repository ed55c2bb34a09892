"""Helpers to run the real Claude Code CLI offline under pexpect (tests only).

Install (the same command .ci/run uses)::

    npm install --prefix .cache/claude @anthropic-ai/claude-code@2.1.197

What 2.1.197 does offline, observed here (Linux x86-64, native binary; the npm package's
postinstall links ``bin/claude.exe`` to the platform package's ELF, so the process is the
binary itself, its comm ``claude``):
- ``claude --version`` answers in ~0.1 s and needs no config.
- With ``prepare_config`` the prompt is drawn ~0.7 s after spawn: a banner, a ``❯`` input line
  and a footer "? for shortcuts ... Not logged in · Run /login" (``PROMPT_READY``).
  ``sessions/<pid>.json`` appears at about the same moment (wait for it separately:
  it can trail the footer) as ``{"pid", "sessionId", "cwd", "startedAt" (ms), "procStart"
  (field 22 of /proc/<pid>/stat), "version", "kind": "interactive", "entrypoint": "cli",
  "name", ...}``, mode 0644 in a 0700 directory.
- The transcript ``projects/<encoded cwd>/<sessionId>.jsonl`` (0600) is created at the first
  prompt, starting with ``mode``/``permission-mode``/``file-history-snapshot`` lines that have
  no ``cwd``. A prompt is answered at once by a synthetic assistant line "Not logged in ·
  Please run /login" (``isApiErrorMessage``, model ``<synthetic>``) and a
  ``system/turn_duration`` line. The screen shows the reply ~0.1-0.5 s before the lines are in
  the file, and in 2 of 10 runs the reply line was written BEFORE the prompt line.
- ``history.jsonl`` gets ``{"display", "pastedContents", "timestamp", "project",
  "sessionId"}`` per prompt (``/clear`` included).
- ``/clear`` starts a new session id within ~0.2 s: a new transcript (its first lines are an
  ``isMeta`` caveat and the ``<command-name>/clear</command-name>`` line) and
  ``sessions/<pid>.json`` switches to it; the old transcript stays.
- ``--session-id X`` starts session X; ``--resume X`` reprints the old conversation at once
  (~0.5 s) and appends to the same transcript under the same id.
- Ctrl-C twice or SIGTERM exit cleanly: "claude --resume <id>" is printed,
  ``sessions/<pid>.json`` removed and ``lastSessionId`` written into ``.claude.json``. After
  SIGKILL the sessions file stays behind.
- The UI draws spaces as cursor moves (``ESC[1C``), so on-screen text is matched here with all
  escape sequences and whitespace removed (``squash``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pexpect

from support import REPO

REPO_ROOT = REPO
DEFAULT_BIN = REPO_ROOT / ".cache" / "claude" / "node_modules" / ".bin" / "claude"
INSTALL_HINT = "npm install --prefix .cache/claude @anthropic-ai/claude-code@2.1.197"

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-byte escapes (ESC =, ESC >, ...).
_ESCAPES = re.compile(r"\x1b\[[0-9;?<>=!]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_SPACE = re.compile(r"\s+")

PROMPT_READY = "Not logged in"  # the footer, drawn once the input box is live


def claude_bin() -> Path | None:
    """The CLI to test: $GUARDRUN_TEST_CLAUDE, else the repo's .cache install; None if absent."""
    named = os.environ.get("GUARDRUN_TEST_CLAUDE")
    path = Path(named) if named else DEFAULT_BIN
    return path if path.is_file() and os.access(path, os.X_OK) else None


def prepare_config(tmp: Path, cwd: Path) -> dict[str, str]:
    """A fresh config dir under ``tmp`` that skips onboarding and trusts ``cwd``.

    Returns the environment variables to add for the child. The path in ``projects`` must be the
    resolved cwd, which is what Claude Code compares against.
    """
    config = tmp / "claude-config"
    config.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings = {
        "hasCompletedOnboarding": True,
        "projects": {str(cwd.resolve()): {"hasTrustDialogAccepted": True}},
    }
    (config / ".claude.json").write_text(json.dumps(settings), encoding="utf-8")
    return {
        "CLAUDE_CONFIG_DIR": str(config),
        "DISABLE_AUTOUPDATER": "1",
        # No network here: skip telemetry, error reporting and update checks.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }


_CI = re.compile(r"CI$|CONTINUOUS_INTEGRATION$|CI_")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """os.environ without credentials that would make the CLI try the network, and without
    the variables that tell a CLI it runs in CI (Gemini's `is-in-ci`: ``CI``,
    ``CONTINUOUS_INTEGRATION``, any ``CI_*``; then it is not interactive, prints "No input
    provided via stdin" and exits 42), plus ``extra``: these tests are a person at a terminal."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
        and not _CI.match(k)
    }
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def squash(text: str) -> str:
    """Screen text with escape sequences and all whitespace removed, for robust matching."""
    return _SPACE.sub("", _ESCAPES.sub("", text))


class Screen:
    """Everything a pexpect child printed so far, searchable as squashed text."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.raw = ""

    def _pump(self, timeout: float) -> bool:
        try:
            chunk = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False
        self.raw += chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        return True

    def wait_for(self, text: str, timeout: float = 15.0, start: int = 0) -> int:
        """Wait until ``text`` appears on screen after raw offset ``start``; return the new end.

        Raises AssertionError with the tail of the screen when it does not appear in time.
        """
        want = squash(text)
        deadline = time.monotonic() + timeout
        while True:
            if want in squash(self.raw[start:]):
                return len(self.raw)
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.2)):
                if want in squash(self.raw[start:]):
                    return len(self.raw)
                tail = squash(self.raw[-2000:])[-600:]
                raise AssertionError(f"{text!r} not on screen after {timeout}s; screen: {tail!r}")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._pump(min(0.1, deadline - time.monotonic())):
            pass


def spawn(
    argv: Sequence[str], cwd: Path, env: dict[str, str], **kwargs: Any
) -> tuple[pexpect.spawn, Screen]:
    """Start ``argv`` in a 40x120 PTY; returns the child and its screen."""
    child = pexpect.spawn(
        argv[0], list(argv[1:]), cwd=str(cwd), env=env, dimensions=(40, 120), **kwargs
    )
    return child, Screen(child)


def type_prompt(screen: Screen, text: str, timeout: float = 15.0) -> None:
    """Type ``text``, wait for it to be echoed, then press Enter: a slow machine still gets the
    whole text into the input box before it is submitted."""
    mark = len(screen.raw)
    screen.child.send(text)
    screen.wait_for(text, timeout=timeout, start=mark)
    screen.child.send("\r")


def wait_for_file(path_glob: str, root: Path, timeout: float = 15.0) -> list[Path]:
    """Poll (every 50 ms) until ``root.glob(path_glob)`` matches something; return the matches."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(root.glob(path_glob))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_until(predicate: Any, timeout: float = 15.0, step: float = 0.05) -> Any:
    """Poll ``predicate()`` until it returns something truthy; return that (or the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def quit_claude(child: pexpect.spawn, timeout: float = 10.0) -> None:
    """Exit cleanly with Ctrl-C twice (what a user does); force-kill if it does not exit."""
    if not child.isalive():
        return
    child.sendcontrol("c")
    time.sleep(0.3)
    child.sendcontrol("c")
    try:
        child.expect(pexpect.EOF, timeout=timeout)
    except pexpect.TIMEOUT:
        child.terminate(force=True)
    child.close()


FAKE_SESSION = "7b0e6f1c-2d4a-4c8e-9f3b-5a1d2c3e4f60"


def big_transcript(path: Path, size: int) -> Path:
    """A transcript of about ``size`` bytes: real Claude Code lines (the shared fixture)
    repeated, the fixture itself at the end, written once and reused when it is there."""
    from support import CLAUDE_FIXTURES

    fixture = CLAUDE_FIXTURES / "5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl"
    if not fixture.exists():
        fixture = Path("/work/shared/fixtures/claude") / fixture.name
    data = fixture.read_bytes()
    if path.exists() and path.stat().st_size >= size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block = data * max(1, (8 << 20) // len(data))
    with open(path, "wb") as f:
        written = 0
        while written + len(block) + len(data) < size:
            f.write(block)
            written += len(block)
        while written + len(data) < size:
            f.write(data)
            written += len(data)
        f.write(data)
    return path


def fake_claude(
    tmp: Path, cwd: Path, transcript_bytes: int, session: str = FAKE_SESSION
) -> tuple[Path, dict[str, str], Path]:
    """``claude`` as tests/children/fake_claude.py (a script of that name: guardrun knows
    an agent by its command's name), a config dir holding a transcript of
    ``transcript_bytes`` for ``cwd``, and the environment to run it with (add FAKE_LEAK,
    FAKE_APPEND, FAKE_TICK as wanted). Returns (the command, the env, the transcript)."""
    import sys

    from support import CHILDREN

    config = tmp / "claude-config"
    encoded = re.sub(r"[^A-Za-z0-9]", "-", str(cwd))
    transcript = big_transcript(config / "projects" / encoded / f"{session}.jsonl",
                                transcript_bytes)  # fmt: skip
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    claude = bin_dir / "claude"
    claude.write_text(f'#!/bin/sh\nexec {sys.executable} {CHILDREN / "fake_claude.py"} "$@"\n')
    claude.chmod(0o755)
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config), "FAKE_SESSION": session,
           "FAKE_OUT": str(tmp / "fake-claude.out")}  # fmt: skip
    return claude, env, transcript
