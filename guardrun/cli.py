"""Command line: parse, dispatch, and the ONE place errors become messages and exit codes."""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING

from guardrun.errors import EXIT_INTERNAL, EXIT_USAGE, GuardrunError
from guardrun.flags import OWN_OPTIONS, fast_parse, flag_values

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

SUBCOMMANDS = ("state", "status", "restart", "capture", "config", "doctor", "report")
ISSUES_URL = "https://github.com/guardrun/guardrun/issues"


def run_parser() -> argparse.ArgumentParser:
    """argparse's parser of the run options (help, abbreviations, errors)."""
    from guardrun.runparser import run_parser as make

    return make()


_ran: list[bool] = []  # a run went through main (entry then skips the teardown)


def _run(ns: argparse.Namespace, command: list[str]) -> int:
    from guardrun.runner import run_command

    _ran.append(True)
    return run_command(ns, command, flag_values(ns))


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The run options and the command. The common case (full option names before the
    command) is read without building argparse's parser (docs/benchmarks.md); anything
    else (help, an abbreviation, a bad value) goes to argparse, which decides as always."""
    ns = fast_parse(argv, OWN_OPTIONS)
    return ns if ns is not None else run_parser().parse_args(list(argv))


def dispatch(argv: Sequence[str]) -> int:
    ns = parse(argv)
    command: list[str] = list(ns.command)
    explicit = bool(command) and command[0] == "--"
    if explicit:
        command = command[1:]
    if command and not explicit and command[0] in SUBCOMMANDS:
        gc.enable()
        from guardrun.commands import run_subcommand

        return run_subcommand(ns, command)
    return _run(ns, command)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    # The start allocates what guardrun keeps to the end (modules, the schema, the run's
    # parts): no collection finds garbage there, yet each costs (docs/benchmarks.md). The run
    # turns the collector back on once that is frozen (runner), a subcommand at once.
    collecting = gc.isenabled()
    gc.disable()
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
    finally:
        if collecting:
            gc.enable()


def entry() -> None:
    """The console script and ``python -m guardrun``: ``main``, then out.

    A run ends with nothing left to tear down: its files are closed and written (the
    writer drained, captures joined), the sentinel told, the terminal given back. So
    once stdout and stderr are flushed it leaves with ``os._exit``, without the
    interpreter's own teardown (every module and object freed, one by one: as long as
    the rest of a run's end, docs/benchmarks.md). A subcommand exits as usual: its
    objects may still have something to say on the way out.
    """
    code = main()
    if not _ran:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: started with that descriptor closed
                stream.flush()
        except (OSError, ValueError):  # as the interpreter exits when its flush fails
            code = code or 120
    os._exit(code)


_LONG_MESSAGE = 2000  # a message this long quotes something huge: shorten its long words
_LONG_WORD = 240


def _say(text: str) -> None:
    if len(text) > _LONG_MESSAGE:  # the last guard: a huge argument is never echoed whole
        import re

        from guardrun.units import SHOWN

        text = re.sub(
            rf"\S{{{_LONG_WORD},}}", lambda m: f"{m[0][:SHOWN]}… ({len(m[0])} characters)", text
        )
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


__all__ = ["main", "entry", "dispatch", "run_parser", "EXIT_USAGE"]
