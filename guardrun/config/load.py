"""The effective configuration, layered from defaults, files, environment and flags.

Sources, lowest to highest (docs/configuration.md): built-in defaults < user file < project file
(nearest ``.guardrun.yaml`` from the working directory up) < ``GUARDRUN_*`` variables <
flags, merged per key. Every value is parsed where it is read, so an error names its
file and line, variable or flag. Keys, types and defaults live in ``config.schema``,
value parsing in ``config.values``, and YAML reading in ``config.yaml``, which is
imported only when a file exists.
"""

import os
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from guardrun.config.schema import (
    BY_ENV,
    BY_PATH,
    KEYS,
    SECTION_TYPES,
    SECTIONS,
    TOP_LEVEL,
    Config,
    GpuConfig,
    HooksConfig,
    Key,
    MemoryConfig,
    NotifyConfig,
    RestartConfig,
    StateConfig,
    SystemConfig,
)
from guardrun.config.values import parse_value, render_value
from guardrun.errors import ConfigError
from guardrun.units import Threshold

if TYPE_CHECKING:
    from pathlib import Path

    from guardrun.config.trust import Held

__all__ = [
    "Config",
    "ConfigError",
    "GpuConfig",
    "HooksConfig",
    "MemoryConfig",
    "NotifyConfig",
    "RestartConfig",
    "StateConfig",
    "SystemConfig",
    "default_config",
    "load_config",
]

PROJECT_FILE = ".guardrun.yaml"
USER_FILE = "config.yaml"
CONFIG_HOME_ENV = "GUARDRUN_CONFIG_HOME"
# GUARDRUN_ variables that guardrun itself uses and that are not configuration keys: the
# config home, and what hooks and children are given. A new one that starts like a key
# (GUARDRUN_MEMORY_..., GUARDRUN_STATE_...) must be added here or it reads as a typo.
NON_CONFIG_ENV = frozenset(
    {
        CONFIG_HOME_ENV,
        "GUARDRUN_RUN_ID",
        "GUARDRUN_EVENT",
        "GUARDRUN_PID",
        "GUARDRUN_CHILD_PID",
        "GUARDRUN_MEMORY_BYTES",
        "GUARDRUN_LEVEL",
        "GUARDRUN_STATE_FILE",
    }
)
NON_CONFIG_ENV_PREFIXES = ("GUARDRUN_TEST_",)

# Precedence ranks; a cross-key error blames the value from the higher source.
RANK_DEFAULT, RANK_USER, RANK_PROJECT, RANK_ENV, RANK_FLAG = range(5)


class Entry(NamedTuple):
    """One key's value as read from one source."""

    value: object
    source: str  # as in Config.sources
    where: str  # message prefix: "<file>:<line>: <key>", "GUARDRUN_X" or "--flag"
    rank: int


def default_config() -> Config:
    """The built-in defaults, every source ``"default"``."""
    return _build(_defaults(), [])


def load_config(
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    flags: Mapping[str, tuple[object, str]],
    config_path: str | os.PathLike[str] | None = None,
    no_config: bool = False,
    user_config_dir: str | os.PathLike[str] | None = None,
) -> Config:
    """Layer every source; raise ConfigError (one line: where, key, what) on any mistake.

    ``flags`` maps a dotted key to (value, flag name); a value of None means "not given".
    ``config_path`` replaces the discovered project file; ``no_config`` skips both files.
    Paths are strings until there is a file to read: a run without one does not import
    pathlib (nor yaml).
    """
    here = os.path.abspath(cwd)
    entries = _defaults()
    found: list[tuple[str, int]] = []
    notes: list[str] = []
    if not no_config:
        user = _user_file(env, user_config_dir)
        if os.path.exists(user):
            found.append((user, RANK_USER))
        # --config PATH is the user's own choice, typed by them: trusted like their user
        # file. Only a file found by walking up from cwd is a stranger's until trusted.
        project = (
            os.path.join(here, os.path.expanduser(config_path))
            if config_path is not None
            else discover(here, notes)
        )
        if project is not None:
            found.append((project, RANK_PROJECT))
    files: list[Path] = []
    held: list[Held] = []
    trusted: dict[str, str] = {}
    if found:
        import pathlib

        from guardrun.config import trust
        from guardrun.config.yaml import parse_text, read_text  # yaml only for a file

        for name, rank in found:
            path = pathlib.Path(name)
            files.append(path)
            shown = _display(path, pathlib.Path(here))
            text = read_text(path, shown)
            stranger = rank == RANK_PROJECT and config_path is None
            if stranger:
                key_path = trust.record_key(os.fspath(path))
                ok = trust.is_trusted(key_path, trust.digest(text))
                trusted[key_path] = "trusted" if ok else "not trusted"
                stranger = not ok
            elif rank == RANK_PROJECT:
                trusted[os.fspath(path)] = "given with --config: trusted"
            for dotted, raw, line in parse_text(text, shown):
                where = f"{shown}:{line}"
                key = BY_PATH[dotted]
                entry = _entry(key, raw, path.parent, f"{where}: {dotted}", where, rank)
                if stranger:
                    why = trust.needs_trust(key, entry.value, _DEFAULTS[dotted].value)
                    if why is not None:
                        held.append(trust.Held(dotted, where, why))
                        continue
                entries[dotted] = entry
    entries.update(_env_entries(env, here))
    entries.update(_flag_entries(flags, here))
    check_entries(entries)
    cfg = _build(entries, files)
    cfg.held, cfg.notes, cfg.trusted = held, notes, trusted
    return cfg


