"""The subcommands: state, status, restart, capture, config, doctor, report.

Each has its own module (state, live, config, doctor, report); this one builds
their parsers and hands them the configuration they need (the state directory,
above all), loaded with the run options given before the subcommand
(``guardrun --state-dir X state list``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from guardrun.errors import UsageError

if TYPE_CHECKING:
    from typing import Any


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message}")


def sub_parser() -> argparse.ArgumentParser:
    from guardrun.commands.config import add_config_parser
    from guardrun.commands.live import add_live_parsers
    from guardrun.commands.report import add_report_parser
    from guardrun.commands.state import add_state_parser

    p = _Parser(prog="guardrun")
    sub: Any = p.add_subparsers(dest="subcommand", required=True, parser_class=_Parser)
    add_state_parser(sub)
    add_live_parsers(sub)
    add_config_parser(sub)
    add_report_parser(sub)
    doctor = sub.add_parser("doctor", help="what this machine supports")
    doctor.add_argument("--json", action="store_true", help="print JSON")
    return p


def run_subcommand(ns: argparse.Namespace, words: list[str]) -> int:
    from guardrun.flags import flag_values
    from guardrun.runner import load, state_dir

    args = sub_parser().parse_args(words)
    flags = flag_values(ns)
    cwd = Path.cwd()
    if args.subcommand == "config":
        from guardrun.commands.config import run_config

        return run_config(args, lambda path: load(ns, flags, path))
    cfg = load(ns, flags)
    directory = Path(state_dir(cfg))  # the commands work with Paths
    if args.subcommand == "state":
        from guardrun.commands.state import run_state

        return run_state(args, directory, cwd, keep=cfg.state.keep, max_age=cfg.state.max_age)
    if args.subcommand in ("status", "restart", "capture"):
        from guardrun.commands.live import run_live

        return run_live(args, directory, cwd)
    if args.subcommand == "report":
        from guardrun.commands.report import run_report

        return run_report(args, directory, cwd)
    if args.subcommand == "doctor":
        from guardrun.commands.doctor import run_doctor

        explicit = directory if cfg.state.dir is not None else None
        return run_doctor(args.json, explicit, cwd)
    raise UsageError(f"unknown subcommand {words[0]!r}")  # pragma: no cover
