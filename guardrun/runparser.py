"""argparse's parser of the run options: for ``--help``, abbreviations and the errors
it words well. The common command line is read by ``flags.fast_parse`` without it."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from guardrun import __version__
from guardrun.errors import UsageError
from guardrun.flags import OWN_OPTIONS, add_key_options

if TYPE_CHECKING:
    from typing import Any

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
    for names, metavar, text in OWN_OPTIONS:
        if metavar:
            o.add_argument(*names, metavar=metavar, help=text)
        else:
            o.add_argument(*names, action="store_true", help=text)
    o.add_argument("--version", action="version", version=f"guardrun {__version__}")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p
