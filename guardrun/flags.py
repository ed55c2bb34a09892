"""The run options that set configuration keys, generated from the schema.

Each key that has a ``flag`` in ``config.schema.KEYS`` becomes one option: its
metavar, its choices (enums without a metavar), its help (the key's description and
its default) and its group (the key's section) all come from the key, so a setting
is declared once for files, environment variables, flags and docs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from guardrun.config.schema import KEYS, Key

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from types import SimpleNamespace
    from typing import Any
else:
    SimpleNamespace = type(sys.implementation)  # as the types module defines it, unimported

# The run options that are not configuration keys: (names, metavar or "" for a switch, help).
OWN_OPTIONS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("--config",), "PATH", "use this file instead of .guardrun.yaml"),
    (("--no-config",), "", "ignore config files"),
    (("--no-pty",), "", "inherit stdio, no terminal relay"),
    (("--force",), "", "start even if the machine is short"),
    (("-q", "--quiet"), "", "print errors only"),
    (("-v", "--verbose"), "", "say more, mirror events"),
    (("--log-file",), "PATH", "append guardrun's own log here"),
)

GROUPS = {"memory": "memory", "restart": "restarts"}


def _help(key: Key) -> str:
    doc = key.doc.rstrip(".")
    if key.switch is not None:
        return f"turn off: {doc[:1].lower()}{doc[1:]} ({key.path}: {str(key.switch).lower()})"
    default = key.default if not isinstance(key.default, list) else "none"
    return f"{doc} (default {default})".replace("%", "%%")


def add_key_options(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add every key's option to ``p``; returns the "other" group, for options of the
    command line alone (--config, --no-pty, -v, ...)."""
    groups = {name: p.add_argument_group(name) for name in (*GROUPS.values(), "other")}
    for key in KEYS:
        if not key.flag:
            continue
        group = groups[GROUPS.get(key.path.split(".")[0], "other")]
        if key.switch is not None:
            group.add_argument(key.flag, action="store_true", help=_help(key))
        elif key.kind == "enum" and not key.metavar:
            group.add_argument(key.flag, choices=key.choices, help=_help(key))
        else:
            group.add_argument(key.flag, metavar=key.metavar or "VALUE", help=_help(key))
    return groups["other"]


def _dest(key: Key) -> str:
    return key.flag.lstrip("-").replace("-", "_")


def _spec(
    own: tuple[tuple[tuple[str, ...], str, str], ...],
) -> tuple[dict[str, tuple[str, bool, tuple[str, ...]]], dict[str, object]]:
    """{option name: (dest, takes a value, choices)} and every dest's default."""
    spec: dict[str, tuple[str, bool, tuple[str, ...]]] = {}
    defaults: dict[str, object] = {}
    for key in KEYS:
        if key.flag:
            dest, switch = _dest(key), key.switch is not None
            choices = key.choices if key.kind == "enum" and not key.metavar else ()
            spec[key.flag] = (dest, not switch, choices)
            defaults[dest] = False if switch else None
    for names, metavar, _ in own:
        dest = names[-1].lstrip("-").replace("-", "_")
        for name in names:
            spec[name] = (dest, bool(metavar), ())
        defaults[dest] = None if metavar else False
    return spec, defaults


def fast_parse(
    argv: Sequence[str], own: tuple[tuple[tuple[str, ...], str, str], ...]
) -> argparse.Namespace | None:
    """What argparse would make of ``argv``, for the common case only: known option names
    in full (``--opt value``, ``--opt=value``, switches) before the command, which starts
    at ``--`` or the first word that is not an option. None for anything else (``-h``,
    ``--version``, abbreviations, ``-qv``, a value that looks like an option, a choice
    not allowed): argparse then parses, and helps or errs, as it always did."""
    spec, values = _spec(own)
    command: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            command = list(argv[i:])
            break
        name, eq, value = arg.partition("=")
        found = spec.get(name)
        if found is None:
            return None
        dest, takes_value, choices = found
        if not takes_value:
            if eq:
                return None
            values[dest] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None
            i += 1
            value = argv[i]
        if choices and value not in choices:
            return None
        values[dest] = value
        i += 1
    ns: Any = SimpleNamespace(**values, command=command)  # reads as argparse's Namespace
    return ns  # type: ignore[no-any-return]


def flag_values(ns: argparse.Namespace) -> dict[str, tuple[object, str]]:
    """The keys the command line set: {dotted key: (value, flag)}, for the loader."""
    out: dict[str, tuple[object, str]] = {}
    for key in KEYS:
        if not key.flag:
            continue
        value = getattr(ns, _dest(key), None)
        if key.switch is not None:
            if value:
                out[key.path] = (key.switch, key.flag)
        elif value is not None:
            out[key.path] = (value, key.flag)
    return out
