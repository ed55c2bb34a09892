"""Where guardrun's user config and state live: platformdirs' answer, computed
directly on Linux (the XDG base directory spec) because importing platformdirs is a
cost of every start-up (docs/benchmarks.md); elsewhere platformdirs decides. Paths are strings, as
platformdirs gives them: pathlib's import is not for every start either."""

from __future__ import annotations

import os

from guardrun.platform import IS_LINUX

APP = "guardrun"


def _xdg(var: str, fallback: str) -> str:
    # As platformdirs: an unset or blank variable means the default.
    value = os.environ.get(var, "").strip()
    return os.path.join(value if value else os.path.expanduser(fallback), APP)


def user_config_dir() -> str:
    if IS_LINUX:
        return _xdg("XDG_CONFIG_HOME", "~/.config")
    import platformdirs

    return str(platformdirs.user_config_dir(APP))


def user_state_dir() -> str:
    if IS_LINUX:
        return _xdg("XDG_STATE_HOME", "~/.local/state")
    import platformdirs

    return str(platformdirs.user_state_dir(APP))


def make_private_dirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and missing parents, all 0700 (``os.makedirs`` gives parents 0777-umask)."""
    missing: list[str] = []
    p = os.path.abspath(path)
    while not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            if not os.path.isdir(d):
                raise
