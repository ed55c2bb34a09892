"""The working directory and its git facts, read with ``git`` and a short timeout.

Three ``git`` processes run at once (spawning costs a few ms each, so running
them side by side keeps capture fast): ``rev-parse --show-toplevel``, ``status
--porcelain=v2 --branch -z`` (branch, HEAD, upstream, ahead/behind, dirty and
untracked files in one call) and the remote URLs from ``config``. Git runs with
``--no-optional-locks`` so that guardrun's status never takes ``index.lock``
from under the agent's own git commands. Outside a repository, or without git,
the git facts are None: that is not an error.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path
    from typing import Any

MAX_FILES = 100  # dirty and untracked lists are capped; the counts are not
_ENV_OVERRIDES = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def _spawn(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    import subprocess  # only when capturing: the supervisor imports this module at start

    env = {**os.environ, **_ENV_OVERRIDES}
    return subprocess.Popen(
        ["git", "--no-optional-locks", "-C", str(cwd), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, bytes, bytes]:
    import subprocess

    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return -1, b"", b"timed out"
    return proc.returncode, out, err


def project_root(cwd: str | os.PathLike[str], timeout: float = 2.0) -> str:
    """The git top level containing ``cwd``, else ``cwd`` itself (resolved).

    Found by looking for ``.git`` (a directory, or the file of a worktree or
    submodule) upward, as ``git rev-parse --show-toplevel`` would: this runs at
    every start, and spawning git costs milliseconds where a few stats cost
    microseconds. ``timeout`` is kept for callers; nothing here can hang.
    """
    start = d = os.path.realpath(cwd)  # as Path.resolve(): links followed, none required
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return start
        d = parent


def project_facts(cwd: Path, timeout: float = 2.0) -> dict[str, Any]:
    """``{"root", "git", "git_error"}``; ``git`` is None outside a repository or without git."""
    from pathlib import Path  # at a capture: every start imports this module

    cwd = Path(cwd)
    facts: dict[str, Any] = {"root": str(cwd.resolve()), "git": None, "git_error": None}
    try:
        procs = [
            _spawn(cwd, "rev-parse", "--show-toplevel"),
            _spawn(cwd, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"),
            _spawn(cwd, "config", "--get-regexp", r"^remote\..*\.url$"),
        ]
    except OSError as err:  # git is not installed, or cwd is gone
        facts["git_error"] = f"git: {err.strerror or err}"
        return facts
    deadline = time.monotonic() + timeout  # one budget for all three, not three
    results = [_collect(p, max(0.01, deadline - time.monotonic())) for p in procs]
    (top_code, top, top_err), (st_code, status, st_err), (_, remotes, _) = results
    if top_code != 0:
        message = top_err.decode(errors="replace").strip()
        if "not a git repository" not in message:
            facts["git_error"] = f"git rev-parse: {message.splitlines()[-1] if message else ''}"
        return facts
    facts["root"] = top.decode(errors="surrogateescape").strip()
    if st_code != 0:
        facts["git_error"] = f"git status: {_clip(st_err.decode(errors='replace').strip())}"
        return facts
    git = parse_status(status)
    git["remote"] = _pick_remote(remotes.decode(errors="surrogateescape"), git.pop("upstream"))
    facts["git"] = git
    return facts


def _clip(text: str) -> str:
    """git's message in 200 characters, redacted first (a remote's URL may hold a password)."""
    from guardrun.state.clip import clip

    return clip(text, 200)


def parse_status(raw: bytes) -> dict[str, Any]:
    """Parse ``git status --porcelain=v2 --branch -z`` output.

    Headers are ``# branch.oid <sha>|(initial)``, ``# branch.head <name>|(detached)``,
    ``# branch.upstream <remote/branch>``, ``# branch.ab +A -B``. Entries: ``1 XY ...
    <path>`` (changed), ``2 XY ... <path>`` followed by a NUL and the original path
    (renamed), ``u XY ... <path>`` (unmerged), ``? <path>`` (untracked). The path is the
    last field, after 8 others for ``1``, 9 for ``2`` and 10 for ``u``.
    """
    git: dict[str, Any] = {"branch": None, "head": None, "detached": False, "upstream": None,
                           "ahead": None, "behind": None, "dirty": [], "dirty_count": 0,
                           "untracked": [], "untracked_count": 0}  # fmt: skip
    fields = raw.decode(errors="surrogateescape").split("\0")
    skip_next = False
    for item in fields:
        if skip_next:  # the original path of a rename
            skip_next = False
            continue
        if item.startswith("# "):
            _header(git, item[2:])
        elif item[:2] in ("1 ", "2 ", "u "):
            kind = item[0]
            parts = item.split(" ", {"1": 8, "2": 9, "u": 10}[kind])
            xy = parts[1].replace(".", " ")
            git["dirty_count"] += 1
            if len(git["dirty"]) < MAX_FILES:
                git["dirty"].append(f"{xy} {parts[-1]}")
            skip_next = kind == "2"
        elif item.startswith("? "):
            git["untracked_count"] += 1
            if len(git["untracked"]) < MAX_FILES:
                git["untracked"].append(item[2:])
    return git


def _header(git: dict[str, Any], line: str) -> None:
    key, _, value = line.partition(" ")
    if key == "branch.oid":
        git["head"] = None if value == "(initial)" else value
    elif key == "branch.head":
        git["detached"] = value == "(detached)"
        git["branch"] = None if git["detached"] else value
    elif key == "branch.upstream":
        git["upstream"] = value
    elif key == "branch.ab":
        ahead, _, behind = value.partition(" ")
        git["ahead"], git["behind"] = int(ahead.lstrip("+")), int(behind.lstrip("-"))


def _pick_remote(config: str, upstream: str | None) -> str | None:
    """The URL of the upstream's remote, else ``origin``, else the first remote."""
    urls: dict[str, str] = {}
    for line in config.splitlines():
        key, _, url = line.partition(" ")
        if key.startswith("remote.") and key.endswith(".url"):
            urls.setdefault(key[len("remote.") : -len(".url")], url)
    if upstream:  # remote names may hold slashes: the longest name that prefixes it
        for name in sorted(urls, key=len, reverse=True):
            if upstream.startswith(name + "/"):
                return urls[name]
    return urls.get("origin") or next(iter(urls.values()), None)