_DEFAULTS: dict[str, Entry] = {}


def _defaults() -> dict[str, Entry]:
    """Parsed once per process; lists are copied so no Config shares one with another."""
    if not _DEFAULTS:
        for k in KEYS:
            value = parse_value(k, k.default, "/")
            _DEFAULTS[k.path] = Entry(value, "default", k.path, RANK_DEFAULT)
    return {
        path: e._replace(value=list(e.value)) if isinstance(e.value, list) else e
        for path, e in _DEFAULTS.items()
    }


def _entry(
    key: Key, raw: object, base: str | os.PathLike[str], where: str, source: str, rank: int
) -> Entry:
    try:
        value = parse_value(key, raw, base)
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    return Entry(value, source, where, rank)


def _user_file(env: Mapping[str, str], user_config_dir: str | os.PathLike[str] | None) -> str:
    if user_config_dir is None and env.get(CONFIG_HOME_ENV):
        user_config_dir = os.path.expanduser(env[CONFIG_HOME_ENV])
    if user_config_dir is None:
        from guardrun.dirs import user_config_dir as default_dir

        user_config_dir = default_dir()
    return os.path.abspath(os.path.join(user_config_dir, USER_FILE))


def discover(cwd: str, notes: list[str]) -> str | None:
    """Nearest .guardrun.yaml from ``cwd`` (absolute) upward. The walk ends at the
    repository root (the first directory holding ``.git``) or the user's home, whichever
    comes first, else at ``/``. A file owned by another user (not root) or writable by
    others is skipped, with a line in ``notes``: in a shared directory such as ``/tmp``
    anyone may have put it there."""
    home = os.path.abspath(os.path.expanduser("~"))
    directory = cwd
    while True:
        candidate = os.path.join(directory, PROJECT_FILE)
        if os.path.lexists(candidate):  # most directories have none: trust is imported for one
            from guardrun.config import trust

            why = trust.unsafe_link(candidate)  # a link another user planted: not followed
            try:
                st = os.stat(candidate)
            except (OSError, ValueError):
                st = None  # a dangling link: look further up
            if why is None and st is not None:
                # Not a regular file (a link to /dev/zero, a FIFO): read it, and the reader
                # refuses it with its own message.
                why = trust.unsafe_owner(st) if stat.S_ISREG(st.st_mode) else None
                if why is None:
                    return candidate
            if why is not None:
                notes.append(f"skipped {candidate}: {why}")
        parent = os.path.dirname(directory)
        if (
            parent == directory
            or directory == home
            or os.path.exists(os.path.join(directory, ".git"))
        ):
            return None
        directory = parent


def check_file(path: "Path", text: str) -> list[str]:
    """Every value of a config file parsed (ConfigError on any mistake); its keys."""
    from guardrun.config.yaml import parse_text

    shown = str(path)
    keys = []
    for dotted, raw, line in parse_text(text, shown):
        where = f"{shown}:{line}"
        _entry(BY_PATH[dotted], raw, path.parent, f"{where}: {dotted}", where, RANK_PROJECT)
        keys.append(dotted)
    return keys


