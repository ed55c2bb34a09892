"""Helpers to run the real Codex, Gemini and Aider CLIs offline (tests only).

Installed by .ci/run at pinned versions (the same commands as below); a test that needs one
skips when it is absent. What each does offline, observed here (Linux x86-64, Node 20):

Codex CLI 0.171.0 (``npm install --prefix .cache/codex @openai/codex@0.171.0``):
- ``codex login --with-api-key`` reads a key from stdin into ``$CODEX_HOME/auth.json`` (the
  directory must exist); a dummy key is enough to reach the TUI.
- The TUI draws "Ask Codex to do anything" in ~1-2 s but starts its app server for ~8 s more;
  a prompt typed meanwhile waits ("Waiting for startup"), then fails to reach the network and
  retries ("Reconnecting... n/5"). The rollout is created when the prompt is submitted.
- Without ``--no-daemon`` it starts ``codex app-server --listen unix:// --managed-daemon``
  (setsid) that holds the rollout, outlives the TUI and ignored SIGTERM after a prompt.
- Ctrl-C twice or SIGTERM exits 0 ("To continue this session, run codex resume <id>").

Gemini CLI 0.61.0 (``npm install --prefix .cache/gemini @google/gemini-cli@0.61.0``):
- needs ``GEMINI_API_KEY`` (any value), ``settings.json`` choosing the API-key auth and
  ``trustedFolders.json`` trusting the cwd; ``-m gemini-2.5-flash`` skips the model router.
- the prompt "Type your message" is drawn ~4 s after spawn, with the chat already created;
  a prompt shows "Thinking..." and retries for minutes; SIGTERM exits 0.

Aider 0.86.2 (``python -m venv .cache/aider && .cache/aider/bin/pip install aider-chat==0.86.2``):
- with a dummy ``OPENAI_API_KEY`` it prints its banner and a ``>`` prompt in ~5 s (after a
  failed download of litellm's price list) and appends prompts to .aider.chat.history.md;
  SIGTERM ends it by the signal.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from support.claude import REPO_ROOT, child_env

CACHE = REPO_ROOT / ".cache"
CODEX = CACHE / "codex" / "node_modules" / ".bin" / "codex"
GEMINI = CACHE / "gemini" / "node_modules" / ".bin" / "gemini"
AIDER = CACHE / "aider" / "bin" / "aider"
INSTALL = {
    "codex": "npm install --prefix .cache/codex @openai/codex@0.171.0",
    "gemini": "npm install --prefix .cache/gemini @google/gemini-cli@0.61.0",
    "aider": "python3 -m venv .cache/aider && .cache/aider/bin/pip install aider-chat==0.86.2",
}
GEMINI_MODEL = ["-m", "gemini-2.5-flash"]  # no model router: no long wait for the network
AIDER_ARGS = ["--model", "gpt-4o", "--no-git", "--no-show-model-warnings", "--no-analytics",
              "--no-check-update", "--no-show-release-notes", "--no-fancy-input"]  # fmt: skip
CODEX_READY = "Ask Codex to do anything"
GEMINI_READY = "Type your message"


def require(name: str, path: Path) -> Path:
    """``path`` when that CLI is installed; else the test skips, saying how to install it."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"{name} CLI not installed ({INSTALL[name]})")
    return path


def codex_env(tmp: Path) -> dict[str, str]:
    """A logged-in (dummy key) CODEX_HOME under ``tmp``; the environment for the child."""
    home = tmp / "codex-home"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = child_env({"CODEX_HOME": str(home), "HOME": str(tmp)})
    env.pop("OPENAI_API_KEY", None)
    login = subprocess.run(
        [str(CODEX), "login", "--with-api-key"], input="sk-dummy-offline\n", env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    return env


def gemini_env(tmp: Path, *trusted: Path) -> dict[str, str]:
    home = tmp / "gemini-home"
    config = home / ".gemini"
    config.mkdir(parents=True, exist_ok=True)
    settings = {"security": {"auth": {"selectedType": "gemini-api-key"}}}
    (config / "settings.json").write_text(json.dumps(settings))
    folders = {str(p.resolve()): "TRUST_FOLDER" for p in trusted}
    (config / "trustedFolders.json").write_text(json.dumps(folders))
    return child_env({"GEMINI_CLI_HOME": str(home), "HOME": str(home),
                      "GEMINI_API_KEY": "dummy-offline-key"})  # fmt: skip


def aider_env(tmp: Path) -> dict[str, str]:
    return child_env({"HOME": str(tmp), "OPENAI_API_KEY": "sk-dummy-offline"})


def help_text(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=60, env=env)
    return done.stdout + done.stderr
