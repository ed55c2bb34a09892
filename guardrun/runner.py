"""``guardrun [RUN OPTIONS] -- COMMAND``: settings from the configuration, then the Supervisor."""

from __future__ import annotations

import argparse
from typing import Any

from guardrun.errors import UsageError
from guardrun.supervisor.breaker import Policy
from guardrun.supervisor.settings import RunSettings
from guardrun.units import parse_duration, parse_threshold


def _value(flags: dict[str, tuple[object, str]], key: str, parse: Any, default: Any) -> Any:
    if key not in flags:
        return default
    raw, flag = flags[key]
    try:
        return parse(raw)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from None


def _count(raw: object) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{raw!r} must be 0 or more")
    return value


def settings_from_flags(
    flags: dict[str, tuple[object, str]], command: list[str], ns: argparse.Namespace
) -> RunSettings:
    d = RunSettings(argv=command)
    p = Policy()
    interval = _value(flags, "memory.interval", parse_duration, d.interval)
    if interval <= 0:
        raise UsageError("--interval: must be more than 0")
    policy = Policy(
        max_attempts=_value(flags, "restart.max_attempts", _count, p.max_attempts),
        window=_value(flags, "restart.window", parse_duration, p.window),
        cooldown=_value(flags, "restart.cooldown", parse_duration, p.cooldown),
        max_cooldown=p.max_cooldown,
        reset_after=p.reset_after,
    )
    return RunSettings(
        argv=command,
        warning=_value(flags, "memory.warning", parse_threshold, d.warning),
        critical=_value(flags, "memory.critical", parse_threshold, d.critical),
        emergency=_value(flags, "memory.emergency", parse_threshold, d.emergency),
        metric=_value(flags, "memory.metric", str, d.metric),
        probe=_value(flags, "memory.probe", str, d.probe),
        interval=interval,
        grace=_value(flags, "restart.grace", parse_duration, d.grace),
        restart=_value(flags, "restart.enabled", bool, d.restart),
        resume=_value(flags, "restart.resume", bool, d.resume),
        on_exhausted=_value(flags, "restart.on_exhausted", str, d.on_exhausted),
        policy=policy,
        pty=False if ns.no_pty else None,
        force=ns.force,
    )


def run_command(
    ns: argparse.Namespace, command: list[str], flags: dict[str, tuple[object, str]]
) -> int:
    from guardrun.supervisor.run import Supervisor
    from guardrun.ui import Reporter

    if not command:
        raise UsageError("no command given (usage: guardrun [RUN OPTIONS] -- COMMAND [ARG...])")
    settings = settings_from_flags(flags, command, ns)
    reporter = Reporter(quiet=ns.quiet, verbose=ns.verbose, log_file=ns.log_file)
    try:
        return Supervisor(settings, reporter).run()
    finally:
        reporter.close()