def _display(path: "Path", cwd: "Path") -> str:
    """How a file is named in messages: relative under cwd, ~/... under home."""
    if path.is_relative_to(cwd):
        return str(path.relative_to(cwd))
    try:
        home = type(path).home()
    except (RuntimeError, KeyError):
        return str(path)
    return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def _env_entries(env: Mapping[str, str], cwd: str) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for name in sorted(env):
        if not name.startswith("GUARDRUN_") or name in NON_CONFIG_ENV:
            continue
        if name.startswith(NON_CONFIG_ENV_PREFIXES):
            continue
        key = BY_ENV.get(name)
        if key is None:
            _reject_env(name)
            continue
        if env[name] == "":  # an empty variable counts as unset, as shells tend to leave them
            continue
        out[key.path] = _entry(key, env[name], cwd, name, f"env {name}", RANK_ENV)
    return out


def _reject_env(name: str) -> None:
    """Raise for a variable that looks like a misspelt key; leave others alone."""
    import difflib

    rest = name[len("GUARDRUN_") :]
    known = [k.env[len("GUARDRUN_") :] for k in KEYS]
    close = difflib.get_close_matches(rest, known, n=1, cutoff=0.6)
    looks = any(rest == t.upper() or rest.startswith(t.upper() + "_") for t in TOP_LEVEL)
    if looks or difflib.get_close_matches(rest, known, n=1, cutoff=0.85):
        hint = f" (did you mean GUARDRUN_{close[0]}?)" if close else ""
        if rest.lower() in SECTIONS:
            first = next(k.env for k in KEYS if k.path.startswith(rest.lower() + "."))
            hint = f" (a section: set one key, e.g. {first})"
        raise ConfigError(f"{name}: not a guardrun setting{hint}")


def _flag_entries(flags: Mapping[str, tuple[object, str]], cwd: str) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for dotted, (raw, flag) in flags.items():
        if raw is None:
            continue
        key = BY_PATH.get(dotted)
        if key is None:
            raise ConfigError(f"{flag}: {dotted!r} is not a configuration key")
        out[dotted] = _entry(key, raw, cwd, flag, f"flag {flag}", RANK_FLAG)
    return out


# Keys whose values must rise in this order (compared only when of one kind: all
# percentages or all sizes, since a percent and a size cannot be compared without RAM).
_ASCENDING = (
    ("memory.warning", "memory.critical", "memory.emergency"),
    ("system.warning", "system.critical"),
    ("gpu.warning", "gpu.critical"),
)


def check_entries(entries: Mapping[str, Entry]) -> None:
    """Cross-key checks; the value from the higher source is the one blamed."""
    for chain in _ASCENDING:
        for i, low in enumerate(chain):
            for high in chain[i + 1 :]:
                a, b = entries[low].value, entries[high].value
                assert isinstance(a, Threshold) and isinstance(b, Threshold)
                if a.percent == b.percent and a.value >= b.value:
                    _blame(entries, low, high, "below", "above")
    cooldown, longest = entries["restart.cooldown"], entries["restart.max_cooldown"]
    if float(cooldown.value) > float(longest.value):  # type: ignore[arg-type]
        _blame(entries, "restart.cooldown", "restart.max_cooldown", "at most", "at least")


def _blame(entries: Mapping[str, Entry], low: str, high: str, below: str, above: str) -> None:
    lo, hi = entries[low], entries[high]
    if lo.rank > hi.rank:
        blamed, word, other_key, other = low, below, high, hi
    else:
        blamed, word, other_key, other = high, above, low, lo
    origin = "the default" if other.source == "default" else f"from {other.source}"
    mine = render_value(BY_PATH[blamed], entries[blamed].value)
    theirs = render_value(BY_PATH[other_key], other.value)
    raise ConfigError(
        f"{entries[blamed].where}: {mine} must be {word} {other_key} ({theirs}, {origin})"
    )


def _build(entries: Mapping[str, Entry], files: "list[Path]") -> Config:
    values = {path: e.value for path, e in entries.items()}
    sections: dict[str, Any] = {
        name: cls(*(values[f"{name}.{leaf}"] for leaf in cls._fields))
        for name, cls in SECTION_TYPES.items()
    }
    return Config(
        command=values["command"],  # type: ignore[arg-type]
        agent=str(values["agent"]),
        priority=int(values["priority"]),  # type: ignore[call-overload]
        sources={path: e.source for path, e in entries.items()},
        files=list(files),
        **sections,
    )
