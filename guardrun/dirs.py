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
