"""Command line: parse, dispatch, and the ONE place errors become messages and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from guardrun import __version__
from guardrun.errors import EXIT_INTERNAL, EXIT_USAGE, GuardrunError, UsageError
from guardrun.flags import add_key_options, flag_values

SUBCOMMANDS = ("state", "status", "restart", "capture", "config", "doctor")
ISSUES_URL = "https://github.com/guardrun/guardrun/issues"

EPILOG = """\
examples:
  guardrun -- claude                         run Claude Code under the default guard
  guardrun --critical 12GB -- claude --model opus
  guardrun --warning 40% --critical 60% -- codex
  guardrun --no-pty -- python train.py       no terminal relay (logs, CI)
  guardrun state list                        saved states of this project
  guardrun state resume                      back into the last saved conversation

sizes: 800MB, 12GiB, 1.5G, or N% of the memory available to the tree (the cgroup
limit when one is set, else physical RAM); durations: 250ms, 2s, 5m, 1h.
exit codes: the command's own; 128+N when it died of signal N; 2 usage or
configuration error; 126/127 command not executable/not found; 75 stopped at
emergency after restarts were exhausted (state saved); 70 internal error.
"""

class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() reports it."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A fixed width: argparse otherwise asks shutil for the terminal size at every
    # add_argument (and imports shutil), measurable in every start-up.
    try:
        width = os.get_terminal_size(2).columns - 2
    except OSError:
        width = 78
    return argparse.RawDescriptionHelpFormatter(prog, width=max(width, 40))


def run_parser() -> _Parser:
    p = _Parser(
        prog="guardrun",
        usage="guardrun [RUN OPTIONS] [--] COMMAND [ARG...]\n"
        "       guardrun {state,status,restart,capture,config,doctor} ...",
        description="Run COMMAND (an AI coding agent) under a memory guard: its terminal "
        "passes through unchanged, its whole process tree is watched, and when memory "
        "runs away it is restarted into the same conversation.",
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    o = add_key_options(p)
    o.add_argument("--config", metavar="PATH", help="use this file instead of .guardrun.yaml")
    o.add_argument("--no-config", action="store_true", help="ignore config files")
    o.add_argument("--no-pty", action="store_true", help="inherit stdio, no terminal relay")
    o.add_argument("--force", action="store_true", help="start even if the machine is short")
    o.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    o.add_argument("-v", "--verbose", action="store_true", help="say more, mirror events")
    o.add_argument("--log-file", metavar="PATH", help="append guardrun's own log here")
    o.add_argument("--version", action="version", version=f"guardrun {__version__}")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def _run(ns: argparse.Namespace, command: list[str]) -> int:
    from guardrun.runner import run_command

    return run_command(ns, command, flag_values(ns))


def dispatch(argv: Sequence[str]) -> int:
    ns = run_parser().parse_args(list(argv))
    command: list[str] = list(ns.command)
    explicit = bool(command) and command[0] == "--"
    if explicit:
        command = command[1:]
    if command and not explicit and command[0] in SUBCOMMANDS:
        from guardrun.commands import run_subcommand

        return run_subcommand(ns, command)
    return _run(ns, command)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return dispatch(args)
    except GuardrunError as err:
        _say(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except Exception as err:  # a bug: one line, the traceback in a file
        path = _save_traceback()
        _say(
            f"internal error: {type(err).__name__}: {err} (this is a bug: please report it at "
            f"{ISSUES_URL}{' with ' + path if path else ''})"
        )
        return EXIT_INTERNAL


def _say(text: str) -> None:
    try:
        sys.stderr.write(f"guardrun: {text}\n")
        sys.stderr.flush()
    except OSError:
        pass


def _save_traceback() -> str | None:
    import tempfile
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="guardrun-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        return path
    except OSError:
        return None


__all__ = ["main", "dispatch", "run_parser", "EXIT_USAGE"]
