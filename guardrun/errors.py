"""The error hierarchy. Each error carries the exit code the CLI returns for it.

Library code raises these (translating OS errors at the boundary with
``raise ... from err``); only ``guardrun.cli`` turns them into a message and an
exit code. Exit codes are the README's table and, where it is silent, sysexits.h.
"""

from __future__ import annotations

EXIT_REFUSED = 1  # guardrun would not do what was asked, and says why
EXIT_USAGE = 2
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127
EXIT_EMERGENCY_STOP = 75
EXIT_INTERNAL = 70
EXIT_NO_STATE = 66  # EX_NOINPUT: a state that does not exist or cannot be read
EXIT_CANT_WRITE = 73  # EX_CANTCREAT: a state or log directory that cannot be written


class GuardrunError(Exception):
    """Base class: a failure that is reported as one line, never a traceback."""

    exit_code = EXIT_INTERNAL


class UsageError(GuardrunError):
    """A bad flag, argument or id on the command line."""

    exit_code = EXIT_USAGE


class Refused(GuardrunError):
    """guardrun will not do what was asked, and says why (exit 1): a forged live file, an
    untrusted file it will not trust."""

    exit_code = EXIT_REFUSED


class ConfigError(UsageError):
    """A bad configuration file, key, value or environment variable."""


class CommandNotFound(GuardrunError):
    exit_code = EXIT_NOT_FOUND


class CommandNotExecutable(GuardrunError):
    exit_code = EXIT_NOT_EXECUTABLE


class ProbeError(GuardrunError):
    """A memory probe could not read the tree (the supervisor falls back)."""


class StateNotFound(GuardrunError):
    exit_code = EXIT_NO_STATE


class StateCorrupt(GuardrunError):
    exit_code = EXIT_NO_STATE


class StoreError(GuardrunError):
    """The state directory (or a file in it) cannot be written."""

    exit_code = EXIT_CANT_WRITE
