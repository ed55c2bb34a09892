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
    sub = parser.add_subparsers(dest="config_cmd", metavar="{show,check,init}")
    show = sub.add_parser("show", help="print the effective configuration")
    show.add_argument("--sources", action="store_true", help="say where each value came from")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    check = sub.add_parser("check", help="validate the configuration (exit 0 or 2)")
    check.add_argument(
        "config_file", nargs="?", metavar="FILE", help=f"a file to check as the {PROJECT_FILE}"
    )
    sub.add_parser("init", help=f"write a commented {PROJECT_FILE} here for the agent on PATH")


def run_config(args: argparse.Namespace, cfg_loader: ConfigLoader) -> int:
    """Run one `config` subcommand; errors propagate as ConfigError/UsageError (exit 2)."""
    cmd = getattr(args, "config_cmd", None) or "show"
    if cmd == "init":
        path = write_init(Path.cwd(), detect_agent())
        sys.stdout.write(f"wrote {path.name}\n")
        return 0
    if cmd == "check":
        given = getattr(args, "config_file", None)
        cfg = cfg_loader(Path(given) if given else None)
        read = ", ".join(str(f) for f in cfg.files) or "no config files, defaults"
        sys.stdout.write(f"ok: {read}\n")
        return 0
    cfg = cfg_loader(None)
    if getattr(args, "json", False):
        plain: object = to_plain(cfg)
        if getattr(args, "sources", False):
            files = [str(f) for f in cfg.files]
            plain = {"config": plain, "sources": cfg.sources, "files": files}
        sys.stdout.write(json.dumps(plain, indent=2) + "\n")
    else:
        sys.stdout.write(render_yaml(cfg, sources=getattr(args, "sources", False)))
    return 0


def render_yaml(cfg: Config, *, sources: bool = False) -> str:
    """The effective configuration as a loadable YAML file, optionally with sources."""
    from guardrun.config.yaml import flow

    plain = to_plain(cfg)
    rows: list[tuple[str, str]] = []  # (line, source comment)
    for key in KEYS:
        section, _, leaf = key.path.rpartition(".")
        if section and (not rows or not any(r[0] == f"{section}:" for r in rows)):
            rows.append((f"{section}:", ""))
        holder = plain[section] if section else plain
        assert isinstance(holder, dict)
        indent = "  " if section else ""
        rows.append((f"{indent}{leaf}: {flow(holder[leaf])}", cfg.sources.get(key.path, "")))
    header = "# guardrun effective configuration\n"
    if cfg.files:
        header += "# files: " + ", ".join(str(f) for f in cfg.files) + "\n"
    width = max(len(line) for line, _ in rows) + 2
    lines = [f"{line:<{width}}# {src}" if sources and src else line for line, src in rows]
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
