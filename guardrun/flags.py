"""The run options that set configuration keys, generated from the schema.

Each key that has a ``flag`` in ``config.schema.KEYS`` becomes one option: its
metavar, its choices (enums without a metavar), its help (the key's description and
its default) and its group (the key's section) all come from the key, so a setting
is declared once for files, environment variables, flags and docs.
"""

from __future__ import annotations

import argparse

from guardrun.config.schema import KEYS, Key

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
