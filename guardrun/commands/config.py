"""``guardrun config show | check | init``: effective configuration, validation, a starter file."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.config.load import PROJECT_FILE, Config
from guardrun.config.schema import KEYS, SECTIONS
from guardrun.config.values import to_plain
from guardrun.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    ConfigLoader = Callable[[Path | None], Config]

# Tried in this order by `config init`; the first found on PATH is the project's agent.
INIT_AGENTS = ("claude", "codex", "gemini", "aider")

# cfg_loader(path): the effective Config, with ``path`` (when given) replacing the
# project file as --config does; the CLI closes over cwd, environment and flags.


def add_config_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config", help="show, check or create configuration", description=__doc__
    )
    sub = parser.add_subparsers(dest="config_cmd", metavar="{show,check,init,trust,untrust}")
    show = sub.add_parser("show", help="print the effective configuration")
    show.add_argument("--sources", action="store_true", help="say where each value came from")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    check = sub.add_parser("check", help="validate the configuration (exit 0 or 2)")
    check.add_argument(
        "config_file", nargs="?", metavar="FILE", help=f"a file to check as the {PROJECT_FILE}"
    )
    sub.add_parser("init", help=f"write a commented {PROJECT_FILE} here for the agent on PATH")
    for name, what in (("trust", "trust"), ("untrust", "stop trusting")):
        cmd = sub.add_parser(
            name,
            help=f"{what} a project file's exact content (hooks, command, argv, paths...)",
        )
        cmd.add_argument(
            "trust_path", nargs="?", metavar="PATH", help=f"default: the {PROJECT_FILE} found here"
        )


def run_config(args: argparse.Namespace, cfg_loader: ConfigLoader) -> int:
    """Run one `config` subcommand; errors propagate as ConfigError/UsageError (exit 2)."""
    cmd = getattr(args, "config_cmd", None) or "show"
    if cmd in ("trust", "untrust"):
        return run_trust(cmd, getattr(args, "trust_path", None), Path.cwd())
    if cmd == "init":
        path = write_init(Path.cwd(), detect_agent())
        # The user made this file, with guardrun's own text: theirs, trusted as written.
        # Edited later (or replaced by a pull), it is untrusted again.
        from guardrun.config import trust

        trust.trust(trust.record_key(os.fspath(path)), trust.digest(path.read_text("utf-8")))
        sys.stdout.write(f"wrote {path.name}\n")
        return 0
    if cmd == "check":
        given = getattr(args, "config_file", None)
        cfg = cfg_loader(Path(given) if given else None)
        read = ", ".join(str(f) for f in cfg.files) or "no config files, defaults"
        sys.stdout.write(f"ok: {read}\n")
        from guardrun.config.trust import held_notice

        notice = held_notice(cfg.held, cfg.trusted)
        for line in [*cfg.notes, *([notice] if notice else [])]:
            sys.stdout.write(f"note: {line}\n")
        return 0
    cfg = cfg_loader(None)
    if getattr(args, "json", False):
        plain: object = to_plain(cfg)
        if getattr(args, "sources", False):
            files = [str(f) for f in cfg.files]
            plain = {
                "config": plain, "sources": cfg.sources, "files": files,
                "trust": cfg.trusted, "held": [h._asdict() for h in cfg.held],
                "classes": {k.path: k.trust for k in KEYS},
            }  # fmt: skip
        sys.stdout.write(json.dumps(plain, indent=2) + "\n")
    else:
        sys.stdout.write(render_yaml(cfg, sources=getattr(args, "sources", False)))
    return 0


def render_yaml(cfg: Config, *, sources: bool = False) -> str:
    """The effective configuration as a loadable YAML file, optionally with sources."""
    from guardrun.config.schema import TRUST_WHY
    from guardrun.config.trust import trust_command
    from guardrun.config.yaml import flow

    plain = to_plain(cfg)
    held = {h.key: h for h in cfg.held}
    rows: list[tuple[str, str]] = []  # (line, comment)
    for key in KEYS:
        section, _, leaf = key.path.rpartition(".")
        if section and (not rows or not any(r[0] == f"{section}:" for r in rows)):
            rows.append((f"{section}:", ""))
        holder = plain[section] if section else plain
        assert isinstance(holder, dict)
        indent = "  " if section else ""
        notes = [cfg.sources.get(key.path, "")] if sources else []
        # Every key's class for a project file; "safe" keys say nothing.
        if key.trust == "floor":
            notes.append("project: floor (looser than the default needs trust)")
        elif key.trust != "safe":
            notes.append(f"project: needs trust ({TRUST_WHY[key.trust]})")
        if key.path in held:
            notes.append(f"HELD BACK: {held[key.path].where} ({held[key.path].why})")
        rows.append((f"{indent}{leaf}: {flow(holder[leaf])}", "; ".join(n for n in notes if n)))
    header = "# guardrun effective configuration\n"
    if cfg.files:
        header += "# files: " + ", ".join(str(f) for f in cfg.files) + "\n"
    if cfg.trusted:
        header += (
            "# a key noted 'project: needs trust' applies from a found .guardrun.yaml only "
            "once it is trusted; keys without a note are safe\n"
        )
    for path, how in cfg.trusted.items():
        header += f"# project file {path}: {how}\n"
        if how == "not trusted":
            count = len(cfg.held)
            header += (
                f"# {count} of its keys held back (the user's values apply); "
                f"review it, then: {trust_command(path)}\n"
                if count
                else "# it sets only safe keys: all of them apply\n"
            )
    for note in cfg.notes:
        header += f"# {note}\n"
    width = max(len(line) for line, _ in rows) + 2
    lines = [f"{line:<{width}}# {note}" if note else line for line, note in rows]
    return header + "\n".join(lines) + "\n"


def detect_agent(path: str | None = None) -> str:
    """The first of claude, codex, gemini, aider found on PATH, else generic."""
    for name in INIT_AGENTS:
        if shutil.which(name, path=path):
            return name
    return "generic"


def init_text(agent: str) -> str:
    """A commented project file: the command set, every other key at its default."""
    from guardrun.config.yaml import flow

    lines = [
        "# guardrun project configuration; every key is described in guardrun's",
        "# docs/configuration.md. Commented values are the defaults: uncomment to change.",
        "# Check it with: guardrun config check",
    ]
    if agent == "generic":
        lines += ["# command: [./your-program, --flag]", "agent: generic"]
    else:
        lines += [f"command: [{agent}]", f"agent: {agent}"]
    for section in SECTIONS:
        lines.append(f"{section}:")
        for key in KEYS:
            if key.path.startswith(section + "."):
                leaf = key.path.rpartition(".")[2]
                lines.append(f"  # {leaf}: {flow(key.default)}  # {key.doc}")
    return "\n".join(lines) + "\n"


def write_init(directory: Path, agent: str) -> Path:
    """Create ``directory/.guardrun.yaml``; never overwrite an existing one."""
    path = directory / PROJECT_FILE
    # 0644, not 0600: the file is meant to be committed and read by a team, and holds no
    # secrets. O_EXCL makes the refusal to overwrite race-free.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"{path}: already exists; not overwriting it") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot create: {err.strerror}") from err
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(init_text(agent))
    return path


def run_trust(cmd: str, given: str | None, cwd: Path) -> int:
    """``config trust [PATH]`` / ``config untrust [PATH]``: record or forget the sha256 of
    a project file's content (default: the one a run here would read)."""
    from guardrun.config import trust
    from guardrun.config.load import discover

    if given is not None:
        path = os.path.join(cwd, os.path.expanduser(given))
        if os.path.isdir(path):
            path = os.path.join(path, PROJECT_FILE)
    else:
        notes: list[str] = []
        found = discover(os.fspath(cwd), notes)
        if found is None:
            for note in notes:
                sys.stderr.write(f"guardrun: {note}\n")
            raise UsageError(
                f"config {cmd}: no {PROJECT_FILE} here or above (up to the repository root "
                "or your home); name one: guardrun config trust PATH"
            )
        path = found
    path = trust.record_key(path)
    if cmd == "untrust":
        if trust.untrust(path):
            sys.stdout.write(f"no longer trusted: {path}\n")
        else:
            sys.stdout.write(f"was not trusted: {path}\n")
        return 0
    return _trust(path)


def _trust(path: str) -> int:
    from guardrun.config import trust
    from guardrun.config.load import check_file
    from guardrun.config.schema import BY_PATH, TRUST_WHY
    from guardrun.config.yaml import read_text
    from guardrun.errors import Refused

    try:
        st = os.stat(path)
    except OSError as err:
        raise UsageError(f"{path}: cannot trust: {err.strerror or err}") from None
    why = trust.unsafe_owner(st)
    if why is not None:
        raise Refused(f"{path}: not trusting a file {why}")
    text = read_text(Path(path), path)
    keys = check_file(Path(path), text)  # a file that does not load is not trusted
    sha = trust.digest(text)
    trust.trust(path, sha)
    risky = [k for k in keys if BY_PATH[k].trust != "safe"]
    what = (
        "; it sets " + ", ".join(
            f"{k} ({TRUST_WHY[BY_PATH[k].trust]})" if BY_PATH[k].trust != "floor" else k
            for k in risky
        ) + ", which now apply"
        if risky
        else "; it sets only safe keys"
    )  # fmt: skip
    sys.stdout.write(
        f"trusted {path} (sha256 {sha[:12]}){what}. A change to the file needs trusting again.\n"
    )
    return 0
